// Fuzzes net::Http1Parser against Beast's own http::parser, which it must agree with on
// every input: its plain path reads the common head itself and leaves everything else
// to Beast, so a difference means it took something Beast reads otherwise (or refuses).
// A chunked body is read by net::ChunkedBody, which is stricter than Beast on purpose.
// Input: 3 header bytes, then the message. Header: [0] bit 0 a request (else a response),
// bit 1 a response to HEAD (no body), bits 2-3 the piece size it is put in (whole, 1, 7
// or 64 bytes: whole is where the plain path applies); [1] the body room per put (1-256);
// [2] the head limit, 16 to 4096 bytes, small enough for short inputs to pass it (10
// minutes of fuzzing with 8 KiB never showed that chunk framing had no bound at all).
//
// What must hold, besides no crash, leak or undefined behaviour:
//   - the same trace (each put's error, bytes taken and body bytes; keep-alive, chunked
//     and content length once the head is done; the head itself), as
//     tests/unit/parser_trace.h writes it, except for a chunked body, where the parsers
//     may differ only as ChunkedBody means to: it refuses (a chunk-size line or trailers
//     past the head limit, a control character in a quoted extension, a folded trailer)
//     what Beast takes or waits on, after giving a prefix of the body Beast gives; it
//     never takes what Beast refuses, and a body both read whole is the same, to the byte;
//   - our parser never asks for more while leaving more than the head limit unread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../unit/parser_trace.h"
#include "fuzz_support.h"

namespace oa::fuzz {
namespace {

std::string Lines(const std::vector<std::string>& trace) {
  std::string out;
  for (const std::string& line : trace) out += line + "\n";
  return out;
}

// A chunked body's line: "chunked body [BYTES] END, took N".
struct ChunkedLine {
  std::string body;
  std::string end;
};

std::optional<ChunkedLine> ReadChunkedLine(const std::string& line) {
  constexpr std::string_view kStart = "chunked body [";
  if (!line.starts_with(kStart)) return std::nullopt;
  const size_t close = line.rfind("] ");
  const size_t took = line.rfind(", took ");
  if (close == std::string::npos || took == std::string::npos || took < close) return std::nullopt;
  return ChunkedLine{line.substr(kStart.size(), close - kStart.size()),
                     line.substr(close + 2, took - close - 2)};
}

// Where ChunkedBody refuses what Beast reads (or waits on): the errors it gives then. A
// line or trailers past the limit; a control character in a quoted extension; a folded
// trailer line.
bool StricterOnPurpose(std::string_view end) {
  return end == "header limit exceeded" || end == "bad chunk extension" || end == "bad field";
}

template <bool isRequest>
void Compare(std::string_view message, size_t step, size_t room, bool skip, uint32_t limit) {
  size_t held = 0;
  const std::vector<std::string> ours =
      testing::OursTrace<isRequest>(message, step, room, skip, limit, &held);
  FUZZ_CHECK(held <= limit, "our parser asked for more holding %zu bytes, past the limit %u", held,
             limit);
  const std::vector<std::string> beasts =
      testing::BeastsTrace<isRequest>(message, step, room, skip, limit);
  if (ours == beasts) return;
  // Only a chunked body may differ, and only as ChunkedBody means to.
  bool same_elsewhere = ours.size() == beasts.size();
  std::optional<ChunkedLine> mine, theirs;
  for (size_t i = 0; same_elsewhere && i < ours.size(); ++i) {
    if (ours[i] == beasts[i]) continue;
    mine = ReadChunkedLine(ours[i]);
    theirs = ReadChunkedLine(beasts[i]);
    same_elsewhere = mine && theirs;
  }
  FUZZ_CHECK(same_elsewhere && mine && theirs, "ours:\n%s\nBeast's:\n%s", Lines(ours).c_str(),
             Lines(beasts).c_str());
  const std::string both = "ours:\n" + Lines(ours) + "\nBeast's:\n" + Lines(beasts);
  FUZZ_CHECK(mine->end != "complete", "ours read a chunked body as Beast does not:\n%s",
             both.c_str());
  const bool beast_read_it = theirs->end == "complete";
  FUZZ_CHECK(!beast_read_it || StricterOnPurpose(mine->end),
             "ours refused a chunked body that Beast reads, otherwise than on purpose:\n%s",
             both.c_str());
  // Up to where either stopped, both read the same bytes.
  FUZZ_CHECK(theirs->body.starts_with(mine->body) ||
                 (!beast_read_it && mine->body.starts_with(theirs->body)),
             "the chunked bodies differ before either stopped:\n%s", both.c_str());
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const bool request = (data[0] & 1) != 0;
  const bool skip = !request && (data[0] & 2) != 0;
  const std::string_view message(reinterpret_cast<const char*>(data + 3), size - 3);
  if (message.empty()) return 0;
  static constexpr size_t kSteps[] = {0, 1, 7, 64};
  const size_t step = kSteps[(data[0] >> 2) & 3] == 0 ? message.size() : kSteps[(data[0] >> 2) & 3];
  const size_t room = 1 + data[1];
  const uint32_t limit = 16 + 16 * static_cast<uint32_t>(data[2]);
  if (request) {
    oa::fuzz::Compare<true>(message, step, room, skip, limit);
  } else {
    oa::fuzz::Compare<false>(message, step, room, skip, limit);
  }
  return 0;
}
