#include "upstream/header_policy.h"

#include <boost/beast/http/field.hpp>

#include "absl/container/inlined_vector.h"
#include "base/strings.h"

namespace oa::upstream {
namespace beast_http = boost::beast::http;

namespace {

// The hop-by-hop headers, by Beast's code for their names: every one is a name Beast
// knows, so a field it does not know is never one.
bool IsHopByHop(beast_http::field name) {
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
      return true;
    default:
      return false;
  }
}

}  // namespace

bool IsHopByHop(std::string_view name) { return IsHopByHop(beast_http::string_to_field(name)); }

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
    if (IsHopByHop(field.name()) || field.name() == beast_http::field::host ||
        field.name() == beast_http::field::content_length) {
      continue;
    }
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
