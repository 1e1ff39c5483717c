// Errors the gateway makes itself, in OpenAI's shape (DESIGN.md, invariant 4):
//   {"error":{"message":"...","type":"...","param":null,"code":"..."}}
// The message says what went wrong and what to do; it never contains a caller's key.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "limits/admission.h"

namespace oa::http {

struct GatewayError {
  int status = 500;
  std::string type;     // "invalid_request_error", "server_error", ...
  std::string code;     // machine-readable; empty prints as null
  std::string message;  // for a person

  std::string ToJson() const;
};

GatewayError MissingKey();
// A path outside /v1/ (the gateway's own paths aside).
GatewayError UnknownUrl(std::string_view method, std::string_view target);
// A path under /v1/ that no route matches, with --reject-unmodelled.
GatewayError UnmodelledUrl(std::string_view method, std::string_view target);
GatewayError BodyTooLarge(uint64_t limit);
GatewayError BadRequest(std::string_view why);
// A body on a call that has none (a GET, or a route of proto/ without a body).
GatewayError UnexpectedBody(std::string_view method, std::string_view target);
// A request body that did not arrive in time (--client-body-timeout).
GatewayError BodyTimeout(std::string_view why);
// A call the allow-list or the rate limits refused: 403, 429 or 503 (their Retry-After
// is the caller's to set from the verdict).
GatewayError Refused(const limits::Verdict& verdict);
// Maps a failure to reach the upstream: RESOURCE_EXHAUSTED (no connection may be opened)
// -> 503, DEADLINE_EXCEEDED -> 504, anything else -> 502.
GatewayError UpstreamFailure(const absl::Status& status);

}  // namespace oa::http
