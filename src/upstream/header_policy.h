// Which headers cross the gateway. End-to-end headers pass unchanged in both directions
// (DESIGN.md, invariant 2); hop-by-hop headers (RFC 9110 section 7.6.1), and any header a
// Connection header names, belong to one connection and are dropped. The gateway sets
// Host, framing and keep-alive itself.
#pragma once

#include <string_view>

#include "absl/functional/function_ref.h"
#include "net/http1_parser.h"

namespace oa::upstream {

// True for headers that never cross the gateway in either direction.
bool IsHopByHop(std::string_view name);

// True when `head` has no Transfer-Encoding, or exactly "chunked": the only framing the
// relay reads and writes again. Any other coding (gzip before chunked, say) would reach
// the other side decoded of its chunks but still gzip, with nothing saying so, since
// Transfer-Encoding is hop-by-hop: such a message is refused, never relabelled.
bool ChunkedAtMost(const net::MessageHead& head);

// Calls `visit(name, value)` for each end-to-end field of `from`, in order: all but
// hop-by-hop ones, those named by `from`'s Connection header, Host, and framing
// (Content-Length), which the relay re-creates from the parser's view of the body.
void ForEachEndToEnd(const net::MessageHead& from,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit);

}  // namespace oa::upstream
