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
      return C::kUnavailable;
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

std::string ErrorMessage(int http_status, std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value v =
      boost::json::parse(boost::json::string_view(body.data(), body.size()), ec);
  if (!ec && v.is_object()) {
    const boost::json::object& o = v.get_object();
    const auto* error = o.if_contains("error");
    const boost::json::value* message = error;
    if (error != nullptr && error->is_object())
      message = error->get_object().if_contains("message");
    // A blank message tells the caller nothing: the status is named instead.
    if (message != nullptr && message->is_string()) {
      const std::string_view text(message->get_string().data(), message->get_string().size());
      if (!TrimAscii(text).empty()) return std::string(text);
    }
  }
  return StrCat("the upstream answered HTTP ", http_status);
}

}  // namespace oa::transcode
