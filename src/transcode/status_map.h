// The one place where HTTP statuses, gRPC codes and OpenAI's errors meet (STYLE.md).
//
//   HTTP from the upstream -> gRPC code   : GrpcCodeForHttp (the google.rpc table)
//   the gateway's own failures (absl)     : absl codes are gRPC codes, number for number
//   an OpenAI error body -> status message: ErrorMessage, EventErrorMessage
//   a WebSocket's close -> gRPC code       : GrpcCodeForClose
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace oa::transcode {

// 2xx -> OK; 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
// 404 NOT_FOUND, 409 ABORTED, 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 500 INTERNAL,
// 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED; see the .cc for the rest.
absl::StatusCode GrpcCodeForHttp(int http_status);

// How a WebSocket session that a bidirectional RPC carried ended, as its status: 1000
// (normal) OK; 1001 (going away), 1012, 1013 UNAVAILABLE; 1008 (policy) PERMISSION_DENIED;
// 1009 (too big) RESOURCE_EXHAUSTED; 1002, 1003, 1007, 1011 INTERNAL; an application's
// own code (4000-4999, as OpenAI's) or no code: the code of the error event the upstream
// sent last (`error_event`, its data; empty when none) by its error type, else UNKNOWN.
absl::StatusCode GrpcCodeForClose(int close_code, std::string_view error_event);

// OpenAI's text from an error body, or a message naming the HTTP status when the body
// is not an error OpenAI's way or its text is blank.
std::string ErrorMessage(int http_status, std::string_view body);

// The same for the data of an error event in a stream, which came inside an HTTP 200:
// the fallback says that the stream reported an error.
std::string EventErrorMessage(std::string_view data);

}  // namespace oa::transcode
