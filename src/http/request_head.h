// The REST front's checks of a request head, made after Beast has parsed it and before
// anything else looks at it. Beast already refuses what HTTP/1.1's grammar forbids (bad
// chunk sizes, two different Content-Lengths, CR or NUL in a value, ...); these checks
// refuse what the grammar allows but a gateway in front of paid keys must not pass on:
//
//   - framing a relay could read differently from the upstream (request smuggling):
//     any Transfer-Encoding but plain "chunked";
//   - a missing or repeated Host in HTTP/1.1;
//   - targets that are not a path: authority-form (CONNECT), asterisk-form, fragments,
//     bytes outside printable ASCII;
//   - dot segments ("..", "."), as sent or in any form a server may read them in
//     (route/dot_segments.h: percent-decoded, '\' as '/', ';' parameters cut), which an
//     upstream that normalises paths would resolve outside the base URL the operator
//     configured.
//
// An absolute-form target (http://host/v1/models) is accepted, as RFC 9112 requires of
// servers, and rewritten to its path: the authority in it is ignored, since the
// upstream is fixed by configuration.
//
//   if (std::optional<call::CallError> error = CheckRequestHead(parser.head())) reply(*error);
#pragma once

#include <optional>

#include "call/errors.h"
#include "net/http1_parser.h"

namespace oa::http {

// Nullopt if the request may go on (its target possibly rewritten to origin-form); else
// the error to answer, after which the connection is closed.
std::optional<call::CallError> CheckRequestHead(net::MessageHead& head);

}  // namespace oa::http
