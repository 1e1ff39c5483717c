#include "upstream/header_policy.h"

#include <boost/beast/http/field.hpp>

#include "absl/container/inlined_vector.h"
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

namespace {

// IsHopByHop, Host and Content-Length, by the parser's name for them: every hop-by-hop
// header is one Beast knows, so a field it does not know is never one.
bool Dropped(beast_http::field name) {
  using enum beast_http::field;
  switch (name) {
    case connection:
    case keep_alive:
    case proxy_connection:
    case proxy_authenticate:
    case proxy_authorization:
    case te:
    case trailer:
    case transfer_encoding:
    case upgrade:
    case expect:
    case host:
    case content_length:
      return true;
    default:
      return false;
  }
}

}  // namespace

void ForEachEndToEnd(const beast_http::fields& from,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit) {
  // Listed in Connection: these are hop-by-hop too. Most messages list none.
  absl::InlinedVector<std::string_view, 4> named;
  for (const auto& field : from) {
    if (field.name() == beast_http::field::connection) {
      for (std::string_view token : Split(field.value(), ',')) {
        named.push_back(TrimAscii(token));
      }
    }
  }
  for (const auto& field : from) {
    if (Dropped(field.name())) continue;
    const std::string_view name = field.name_string();
    bool listed = false;
    for (std::string_view n : named) listed = listed || EqualsIgnoreCase(n, name);
    if (!listed) visit(name, field.value());
  }
}

std::string_view FieldValue(const beast_http::fields& fields, beast_http::field name) {
  for (const auto& field : fields) {
    if (field.name() == name) return field.value();
  }
  return {};
}

size_t FieldCount(const beast_http::fields& fields, beast_http::field name) {
  size_t n = 0;
  for (const auto& field : fields) n += field.name() == name;
  return n;
}

std::string_view FieldValue(const beast_http::fields& fields, std::string_view name) {
  for (const auto& field : fields) {
    if (EqualsIgnoreCase(field.name_string(), name)) return field.value();
  }
  return {};
}

}  // namespace oa::upstream
