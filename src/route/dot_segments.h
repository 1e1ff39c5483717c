// Whether a request path could reach the upstream as another path than the one it names.
//
// "." and ".." segments move a path when a server resolves them (RFC 3986, section
// 5.2.4): "/openai/v1/../admin" is "/openai/admin", outside the base URL the operator
// configured. Servers differ in what they resolve, and so the check takes every reading
// a common server makes, not only RFC 3986's:
//   - the path as sent ("/v1/../admin");
//   - percent-decoded, once or more ("/v1/%2e%2e/admin", "/v1/..%2fadmin",
//     "/v1/%252e%252e%252fadmin"): Node's URL parser and many frameworks decode before
//     they resolve, some twice;
//   - '\' read as '/' ("/v1/..\admin", "/v1/..%5cadmin"), as Windows servers and WHATWG
//     URL parsers do;
//   - ';' starting parameters that are not part of the segment ("/v1/..;/admin"), as
//     Java servlet containers do, and trailing spaces, which Windows servers drop;
//   - decoded, the path ending at a decoded '?' or '#' ("/v1/..%3f/admin"), as a server
//     that decodes before it parses reads it, and the look-alikes of '.', '/' and ''
//     that Unicode folding turns into them (fullwidth "．．").
// A decoded control character (NUL ends paths in C; URL parsers strip tabs and line
// ends: ".%09.") or an overlong UTF-8 lead byte ("%c0%ae") counts too: no path needs
// one. An encoded slash that makes no dot segment ("/v1/models/org%2Fmodel") is an
// ordinary path, and passes.
//
//   if (route::LeavesItsPrefix(path)) refuse();
#pragma once

#include <string_view>

namespace oa::route {

// True when some reading of `path` (the target's path, before any '?') holds a "." or
// ".." segment, a control character or an overlong UTF-8 byte. Linear in the path's
// size.
bool LeavesItsPrefix(std::string_view path);

}  // namespace oa::route
