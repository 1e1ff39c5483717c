#include "http/request_head.h"

#include <string>
#include <string_view>

#include "base/strings.h"
#include "route/dot_segments.h"

namespace oa::http {
namespace {

namespace bhttp = boost::beast::http;

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

std::optional<call::CallError> CheckTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return call::BadTarget("is not a path (the gateway is not a forward proxy)");
  }
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return call::BadTarget("holds bytes that are not printable ASCII; percent-encode them");
    }
    if (c == '#') return call::BadTarget("holds a fragment ('#')");
  }
  if (route::LeavesItsPrefix(target.substr(0, target.find('?')))) {
    return call::BadTarget(
        "holds a '.' or '..' segment, as sent or as a server may read it (percent-decoded, "
        "'\\' as '/', ';' parameters cut)");
  }
  return std::nullopt;
}

std::optional<call::CallError> CheckFraming(const net::MessageHead& head) {
  // The relay reads a chunked body and writes it again in chunks of its own; any other
  // coding (gzip before chunked, an unknown one) would reach the upstream changed or
  // misframed, so it is refused rather than guessed at. RFC 9112: 400 when chunked is
  // not the final coding, 501 for a coding not implemented.
  if (net::ChunkedAtMost(head)) return std::nullopt;
  std::string_view last;
  for (const net::HeadField field : head.fields()) {
    if (field.code == bhttp::field::transfer_encoding) last = field.value;
  }
  const size_t comma = last.rfind(',');
  last = TrimAscii(comma == std::string_view::npos ? last : last.substr(comma + 1));
  return call::UnsupportedTransferEncoding(/*not_implemented=*/EqualsIgnoreCase(last, "chunked"));
}

}  // namespace

std::optional<call::CallError> CheckRequestHead(net::MessageHead& head) {
  if (std::optional<call::CallError> error = CheckFraming(head)) return error;
  const size_t hosts = head.Count(bhttp::field::host);
  if (hosts > 1 || (hosts == 0 && head.version() >= 11)) {
    return call::BadRequest("HTTP/1.1 requests carry exactly one Host header");
  }
  if (std::optional<std::string> origin = OriginForm(head.target())) {
    head.set_target(*std::move(origin));
  }
  return CheckTarget(head.target());
}

}  // namespace oa::http
