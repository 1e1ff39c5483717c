// Fuzzes WebSocket frame headers (net/websocket.h) as the REST front's relay reads them:
// a byte stream from a client or an upstream, cut anywhere, from which the relay must
// always find the same frame boundaries.
// Input: 2 header bytes seeding the split points (pieces of 1 to 64 bytes), then the stream.
//
// What must hold, besides no crash or undefined behaviour:
//   - the frames found do not depend on how the stream is cut: fed whole and in the
//     seeded pieces, the walk yields the same headers and stops at the same place, with
//     the same verdict (the stream ended, or an invalid header);
//   - a header never claims more than kMaxHeaderBytes, nor more bytes than it was given;
//   - a frame the gateway encodes from a parsed header's fields parses back to them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "net/websocket.h"

namespace oa::fuzz {
namespace {

using net::ws::FrameHeader;
using net::ws::HeaderParse;

struct Walk {
  std::vector<FrameHeader> frames;
  bool invalid = false;
};

// Follows frame boundaries as the relay does: the held bytes are parsed for a header once
// the previous payload has passed; a header cut short waits for more.
class Walker {
 public:
  void Feed(std::string_view piece) {
    held_.append(piece);
    size_t at = 0;
    while (!walk_.invalid && at < held_.size()) {
      if (remaining_ > 0) {
        const uint64_t take = std::min<uint64_t>(remaining_, held_.size() - at);
        at += take;
        remaining_ -= take;
        continue;
      }
      FrameHeader header;
      const std::string_view rest = std::string_view(held_).substr(at);
      const HeaderParse parsed = net::ws::ParseFrameHeader(rest, header);
      if (parsed == HeaderParse::kNeedMore) {
        FUZZ_CHECK(rest.size() < net::ws::kMaxHeaderBytes, "no header in %zu bytes", rest.size());
        break;
      }
      if (parsed == HeaderParse::kInvalid) {
        walk_.invalid = true;
        break;
      }
      FUZZ_CHECK(header.header_bytes <= rest.size() && header.header_bytes <= 14,
                 "a header of %zu bytes in %zu", header.header_bytes, rest.size());
      walk_.frames.push_back(header);
      at += header.header_bytes;
      remaining_ = header.payload_bytes;
    }
    held_.erase(0, at);
  }
  const Walk& walk() const { return walk_; }

 private:
  std::string held_;
  uint64_t remaining_ = 0;
  Walk walk_;
};

bool SameHeader(const FrameHeader& a, const FrameHeader& b) {
  return a.fin == b.fin && a.rsv == b.rsv && a.opcode == b.opcode && a.masked == b.masked &&
         a.mask == b.mask && a.payload_bytes == b.payload_bytes && a.header_bytes == b.header_bytes;
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace oa::fuzz;
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  Walker whole;
  whole.Feed(stream);
  Walker pieces;
  uint32_t seed = data[0] | (data[1] << 8);
  for (size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245 + 12345;
    const size_t n = std::min<size_t>(1 + (seed >> 16) % 64, stream.size() - at);
    pieces.Feed(stream.substr(at, n));
    at += n;
  }
  const Walk& a = whole.walk();
  const Walk& b = pieces.walk();
  FUZZ_CHECK(a.invalid == b.invalid && a.frames.size() == b.frames.size(),
             "the cut changed the walk: %zu frames%s, %zu frames%s", a.frames.size(),
             a.invalid ? " then invalid" : "", b.frames.size(), b.invalid ? " then invalid" : "");
  for (size_t i = 0; i < a.frames.size(); ++i) {
    FUZZ_CHECK(SameHeader(a.frames[i], b.frames[i]), "frame %zu differs", i);
    const FrameHeader& h = a.frames[i];
    if (h.payload_bytes > 4096 || h.rsv != 0 || h.opcode > 0xF) continue;
    const std::string payload(h.payload_bytes, 'z');
    const std::string frame =
        oa::net::ws::EncodeFrame(static_cast<oa::net::ws::Opcode>(h.opcode), h.fin, payload,
                                 h.masked ? std::optional(h.mask) : std::nullopt);
    FrameHeader back;
    FUZZ_CHECK(oa::net::ws::ParseFrameHeader(frame, back) == HeaderParse::kFrame &&
                   back.fin == h.fin && back.opcode == h.opcode && back.masked == h.masked &&
                   back.mask == h.mask && back.payload_bytes == h.payload_bytes,
               "frame %zu does not encode back", i);
  }
  return 0;
}
