// Fuzzes SSE parsing (transcode/sse_reader.h) and the event -> message step after it
// (transcode/event_reader.h), as the gRPC front uses them on an upstream's stream.
// Input: 4 header bytes, then the stream's bytes. Header: [0] picks a server-streaming
// RPC whose answer is events (its response type gets them), [1] an event size limit (1..1021),
// [2..3] seed the split points: the stream is fed in pieces of 0 to 64 bytes chosen by them.
//
// What must hold, besides no crash, leak or undefined behaviour:
//   - the events do not depend on how the stream is cut: fed whole, byte by byte and at
//     the seeded split points, the reader yields the same events, and they are those of
//     a reference parser written from the standard (WHATWG HTML, server-sent events:
//     CR, LF and CRLF end lines, `data` lines joined with LF, a blank line ends an event,
//     an event without a data line is not dispatched);
//   - with a small size limit, the reader yields a prefix of those events, none with more
//     data than the limit, and stops for good with RESOURCE_EXHAUSTED if it stops early;
//   - each event read into the RPC's response message: "[DONE]" is the end of the
//     stream, an `error` event is INTERNAL, and nothing else but data that is not the
//     message's JSON fails.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "transcode/event_reader.h"
#include "transcode/field_names.h"
#include "transcode/sse_reader.h"

namespace oa::fuzz {
namespace {

using transcode::SseEvent;
using transcode::SseReader;

bool Same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b, size_t n) {
  if (a.size() < n || b.size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  }
  return true;
}

// The reference: whole stream, line by line; a last line without its end is not a line.
std::vector<SseEvent> Reference(std::string_view s) {
  std::vector<SseEvent> events;
  SseEvent pending;
  bool has_data = false;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) break;
    const std::string_view line = s.substr(pos, end - pos);
    pos = end + 1;
    if (s[end] == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    if (line.empty()) {
      if (has_data) events.push_back(pending);
      pending = SseEvent{};
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    const size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (name == "data") {
      if (has_data) pending.data += '\n';
      pending.data += value;
      has_data = true;
    } else if (name == "event") {
      pending.event = std::string(value);
    } else if (name == "id") {
      pending.id = std::string(value);
    }
  }
  return events;
}

// Feeds `pieces` in turn, taking every event after each.
std::vector<SseEvent> Read(SseReader& reader, const std::vector<std::string_view>& pieces) {
  std::vector<SseEvent> events;
  for (std::string_view piece : pieces) {
    reader.Feed(piece);
    while (std::optional<SseEvent> e = reader.Next()) events.push_back(*std::move(e));
  }
  return events;
}

std::vector<std::string_view> Cut(std::string_view s, uint32_t seed) {
  std::vector<std::string_view> pieces;
  uint32_t x = seed * 2654435761u + 1;
  while (!s.empty()) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const size_t n = std::min<size_t>(s.size(), x % 65);  // empty pieces too
    pieces.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return pieces;
}

const std::vector<const route::Route*>& StreamingRoutes() {
  static const auto* const routes = [] {
    auto* v = new std::vector<const route::Route*>;
    for (const route::Route& r : Table().routes()) {
      // As the gRPC front: HttpBody answers are relayed as bytes, never read as events.
      if (r.method->server_streaming() && !transcode::IsHttpBody(*r.method->output_type())) {
        v->push_back(&r);
      }
    }
    return v;
  }();
  return *routes;
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace oa::fuzz;
  if (size < 4) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::vector<SseEvent> expected = Reference(stream);

  SseReader whole;
  const std::vector<SseEvent> got_whole = Read(whole, {stream});
  FUZZ_CHECK(whole.status().ok() && got_whole.size() == expected.size() &&
                 Same(got_whole, expected, expected.size()),
             "fed whole: %zu events, the reference %zu; stream '%s'", got_whole.size(),
             expected.size(), Show(stream).c_str());

  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
  SseReader bytewise;
  const std::vector<SseEvent> got_bytewise = Read(bytewise, bytes);
  FUZZ_CHECK(bytewise.status().ok() && got_bytewise.size() == expected.size() &&
                 Same(got_bytewise, expected, expected.size()),
             "fed byte by byte: %zu events, the reference %zu; stream '%s'", got_bytewise.size(),
             expected.size(), Show(stream).c_str());

  const std::vector<std::string_view> pieces = Cut(stream, data[2] << 8 | data[3]);
  SseReader split;
  const std::vector<SseEvent> got_split = Read(split, pieces);
  FUZZ_CHECK(split.status().ok() && got_split.size() == expected.size() &&
                 Same(got_split, expected, expected.size()),
             "fed in %zu pieces: %zu events, the reference %zu; stream '%s'", pieces.size(),
             got_split.size(), expected.size(), Show(stream).c_str());

  const size_t limit = size_t{data[1]} * 4 + 1;
  SseReader limited(limit);
  const std::vector<SseEvent> got_limited = Read(limited, pieces);
  FUZZ_CHECK(
      got_limited.size() <= expected.size() && Same(got_limited, expected, got_limited.size()),
      "limit %zu: not a prefix of the events; stream '%s'", limit, Show(stream).c_str());
  for (const SseEvent& e : got_limited) {
    FUZZ_CHECK(e.data.size() <= limit, "limit %zu: an event of %zu bytes", limit, e.data.size());
  }
  if (limited.status().ok()) {
    FUZZ_CHECK(got_limited.size() == expected.size(), "limit %zu: events lost without an error",
               limit);
  } else {
    FUZZ_CHECK(limited.status().code() == absl::StatusCode::kResourceExhausted, "limit %zu", limit);
    limited.Feed("\n\ndata: x\n\n");
    FUZZ_CHECK(!limited.Next().has_value(), "limit %zu: events after the error", limit);
  }

  const std::vector<const oa::route::Route*>& routes = StreamingRoutes();
  const oa::route::Route& route = *routes[data[0] % routes.size()];
  size_t read = 0;
  for (const SseEvent& e : expected) {
    if (++read > 16) break;
    FUZZ_CHECK(oa::transcode::IsEndOfStream(e) == (e.data == "[DONE]"), "");
    if (oa::transcode::IsEndOfStream(e)) continue;
    std::unique_ptr<google::protobuf::Message> message = NewMessage(*route.method->output_type());
    const oa::transcode::JsonReadResult r = oa::transcode::ReadEvent(e, *message);
    if (e.event == "error") {
      FUZZ_CHECK(r.status.code() == absl::StatusCode::kInternal, "%s: error event read as %s",
                 route.rpc.c_str(), r.status.ToString().c_str());
    } else if (!r.status.ok()) {
      FUZZ_CHECK(r.status.code() == absl::StatusCode::kInternal && !r.status.message().empty(),
                 "%s", route.rpc.c_str());
    }
    FUZZ_CHECK(r.mismatched >= 0, "%s", route.rpc.c_str());
  }
  return 0;
}
