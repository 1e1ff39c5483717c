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

bool ChunkedAtMost(const net::MessageHead& head) {
  int codings = 0;
  for (const net::HeadField field : head.fields()) {
    if (field.code != beast_http::field::transfer_encoding) continue;
    for (const std::string_view coding : Split(field.value, ',')) {
      if (++codings > 1 || !EqualsIgnoreCase(TrimAscii(coding), "chunked")) return false;
    }
  }
  return true;
}

void ForEachEndToEnd(const net::MessageHead& from,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit) {
  // Listed in Connection: these are hop-by-hop too. Most messages list none.
  absl::InlinedVector<std::string_view, 4> named;
  for (const net::HeadField field : from.fields()) {
    if (field.code == beast_http::field::connection) {
      for (std::string_view token : Split(field.value, ',')) named.push_back(TrimAscii(token));
    }
  }
  for (const net::HeadField field : from.fields()) {
    if (IsHopByHop(field.code) || field.code == beast_http::field::host ||
        field.code == beast_http::field::content_length) {
      continue;
    }
    bool listed = false;
    for (std::string_view n : named) listed = listed || EqualsIgnoreCase(n, field.name);
    if (!listed) visit(field.name, field.value);
  }
}

}  // namespace oa::upstream
