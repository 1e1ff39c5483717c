// Text for JSON documents written by hand (the gateway's own errors, transcoded bodies).
#pragma once

#include <string>
#include <string_view>

namespace oa {

// JSON string contents for `s` (no quotes): escapes quotes, backslashes and control
// bytes; bytes that are not well-formed UTF-8 become U+FFFD.
std::string JsonEscape(std::string_view s);

}  // namespace oa
