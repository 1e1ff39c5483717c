#include "call/errors.h"

#include "base/check.h"
#include "base/json_text.h"
#include "base/strings.h"
#include "transcode/status_map.h"

namespace oa::call {
namespace {

using Code = absl::StatusCode;

constexpr std::string_view kInvalidRequest = "invalid_request_error";
constexpr std::string_view kServerError = "server_error";

CallError Make(int http_status, Code grpc_code, std::string_view type, std::string_view code,
               std::string message) {
  return {http_status, grpc_code, std::string(type), std::string(code), std::move(message)};
}

// The path of a request target: the query can carry anything, so it is never echoed.
std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The HTTP status for a gRPC code of the gateway's own (the reverse of
// transcode::GrpcCodeForHttp where that is one to one).
int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
    case Code::kOutOfRange:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAborted:
    case Code::kAlreadyExists:
      return 409;
    case Code::kResourceExhausted:
      return 413;  // of a request: it is too large
    case Code::kCancelled:
      return 499;
    case Code::kUnimplemented:
      return 501;
    case Code::kUnavailable:
      return 503;
    case Code::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace

std::string CallError::ToJson() const {
  return StrCat("{\"error\":{\"message\":\"", JsonEscape(message), "\",\"type\":\"",
                JsonEscape(type), "\",\"param\":null,\"code\":",
                code.empty() ? "null" : StrCat("\"", JsonEscape(code), "\""), "}}");
}

CallError MissingKey() {
  return Make(401, Code::kUnauthenticated, kInvalidRequest, "missing_api_key",
              "No API key provided. Send your OpenAI key as 'Authorization: Bearer <key>' (over "
              "gRPC, as 'authorization' metadata; from a browser's WebSocket, as the subprotocol "
              "'openai-insecure-api-key.<key>'); the gateway forwards it to the upstream with "
              "each call.");
}

CallError UnknownUrl(std::string_view method, std::string_view target) {
  return Make(404, Code::kNotFound, kInvalidRequest, "unknown_url",
              StrCat("Unknown request URL: ", method, " ", PathOf(target),
                     ". The gateway serves the OpenAI API under /v1/."));
}

CallError UnmodelledUrl(std::string_view method, std::string_view target) {
  return Make(404, Code::kNotFound, kInvalidRequest, "unknown_url",
              StrCat("Unknown request URL: ", method, " ", PathOf(target),
                     ". No operation of the OpenAI API that this gateway knows matches it, and "
                     "it refuses such calls (--reject-unmodelled); without that setting it "
                     "passes them to the upstream as they are."));
}

CallError UnknownMethod(std::string_view method) {
  return Make(501, Code::kUnimplemented, kInvalidRequest, "unknown_method",
              StrCat("No method ", method, " in proto/."));
}

CallError BadTarget(std::string_view why) {
  return Make(
      400, Code::kInvalidArgument, kInvalidRequest, "invalid_request_target",
      StrCat("The request target ", why, ". Send a path under /v1/, as the OpenAI API does."));
}

CallError UnsupportedTransferEncoding(bool not_implemented) {
  return Make(not_implemented ? 501 : 400, Code::kInvalidArgument, kInvalidRequest,
              "unsupported_transfer_encoding",
              "The gateway accepts request bodies with Content-Length or "
              "'Transfer-Encoding: chunked' alone.");
}

CallError RequestLineTooLong(uint64_t limit) {
  return Make(414, Code::kInvalidArgument, kInvalidRequest, "request_uri_too_long",
              StrCat("The request line exceeds ", limit,
                     " bytes (see --max-header-bytes); a long query belongs in a request body."));
}

CallError HeadersTooLarge(uint64_t limit) {
  return Make(
      431, Code::kInvalidArgument, kInvalidRequest, "request_header_too_large",
      StrCat("The request line and headers exceed ", limit, " bytes (see --max-header-bytes)."));
}

CallError BodyTooLarge(uint64_t limit) {
  return Make(413, Code::kResourceExhausted, kInvalidRequest, "request_too_large",
              StrCat("The request body is larger than this gateway accepts (", limit,
                     " bytes; see --max-body-bytes)."));
}

CallError BadRequest(std::string_view why) {
  return Make(400, Code::kInvalidArgument, kInvalidRequest, "bad_request",
              StrCat("The gateway could not read this request: ", why, "."));
}

CallError UnexpectedBody(std::string_view method, std::string_view target) {
  return Make(400, Code::kInvalidArgument, kInvalidRequest, "unexpected_request_body",
              StrCat(method, " ", PathOf(target),
                     " takes no request body, and this request has one. The gateway refuses "
                     "it: an upstream that does not read such a body would read it as a "
                     "request of its own."));
}

CallError BadUpgrade(std::string_view why) {
  return Make(400, Code::kInvalidArgument, kInvalidRequest, "invalid_websocket_upgrade",
              StrCat("This WebSocket upgrade is malformed: ", why, "."));
}

CallError WebSocketsOff() {
  return Make(426, Code::kUnimplemented, kInvalidRequest, "websockets_disabled",
              "This gateway does not relay WebSockets (--websocket=off). Use the HTTP API: the "
              "same call over HTTP, streamed with server-sent events where it streams.");
}

CallError BodyTimeout(std::string_view why) {
  return Make(408, Code::kDeadlineExceeded, kInvalidRequest, "request_body_timeout",
              std::string(why));
}

CallError BuffersFull(uint64_t body_bytes, uint64_t budget) {
  CallError e = Make(503, Code::kResourceExhausted, kServerError, "gateway_buffers_full",
                     StrCat("The request's body (", body_bytes,
                            " bytes once transcoded) does not fit in the ", budget,
                            " bytes the gateway holds for gRPC calls at once (see "
                            "--grpc-max-buffered-bytes); retry shortly, or send less."));
  e.retry_after_seconds = 1;
  return e;
}

CallError InvalidCall(const absl::Status& status) {
  const Code code = status.ok() ? Code::kInternal : status.code();
  const int http = HttpStatusFor(code);
  return Make(http, code, http < 500 ? kInvalidRequest : kServerError, "invalid_call",
              std::string(status.message()));
}

CallError UpstreamAnswer(int http_status, std::string_view body) {
  return Make(http_status, transcode::GrpcCodeForHttp(http_status),
              http_status < 500 ? kInvalidRequest : kServerError, "",
              transcode::ErrorMessage(http_status, body));
}

CallError Refused(const limits::Verdict& verdict) {
  switch (verdict.kind) {
    case limits::Verdict::Kind::kDenied:
      return Make(403, Code::kPermissionDenied, kInvalidRequest, "gateway_access_denied",
                  verdict.message);
    case limits::Verdict::Kind::kLimited: {
      // OpenAI's own 429s name what ran out in `type`: "requests" here.
      CallError e =
          Make(429, Code::kResourceExhausted, "requests", "rate_limit_exceeded", verdict.message);
      e.retry_after_seconds = verdict.retry_after_seconds();
      return e;
    }
    case limits::Verdict::Kind::kUnavailable:
    case limits::Verdict::Kind::kAdmitted:
      break;
  }
  return Make(503, Code::kUnavailable, kServerError, "rate_limit_unavailable", verdict.message);
}

CallError UpstreamFailure(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    // The gateway's own overload: gRPC clients retry UNAVAILABLE, and both are told when.
    CallError e =
        Make(503, Code::kUnavailable, kServerError, "upstream_connections_exhausted",
             StrCat("The gateway is at its limit of upstream connections: ", status.message(),
                    ". Retry shortly."));
    e.retry_after_seconds = 1;
    return e;
  }
  if (absl::IsDeadlineExceeded(status)) {
    return Make(504, Code::kDeadlineExceeded, kServerError, "upstream_timeout",
                StrCat("The upstream did not answer in time: ", status.message(), "."));
  }
  const Code code = status.ok() ? Code::kUnknown : status.code();
  return Make(
      502, code, kServerError, "upstream_unavailable",
      StrCat("The gateway could not get an answer from the upstream: ", status.message(), "."));
}

CallError ForwardFailure(const upstream::ForwardOutcome& out, uint64_t max_body_bytes) {
  OA_CHECK(out.failure.has_value(), "ForwardFailure of an exchange that did not fail");
  const absl::Status& failure = *out.failure;
  if (!out.caller_failed) return UpstreamFailure(failure);
  switch (failure.code()) {
    case Code::kResourceExhausted:
      return BodyTooLarge(max_body_bytes);
    case Code::kDeadlineExceeded:
      return BodyTimeout(std::string(failure.message()));
    default: {
      // Malformed, or gone: a gRPC caller keeps the code its front gave.
      CallError e = BadRequest(std::string(failure.message()));
      if (!failure.ok()) e.grpc_code = failure.code();
      return e;
    }
  }
}

}  // namespace oa::call
