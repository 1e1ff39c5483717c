#include "transcode/status_map.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "base/strings.h"

namespace oa::transcode {

absl::StatusCode GrpcCodeForHttp(int http_status) {
  using C = absl::StatusCode;
  if (http_status >= 200 && http_status < 300) return C::kOk;
  switch (http_status) {
    case 400:
      return C::kInvalidArgument;
    case 401:
      return C::kUnauthenticated;
    case 403:
      return C::kPermissionDenied;
    case 404:
      return C::kNotFound;
    case 405:
      return C::kUnimplemented;  // the method does not exist for this resource
    case 408:
      return C::kDeadlineExceeded;
    case 409:
      return C::kAborted;
    case 412:
      return C::kFailedPrecondition;
    case 413:
      return C::kResourceExhausted;  // request too large
    case 416:
      return C::kOutOfRange;
    case 422:
      return C::kInvalidArgument;
    case 429:
      return C::kResourceExhausted;
    case 499:
      return C::kCancelled;
    case 500:
      return C::kInternal;
    case 501:
      return C::kUnimplemented;
    case 502:
    case 503:
      return C::kUnavailable;
    case 504:
      return C::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return C::kFailedPrecondition;
  return C::kUnknown;
}

namespace {

// OpenAI's error types (the "type" of an error object), as codes.
absl::StatusCode GrpcCodeForErrorType(std::string_view type) {
  using C = absl::StatusCode;
  if (type == "invalid_request_error") return C::kInvalidArgument;
  if (type == "authentication_error") return C::kUnauthenticated;
  if (type == "permission_error") return C::kPermissionDenied;
  if (type == "not_found_error") return C::kNotFound;
  if (type == "rate_limit_error" || type == "insufficient_quota") return C::kResourceExhausted;
  if (type == "server_error" || type == "api_error") return C::kInternal;
  return C::kUnknown;
}

// The "type" of the error object in an error event's data ({"type":"error","error":{...}}).
std::string ErrorType(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value v =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec || !v.is_object()) return "";
  const boost::json::value* error = v.get_object().if_contains("error");
  if (error == nullptr || !error->is_object()) return "";
  const boost::json::value* type = error->get_object().if_contains("type");
  if (type == nullptr || !type->is_string()) return "";
  return std::string(type->get_string());
}

}  // namespace

absl::StatusCode GrpcCodeForClose(int close_code, std::string_view error_event) {
  using C = absl::StatusCode;
  switch (close_code) {
    case 1000:
      return C::kOk;
    case 1001:
    case 1012:
    case 1013:
      return C::kUnavailable;
    case 1008:
      return C::kPermissionDenied;
    case 1009:
      return C::kResourceExhausted;
    case 1002:
    case 1003:
    case 1007:
    case 1011:
      return C::kInternal;
    default:
      break;
  }
  if (!error_event.empty()) return GrpcCodeForErrorType(ErrorType(error_event));
  return C::kUnknown;
}

namespace {

// The text of an error OpenAI's way, or "" if there is none or it is blank. Answers
// carry {"error":{"message":...}} (or, from some compatible servers, {"error":"..."});
// the error events of the Responses and Assistants streams carry the error object
// itself, its "message" at the top.
std::string ErrorText(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value v =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec || !v.is_object()) return "";
  const boost::json::object& o = v.get_object();
  const boost::json::value* text = o.if_contains("error");
  if (text != nullptr && text->is_object()) text = text->get_object().if_contains("message");
  if (text == nullptr || !text->is_string()) text = o.if_contains("message");
  if (text == nullptr || !text->is_string()) return "";
  const std::string_view s(text->get_string().data(), text->get_string().size());
  // A blank message tells the caller nothing: the caller names what happened instead.
  return TrimAscii(s).empty() ? "" : std::string(s);
}

}  // namespace

std::string ErrorMessage(int http_status, std::string_view body) {
  std::string text = ErrorText(body);
  return text.empty() ? StrCat("the upstream answered HTTP ", http_status) : text;
}

std::string EventErrorMessage(std::string_view data) {
  std::string text = ErrorText(data);
  return text.empty() ? std::string("the upstream's stream reported an error") : text;
}

}  // namespace oa::transcode
