// WebSocket framing (RFC 6455, section 5): what the gateway reads of frames that pass
// through it, and the few frames it writes itself.
//
// The REST front relays a WebSocket byte for byte; it parses only frame headers, so that
// it knows where frames begin (to end a session at a boundary) and can count them. The
// gRPC front speaks WebSocket to the upstream itself, with whole frames.
//
//   FrameHeader header;
//   switch (ParseFrameHeader(bytes, header)) {
//     case HeaderParse::kNeedMore: ... read more; a header is at most kMaxHeaderBytes
//     case HeaderParse::kInvalid:  ... not WebSocket: end the session
//     case HeaderParse::kFrame:    ... header.header_bytes, then header.payload_bytes
//   }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oa::net::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes the gateway sends itself (RFC 6455, 7.4.1).
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;

// Two bytes, an extended length of up to eight, a masking key of four.
inline constexpr size_t kMaxHeaderBytes = 14;

using MaskKey = std::array<uint8_t, 4>;

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;  // RSV1..3 as the three high bits of the first byte (RSV1: compressed)
  uint8_t opcode = 0;
  bool masked = false;
  MaskKey mask{};
  uint64_t payload_bytes = 0;
  size_t header_bytes = 0;

  bool control() const { return (opcode & 0x8) != 0; }
};

enum class HeaderParse { kNeedMore, kInvalid, kFrame };

// Reads the frame header at the start of `bytes`. kInvalid: a length whose top bit is
// set, or a control frame that is fragmented or longer than 125 bytes (either would
// leave the relay unable to tell where the next frame begins, or break RFC 6455 in a way
// no endpoint accepts). Opcodes and RSV bits are not judged: extensions may use them.
HeaderParse ParseFrameHeader(std::string_view bytes, FrameHeader& out);

// XORs `data` with `mask`, `offset` being the position of data[0] in the payload.
void ApplyMask(char* data, size_t size, const MaskKey& mask, uint64_t offset = 0);

// A whole frame: header, then `payload` (masked with `mask` if given: a client's frames
// are masked, a server's are not).
std::string EncodeFrame(Opcode opcode, bool fin, std::string_view payload,
                        const std::optional<MaskKey>& mask = std::nullopt);

// A Close frame's payload: the code, then the reason (cut to fit a control frame).
std::string ClosePayload(uint16_t code, std::string_view reason);

// The code of a Close frame's (unmasked) payload; nullopt when it carries none.
std::optional<uint16_t> CloseCode(std::string_view payload);

// A masking key from the process's random source.
MaskKey RandomMask();

// A client's Sec-WebSocket-Key: 16 random bytes in base64.
std::string NewHandshakeKey();
// The Sec-WebSocket-Accept a server answers to `key` (RFC 6455, 4.2.2).
std::string HandshakeAccept(std::string_view key);

}  // namespace oa::net::ws
