#include "upstream/header_policy.h"

#include <boost/beast/http/field.hpp>
#include <vector>

#include "base/strings.h"

namespace oa::upstream {
namespace beast_http = boost::beast::http;

bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kHopByHop[] = {"connection",
                                                   "keep-alive",
                                                   "proxy-connection",
                                                   "proxy-authenticate",
                                                   "proxy-authorization",
                                                   "te",
                                                   "trailer",
                                                   "transfer-encoding",
                                                   "upgrade",
                                                   "expect"};
  for (std::string_view h : kHopByHop) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

void CopyEndToEnd(const beast_http::fields& from, beast_http::fields& to) {
  std::vector<std::string_view> named;  // listed in Connection: these are hop-by-hop too
  for (const auto& field : from) {
    if (field.name() == beast_http::field::connection) {
      for (std::string_view token : Split(field.value(), ',')) {
        named.push_back(TrimAscii(token));
      }
    }
  }
  for (const auto& field : from) {
    const std::string_view name = field.name_string();
    if (IsHopByHop(name) || field.name() == beast_http::field::host ||
        field.name() == beast_http::field::content_length) {
      continue;
    }
    bool listed = false;
    for (std::string_view n : named) listed = listed || EqualsIgnoreCase(n, name);
    if (!listed) to.insert(name, field.value());
  }
}

}  // namespace oa::upstream
