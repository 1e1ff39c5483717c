#include "upstream/base_url.h"

#include "base/check.h"
#include "base/strings.h"

namespace oa::upstream {

absl::StatusOr<BaseUrl> BaseUrl::Parse(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("upstream URL '", url, "': ", why));
  };
  BaseUrl out;
  std::string_view rest = url;
  if (StartsWithIgnoreCase(rest, "https://")) {
    rest.remove_prefix(8);
    out.tls = true;
    out.port = 443;
  } else if (StartsWithIgnoreCase(rest, "http://")) {
    rest.remove_prefix(7);
    out.tls = false;
    out.port = 80;
  } else {
    return bad("must start with http:// or https://");
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in the URL are not supported");
  if (path.find_first_of("?#") != std::string_view::npos)
    return bad("a query or fragment is not supported");

  std::string_view port_text;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') return bad("junk after ']'");
    if (!after.empty()) after.remove_prefix(1);
    port_text = after;
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  // Names and IPv4 addresses carry no ':' (an IPv6 address goes in brackets), and no
  // host carries spaces, controls or URL delimiters.
  const bool bracketed_host = authority.starts_with("[");
  for (const char c : out.host) {
    if (static_cast<unsigned char>(c) <= ' ' ||
        std::string_view("/?#[]@\\\"<>%").find(c) != std::string_view::npos ||
        (c == ':' && !bracketed_host)) {
      return bad(c == ':' ? "an IPv6 address must be in brackets, e.g. http://[::1]:8080"
                          : "the host has characters a host name cannot have");
    }
  }
  const uint16_t default_port = out.port;
  if (!port_text.empty()) {
    uint64_t port = 0;
    if (!ParseUint(port_text, port) || port == 0 || port > 65535) return bad("bad port");
    out.port = static_cast<uint16_t>(port);
  }
  const std::string bracketed =
      out.host.find(':') != std::string::npos ? StrCat("[", out.host, "]") : out.host;
  out.host_header = out.port == default_port ? bracketed : StrCat(bracketed, ":", out.port);
  while (path.ends_with("/")) path.remove_suffix(1);
  out.path_prefix = std::string(path);
  return out;
}

std::string BaseUrl::TargetFor(std::string_view front_target) const {
  // A target outside /v1 would leave the base path: the fronts route only /v1.
  OA_CHECK(
      front_target == "/v1" || front_target.starts_with("/v1/") || front_target.starts_with("/v1?"),
      "a target outside /v1 reached the upstream's base URL");
  std::string_view rest = front_target.substr(3);  // drop "/v1"
  if (rest.empty() || rest[0] == '?') {
    return StrCat(path_prefix.empty() ? "/" : path_prefix, rest);
  }
  return StrCat(path_prefix, rest);
}

}  // namespace oa::upstream
