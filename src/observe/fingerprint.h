// A short, one-way name for a caller's key, safe to put in logs: the first 8 hex digits
// of SHA-256 over the credential. It identifies a key across lines without revealing it.
#pragma once

#include <string>
#include <string_view>

namespace oa::observe {

// `authorization` is the whole header value ("Bearer sk-..."); the scheme is ignored.
// Returns "-" for an empty value.
std::string KeyFingerprint(std::string_view authorization);

}  // namespace oa::observe
