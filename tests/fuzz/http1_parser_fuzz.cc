// Fuzzes net::Http1Parser against Beast's own http::parser, which it must agree with on
// every input: its plain path reads the common head itself and leaves everything else
// to Beast, so a difference means it took something Beast reads otherwise (or refuses).
// Input: 2 header bytes, then the message. Header: [0] bit 0 a request (else a response),
// bit 1 a response to HEAD (no body), bits 2-3 the piece size it is put in (whole, 1, 7
// or 64 bytes: whole is where the plain path applies); [1] the body room per put (1-256).
//
// What must hold, besides no crash, leak or undefined behaviour: the same trace (each
// put's error, bytes taken and body bytes; keep-alive, chunked and content length once
// the head is done; the head itself), as tests/unit/parser_trace.h writes it.
#include <cstddef>
#include <cstdint>
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

template <bool isRequest>
void Compare(std::string_view message, size_t step, size_t room, bool skip) {
  const std::vector<std::string> ours = testing::OursTrace<isRequest>(message, step, room, skip);
  const std::vector<std::string> beasts =
      testing::BeastsTrace<isRequest>(message, step, room, skip);
  FUZZ_CHECK(ours == beasts, "ours:\n%s\nBeast's:\n%s", Lines(ours).c_str(), Lines(beasts).c_str());
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool request = (data[0] & 1) != 0;
  const bool skip = !request && (data[0] & 2) != 0;
  const std::string_view message(reinterpret_cast<const char*>(data + 2), size - 2);
  if (message.empty()) return 0;
  static constexpr size_t kSteps[] = {0, 1, 7, 64};
  const size_t step = kSteps[(data[0] >> 2) & 3] == 0 ? message.size() : kSteps[(data[0] >> 2) & 3];
  const size_t room = 1 + data[1];
  if (request) {
    oa::fuzz::Compare<true>(message, step, room, skip);
  } else {
    oa::fuzz::Compare<false>(message, step, room, skip);
  }
  return 0;
}
