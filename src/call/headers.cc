#include "call/headers.h"

#include "absl/container/inlined_vector.h"
#include "base/strings.h"

namespace oa::call {
namespace bhttp = boost::beast::http;

namespace {

// Rows: HeaderClass; columns: Crossing.
constexpr bool kCrosses[6][4] = {
    //  REST req  REST ans  gRPC req  gRPC ans
    {false, false, false, false},  // kHopByHop
    {false, false, false, false},  // kFraming
    {true, true, false, false},    // kTransport
    {true, true, false, false},    // kTranscoded
    {true, true, true, true},      // kOpenAi
    {true, true, true, false},     // kEndToEnd
};

constexpr bool CrossesAt(Crossing where, HeaderClass c) {
  return kCrosses[static_cast<int>(c)][static_cast<int>(where)];
}

// A name Beast has no code for is transport, OpenAI's or end-to-end. Where all three
// cross, as on both REST crossings, such a name need not be read: the relay's copy of a
// head classifies by Beast's code alone.
constexpr bool UnknownNamesCross(Crossing where) {
  return CrossesAt(where, HeaderClass::kTransport) && CrossesAt(where, HeaderClass::kOpenAi) &&
         CrossesAt(where, HeaderClass::kEndToEnd);
}
static_assert(UnknownNamesCross(Crossing::kRestRequest) &&
              UnknownNamesCross(Crossing::kRestAnswer));

}  // namespace

HeaderClass Classify(bhttp::field code, std::string_view name) {
  using enum bhttp::field;
  switch (code) {
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
      return HeaderClass::kHopByHop;
    case host:
    case content_length:
      return HeaderClass::kFraming;
    case authorization:
    case content_type:
    case user_agent:
    case accept_encoding:
      return HeaderClass::kTranscoded;
    case retry_after:
      return HeaderClass::kOpenAi;
    case unknown:
      break;
    default:
      // Every other name Beast knows is end-to-end: none is a transport name or one of
      // OpenAI's (tests/unit/headers_test.cc reads them all).
      return HeaderClass::kEndToEnd;
  }
  if (name.starts_with(':') || StartsWithIgnoreCase(name, "grpc-") ||
      EndsWithIgnoreCase(name, "-bin")) {
    return HeaderClass::kTransport;
  }
  if (EqualsIgnoreCase(name, "x-request-id") || StartsWithIgnoreCase(name, "openai-") ||
      StartsWithIgnoreCase(name, "x-ratelimit-")) {
    return HeaderClass::kOpenAi;
  }
  return HeaderClass::kEndToEnd;
}

HeaderClass Classify(std::string_view name) { return Classify(bhttp::string_to_field(name), name); }

bool Crosses(Crossing where, HeaderClass c) { return CrossesAt(where, c); }

bool Crosses(Crossing where, std::string_view name) {
  return !name.empty() && Crosses(where, Classify(name));
}

void ForEachCrossing(const net::MessageHead& from, Crossing where,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit) {
  // Listed in Connection: these are hop-by-hop too. Most messages list none.
  absl::InlinedVector<std::string_view, 4> named;
  for (const net::HeadField field : from.fields()) {
    if (field.code == bhttp::field::connection) {
      for (std::string_view token : Split(field.value, ',')) named.push_back(TrimAscii(token));
    }
  }
  const bool unknown_names_cross = UnknownNamesCross(where);
  for (const net::HeadField field : from.fields()) {
    const bool crosses = field.code == bhttp::field::unknown && unknown_names_cross
                             ? true
                             : CrossesAt(where, Classify(field.code, field.name));
    if (!crosses) continue;
    bool listed = false;
    for (std::string_view n : named) listed = listed || EqualsIgnoreCase(n, field.name);
    if (!listed) visit(field.name, field.value);
  }
}

}  // namespace oa::call
