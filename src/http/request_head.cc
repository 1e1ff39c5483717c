#include "http/request_head.h"

#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"

namespace oa::http {
namespace {

namespace bhttp = boost::beast::http;

GatewayError BadTarget(std::string_view why) {
  return {400, "invalid_request_error", "invalid_request_target",
          StrCat("The request target ", why, ". Send a path under /v1/, as the OpenAI API does.")};
}

// True for "." and "..", also percent-encoded in any case (%2e, %2E.).
bool IsDotSegment(std::string_view segment) {
  int dots = 0;
  for (size_t i = 0; i < segment.size(); ++dots) {
    if (segment[i] == '.') {
      ++i;
    } else if (segment.size() - i >= 3 && segment[i] == '%' && segment[i + 1] == '2' &&
               (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
      i += 3;
    } else {
      return false;
    }
    if (dots == 2) return false;  // a third piece: "..." is a name, not a dot segment
  }
  return dots == 1 || dots == 2;
}

// The origin-form of an absolute-form target ("http://host:80/p?q" -> "/p?q"), or
// nullopt when `target` is not absolute-form.
std::optional<std::string> OriginForm(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!StartsWithIgnoreCase(target, scheme)) continue;
    const std::string_view rest = target.substr(scheme.size());
    const size_t path = rest.find_first_of("/?");
    if (path == std::string_view::npos) return "/";
    if (rest[path] == '?') return StrCat("/", rest.substr(path));
    return std::string(rest.substr(path));
  }
  return std::nullopt;
}

std::optional<GatewayError> CheckTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return BadTarget("is not a path (the gateway is not a forward proxy)");
  }
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return BadTarget("holds bytes that are not printable ASCII; percent-encode them");
    }
    if (c == '#') return BadTarget("holds a fragment ('#')");
  }
  const std::string_view path = target.substr(0, target.find('?'));
  for (const std::string_view segment : Split(path, '/')) {
    if (IsDotSegment(segment)) return BadTarget("holds a '.' or '..' segment");
  }
  return std::nullopt;
}

std::optional<GatewayError> CheckFraming(const net::MessageHead& head) {
  if (head.Count(bhttp::field::transfer_encoding) == 0) return std::nullopt;
  std::vector<std::string_view> codings;
  for (const net::HeadField field : head.fields()) {
    if (field.code != bhttp::field::transfer_encoding) continue;
    for (const std::string_view coding : Split(field.value, ',')) {
      codings.push_back(TrimAscii(coding));
    }
  }
  // Beast reads the body as chunked only when chunked is the last coding, and relays it
  // re-framed; anything else (gzip before chunked, an unknown coding) would reach the
  // upstream changed or misframed, so it is refused rather than guessed at. RFC 9112:
  // 400 when chunked is not the final coding, 501 for a coding not implemented.
  if (codings.size() != 1 || !EqualsIgnoreCase(codings.front(), "chunked")) {
    const bool chunked_last = EqualsIgnoreCase(codings.back(), "chunked");
    return GatewayError{chunked_last ? 501 : 400, "invalid_request_error",
                        "unsupported_transfer_encoding",
                        "The gateway accepts request bodies with Content-Length or "
                        "'Transfer-Encoding: chunked' alone."};
  }
  return std::nullopt;
}

}  // namespace

std::optional<GatewayError> CheckRequestHead(net::MessageHead& head) {
  if (std::optional<GatewayError> error = CheckFraming(head)) return error;
  const size_t hosts = head.Count(bhttp::field::host);
  if (hosts > 1 || (hosts == 0 && head.version() >= 11)) {
    return BadRequest("HTTP/1.1 requests carry exactly one Host header");
  }
  if (std::optional<std::string> origin = OriginForm(head.target())) {
    head.set_target(*std::move(origin));
  }
  return CheckTarget(head.target());
}

}  // namespace oa::http
