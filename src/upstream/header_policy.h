// Which headers cross the gateway. End-to-end headers pass unchanged in both directions
// (DESIGN.md, invariant 2); hop-by-hop headers (RFC 9110 section 7.6.1), and any header a
// Connection header names, belong to one connection and are dropped. The gateway sets
// Host, framing and keep-alive itself.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace oa::upstream {

// True for headers that never cross the gateway in either direction.
bool IsHopByHop(std::string_view name);

// Copies the end-to-end headers of `from` into `to`, skipping hop-by-hop ones, those
// named by `from`'s Connection header, Host, and framing (Content-Length), which the
// relay re-creates from the parser's view of the body.
void CopyEndToEnd(const boost::beast::http::fields& from, boost::beast::http::fields& to);

}  // namespace oa::upstream
