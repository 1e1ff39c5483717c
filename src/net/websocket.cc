#include "net/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

namespace oa::net::ws {

HeaderParse ParseFrameHeader(std::string_view bytes, FrameHeader& out) {
  if (bytes.size() < 2) return HeaderParse::kNeedMore;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  FrameHeader h;
  h.fin = (byte(0) & 0x80) != 0;
  h.rsv = byte(0) & 0x70;
  h.opcode = byte(0) & 0x0F;
  h.masked = (byte(1) & 0x80) != 0;
  const uint8_t length7 = byte(1) & 0x7F;
  size_t at = 2;
  if (length7 < 126) {
    h.payload_bytes = length7;
  } else {
    const size_t width = length7 == 126 ? 2 : 8;
    if (bytes.size() < at + width) return HeaderParse::kNeedMore;
    for (size_t i = 0; i < width; ++i) h.payload_bytes = (h.payload_bytes << 8) | byte(at + i);
    at += width;
    if ((h.payload_bytes >> 63) != 0) return HeaderParse::kInvalid;
  }
  if (h.masked) {
    if (bytes.size() < at + 4) return HeaderParse::kNeedMore;
    for (size_t i = 0; i < 4; ++i) h.mask[i] = byte(at + i);
    at += 4;
  }
  if (h.control() && (!h.fin || h.payload_bytes > 125)) return HeaderParse::kInvalid;
  h.header_bytes = at;
  out = h;
  return HeaderParse::kFrame;
}

void ApplyMask(char* data, size_t size, const MaskKey& mask, uint64_t offset) {
  for (size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>(static_cast<uint8_t>(data[i]) ^ mask[(offset + i) % 4]);
  }
}

std::string EncodeFrame(Opcode opcode, bool fin, std::string_view payload,
                        const std::optional<MaskKey>& mask) {
  std::string frame;
  frame.reserve(kMaxHeaderBytes + payload.size());
  frame.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode)));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xFF));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(n >> shift));
  }
  if (mask) frame.append(reinterpret_cast<const char*>(mask->data()), mask->size());
  const size_t start = frame.size();
  frame.append(payload);
  if (mask) ApplyMask(frame.data() + start, payload.size(), *mask);
  return frame;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  // A control frame's payload is at most 125 bytes; a reason cut inside a UTF-8
  // sequence would be invalid, so it is cut at a character's start.
  size_t keep = std::min<size_t>(reason.size(), 123);
  while (keep > 0 && keep < reason.size() && (static_cast<uint8_t>(reason[keep]) & 0xC0) == 0x80) {
    --keep;
  }
  payload.append(reason.substr(0, keep));
  return payload;
}

std::optional<uint16_t> CloseCode(std::string_view payload) {
  if (payload.size() < 2) return std::nullopt;
  return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                               static_cast<uint8_t>(payload[1]));
}

MaskKey RandomMask() {
  MaskKey mask{};
  RAND_bytes(mask.data(), static_cast<int>(mask.size()));
  return mask;
}

namespace {
std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}
}  // namespace

std::string NewHandshakeKey() {
  unsigned char key[16];
  RAND_bytes(key, sizeof key);
  return Base64(key, sizeof key);
}

std::string HandshakeAccept(std::string_view key) {
  constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text(key);
  text += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return Base64(digest, sizeof digest);
}

}  // namespace oa::net::ws
