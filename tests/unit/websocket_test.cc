// WebSocket framing (net/websocket.h): what the relay and the gRPC front's client read of
// frames, and the frames they write.
#include "net/websocket.h"

#include <gtest/gtest.h>

#include <string>

namespace oa::net::ws {
namespace {

TEST(WebSocketFrames, EveryLengthFormParsesBackAsEncoded) {
  for (const uint64_t length : {0ull, 1ull, 125ull, 126ull, 65535ull, 65536ull, 100000ull}) {
    const std::string payload(length, 'x');
    for (const bool masked : {false, true}) {
      const std::optional<MaskKey> mask =
          masked ? std::optional(MaskKey{9, 8, 7, 6}) : std::nullopt;
      const std::string frame = EncodeFrame(Opcode::kBinary, true, payload, mask);
      FrameHeader header;
      ASSERT_EQ(ParseFrameHeader(frame, header), HeaderParse::kFrame) << length;
      EXPECT_TRUE(header.fin);
      EXPECT_EQ(header.opcode, static_cast<uint8_t>(Opcode::kBinary));
      EXPECT_EQ(header.masked, masked);
      EXPECT_EQ(header.payload_bytes, length);
      EXPECT_EQ(header.header_bytes + length, frame.size());
      std::string body = frame.substr(header.header_bytes);
      if (masked) ApplyMask(body.data(), body.size(), header.mask);
      EXPECT_EQ(body, payload);
    }
  }
}

TEST(WebSocketFrames, AHeaderCutAnywhereAsksForMore) {
  const std::string frame =
      EncodeFrame(Opcode::kText, false, std::string(70000, 'y'), MaskKey{1, 2, 3, 4});
  FrameHeader header;
  for (size_t cut = 0; cut < 14; ++cut) {
    EXPECT_EQ(ParseFrameHeader(std::string_view(frame).substr(0, cut), header),
              HeaderParse::kNeedMore)
        << cut;
  }
  EXPECT_EQ(ParseFrameHeader(std::string_view(frame).substr(0, 14), header), HeaderParse::kFrame);
  EXPECT_FALSE(header.fin);
}

TEST(WebSocketFrames, LengthsAndControlFramesNoEndpointAcceptsAreInvalid) {
  FrameHeader header;
  // A 64-bit length with its top bit set.
  const std::string huge = std::string("\x82\x7f\x80", 3) + std::string(7, '\0');
  EXPECT_EQ(ParseFrameHeader(huge, header), HeaderParse::kInvalid);
  // A ping of 126 bytes; a fragmented close.
  const std::string long_ping = EncodeFrame(Opcode::kPing, true, std::string(126, 'p'));
  EXPECT_EQ(ParseFrameHeader(long_ping, header), HeaderParse::kInvalid);
  const std::string fragmented_close = EncodeFrame(Opcode::kClose, false, "");
  EXPECT_EQ(ParseFrameHeader(fragmented_close, header), HeaderParse::kInvalid);
  // RSV bits and unknown opcodes are an extension's business, not the parser's.
  const std::string rsv1("\xc1\x00", 2);
  EXPECT_EQ(ParseFrameHeader(rsv1, header), HeaderParse::kFrame);
  EXPECT_EQ(header.rsv, 0x40);
}

TEST(WebSocketFrames, MaskingFollowsThePayloadOffset) {
  const MaskKey mask{0x11, 0x22, 0x33, 0x44};
  std::string data = "abcdefghij";
  std::string whole = data;
  ApplyMask(whole.data(), whole.size(), mask);
  std::string in_pieces = data;
  ApplyMask(in_pieces.data(), 3, mask, 0);
  ApplyMask(in_pieces.data() + 3, 7, mask, 3);
  EXPECT_EQ(in_pieces, whole);
}

TEST(WebSocketFrames, AClosePayloadKeepsItsCodeAndCutsItsReasonAtACharacter) {
  EXPECT_EQ(CloseCode(ClosePayload(1001, "going away")), 1001);
  EXPECT_EQ(ClosePayload(1000, "").size(), 2u);
  EXPECT_EQ(CloseCode(""), std::nullopt);
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xc3\xa9";  // é, two bytes each
  const std::string payload = ClosePayload(4000, reason);
  EXPECT_LE(payload.size(), 125u);
  EXPECT_EQ((payload.size() - 2) % 2, 0u);  // no é cut in half
}

TEST(WebSocketFrames, TheHandshakeAcceptIsRfc6455s) {
  EXPECT_EQ(HandshakeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const std::string key = NewHandshakeKey();
  EXPECT_EQ(key.size(), 24u);
  EXPECT_NE(key, NewHandshakeKey());
}

}  // namespace
}  // namespace oa::net::ws
