// Every error a call can end with, in both of its shapes: the one table from a verdict,
// an absl::Status, a failed exchange or an upstream's error answer to OpenAI's error JSON
// (REST) and to a gRPC status (DESIGN.md, invariant 4). A REST caller gets an upstream's
// error answer as it came; a gRPC caller gets UpstreamAnswer().
//
//   REST: status http_status, Content-Type application/json, body ToJson(),
//         Retry-After: retry_after_seconds when > 0
//   gRPC: status (grpc_code, message), trailing metadata retry-after when > 0
//
// OpenAI's error JSON: {"error":{"message":"...","type":"...","param":null,"code":"..."}}.
// A message says what went wrong and what to do; it never contains a caller's key, nor a
// request's query string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "limits/admission.h"
#include "upstream/forwarder.h"

namespace oa::call {

struct CallError {
  int http_status = 500;
  absl::StatusCode grpc_code = absl::StatusCode::kInternal;
  std::string type;                 // "invalid_request_error", "server_error", ...
  std::string code;                 // machine-readable; empty prints as null
  std::string message;              // for a person
  int64_t retry_after_seconds = 0;  // > 0: when the caller may try again

  std::string ToJson() const;
};

// --- The request, before anything goes upstream.

CallError MissingKey();
// A path outside /v1/ (the gateway's own paths aside).
CallError UnknownUrl(std::string_view method, std::string_view target);
// A path under /v1/ that no route matches, with --reject-unmodelled.
CallError UnmodelledUrl(std::string_view method, std::string_view target);
// A gRPC method that proto/ does not have.
CallError UnknownMethod(std::string_view method);
// A request target that is not a plain path (http/request_head.h says which).
CallError BadTarget(std::string_view why);
// A Transfer-Encoding other than "chunked" alone: 501 when chunked comes last (so a
// coding before it is one the gateway does not implement), else 400 (RFC 9112).
CallError UnsupportedTransferEncoding(bool not_implemented);
CallError RequestLineTooLong(uint64_t limit);
CallError HeadersTooLarge(uint64_t limit);
CallError BodyTooLarge(uint64_t limit);
// A request the gateway could not read (bad framing, a malformed message).
CallError BadRequest(std::string_view why);
// A body on a call that has none (a GET, or a route of proto/ without a body).
CallError UnexpectedBody(std::string_view method, std::string_view target);
// A WebSocket upgrade that breaks RFC 6455's rules for one (4.1): `why` says which.
CallError BadUpgrade(std::string_view why);
// A WebSocket upgrade while --websocket=off: 426, so that clients fall back to HTTP.
CallError WebSocketsOff();
// A request body that did not arrive in time (--client-body-timeout).
CallError BodyTimeout(std::string_view why);
// A gRPC call whose body does not fit the bytes held for gRPC calls at once right now
// (--grpc-max-buffered-bytes).
CallError BuffersFull(uint64_t body_bytes, uint64_t budget);
// A request the front could not make into a call: its code says why (INVALID_ARGUMENT
// for a malformed one, RESOURCE_EXHAUSTED for one too large, ...).
CallError InvalidCall(const absl::Status& status);

// --- The upstream's own error answer, for a front that cannot pass it as it came (gRPC):
// the code transcode::GrpcCodeForHttp gives its status, OpenAI's message from its body.

CallError UpstreamAnswer(int http_status, std::string_view body);

// --- Admission: the allow-list and the rate limits (limits/admission.h).

// 403, 429 (with Retry-After) or 503.
CallError Refused(const limits::Verdict& verdict);

// --- The exchange with the upstream, when it failed before any answer reached the caller.

// RESOURCE_EXHAUSTED (no connection may be opened) -> 503 UNAVAILABLE, retry after 1 s;
// DEADLINE_EXCEEDED -> 504; anything else -> 502, keeping its code for gRPC.
CallError UpstreamFailure(const absl::Status& status);
// The failure of `out` (which has one): the caller's side (its body too large, too slow,
// malformed) or the upstream's (UpstreamFailure).
CallError ForwardFailure(const upstream::ForwardOutcome& out, uint64_t max_body_bytes);

}  // namespace oa::call
