// Which headers cross the gateway. End-to-end headers pass unchanged in both directions
// (DESIGN.md, invariant 2); hop-by-hop headers (RFC 9110 section 7.6.1), and any header a
// Connection header names, belong to one connection and are dropped. The gateway sets
// Host, framing and keep-alive itself.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace oa::upstream {

// True for headers that never cross the gateway in either direction.
bool IsHopByHop(std::string_view name);

// Calls `visit(name, value)` for each end-to-end header of `from`, in order: all but
// hop-by-hop ones, those named by `from`'s Connection header, Host, and framing
// (Content-Length), which the relay re-creates from the parser's view of the body.
void ForEachEndToEnd(const boost::beast::http::fields& from,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit);

// The value of the first `name` header in `fields` (empty if there is none), and how many
// there are. A scan of the few fields a message has, by Beast's code for the name, costs
// less than basic_fields' own lookup, a case-insensitive search by the name's text.
std::string_view FieldValue(const boost::beast::http::fields& fields,
                            boost::beast::http::field name);
size_t FieldCount(const boost::beast::http::fields& fields, boost::beast::http::field name);
// The same for any name, Beast's or not ("x-request-id"), compared ignoring case.
std::string_view FieldValue(const boost::beast::http::fields& fields, std::string_view name);

}  // namespace oa::upstream
