#include "http/error_reply.h"

#include "absl/strings/str_format.h"
#include "base/json_text.h"
#include "base/strings.h"

namespace oa::http {

std::string GatewayError::ToJson() const {
  return StrCat("{\"error\":{\"message\":\"", JsonEscape(message), "\",\"type\":\"",
                JsonEscape(type), "\",\"param\":null,\"code\":",
                code.empty() ? "null" : StrCat("\"", JsonEscape(code), "\""), "}}");
}

GatewayError MissingKey() {
  return {401, "invalid_request_error", "missing_api_key",
          "No API key provided. Send your OpenAI key as 'Authorization: Bearer <key>'; the "
          "gateway forwards it to the upstream with each call."};
}

GatewayError UnknownUrl(std::string_view method, std::string_view target) {
  // The query string can carry anything, so only the path is echoed.
  const std::string_view path = target.substr(0, target.find('?'));
  return {404, "invalid_request_error", "unknown_url",
          StrCat("Unknown request URL: ", method, " ", path,
                 ". The gateway serves the OpenAI API under /v1/.")};
}

GatewayError UnmodelledUrl(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return {404, "invalid_request_error", "unknown_url",
          StrCat("Unknown request URL: ", method, " ", path,
                 ". No operation of the OpenAI API that this gateway knows matches it, and it "
                 "refuses such calls (--reject-unmodelled); without that setting it passes them "
                 "to the upstream as they are.")};
}

GatewayError BodyTooLarge(uint64_t limit) {
  return {413, "invalid_request_error", "request_too_large",
          StrCat("The request body is larger than this gateway accepts (", limit,
                 " bytes; see --max-body-bytes).")};
}

GatewayError BadRequest(std::string_view why) {
  return {400, "invalid_request_error", "bad_request",
          StrCat("The gateway could not read this HTTP request: ", why, ".")};
}

GatewayError UnexpectedBody(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return {400, "invalid_request_error", "unexpected_request_body",
          StrCat(method, " ", path,
                 " takes no request body, and this request has one. The gateway refuses it: "
                 "an upstream that does not read such a body would read it as a request of its "
                 "own.")};
}

GatewayError BodyTimeout(std::string_view why) {
  return {408, "invalid_request_error", "request_body_timeout", std::string(why)};
}

GatewayError Refused(const limits::Verdict& verdict) {
  switch (verdict.kind) {
    case limits::Verdict::Kind::kDenied:
      return {403, "invalid_request_error", "gateway_access_denied", verdict.message};
    case limits::Verdict::Kind::kLimited:
      // OpenAI's own 429s name what ran out in `type`: "requests" here.
      return {429, "requests", "rate_limit_exceeded", verdict.message};
    default:
      return {503, "server_error", "rate_limit_unavailable", verdict.message};
  }
}

GatewayError UpstreamFailure(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    return {503, "server_error", "upstream_connections_exhausted",
            StrCat("The gateway is at its limit of upstream connections: ", status.message(),
                   ". Retry shortly.")};
  }
  if (absl::IsDeadlineExceeded(status)) {
    return {504, "server_error", "upstream_timeout",
            StrCat("The upstream did not answer in time: ", status.message(), ".")};
  }
  return {502, "server_error", "upstream_unavailable",
          StrCat("The gateway could not get an answer from the upstream: ", status.message(), ".")};
}

}  // namespace oa::http
