#include "net/client_hello.h"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace oa::net {
namespace {

// Wire constants of RFC 8446 (TLS 1.3, which keeps the 1.2 layout for the hello) and
// RFC 7301 (ALPN).
constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kRecordMajorVersion = 3;  // every TLS version's records say 3.x
constexpr size_t kRecordHeaderBytes = 5;    // type, version (2), length (2)
constexpr size_t kMaxRecordPayload = 1 << 14;
constexpr uint8_t kClientHelloMessage = 1;
constexpr size_t kMessageHeaderBytes = 4;  // type, length (3)
constexpr uint32_t kAlpnExtension = 16;

// Reads big-endian integers and length-prefixed vectors off the front of a byte string.
// A read past the end fails, empties the reader and stays failed, so a chain of reads is
// checked once, after it.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool ok() const { return ok_; }
  size_t size() const { return rest_.size(); }

  uint32_t Uint(size_t width) {
    if (rest_.size() < width) return Fail(), 0;
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) value = value << 8 | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(width);
    return value;
  }

  std::string_view Bytes(size_t n) {
    if (rest_.size() < n) return Fail(), std::string_view();
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

  // A vector of TLS's presentation language: a `width`-byte length, then that many bytes.
  std::string_view Vector(size_t width) { return Bytes(Uint(width)); }

 private:
  void Fail() {
    ok_ = false;
    rest_ = {};
  }

  std::string_view rest_;
  bool ok_ = true;
};

ClientHello Result(ClientHello::State state) { return ClientHello{state, {}}; }

// ProtocolNameList: a list (2-byte length) of names (1-byte length), none empty.
bool ParseAlpn(std::string_view extension_data, std::vector<std::string>& names) {
  Reader extension(extension_data);
  Reader list(extension.Vector(2));
  if (!extension.ok() || extension.size() != 0 || list.size() == 0) return false;
  while (list.size() > 0) {
    const std::string_view name = list.Vector(1);
    if (!list.ok() || name.empty()) return false;
    names.emplace_back(name);
  }
  return true;
}

// The body of a whole ClientHello message (after its 4-byte header).
ClientHello ParseHelloBody(std::string_view body) {
  Reader hello(body);
  hello.Uint(2);    // legacy_version
  hello.Bytes(32);  // random
  hello.Vector(1);  // legacy_session_id
  hello.Vector(2);  // cipher_suites
  hello.Vector(1);  // legacy_compression_methods
  if (!hello.ok()) return Result(ClientHello::State::kNotTls);
  ClientHello out = Result(ClientHello::State::kComplete);
  if (hello.size() == 0) return out;  // hellos older than TLS 1.2 may carry no extensions
  Reader extensions(hello.Vector(2));
  while (extensions.size() > 0) {
    const uint32_t type = extensions.Uint(2);
    const std::string_view data = extensions.Vector(2);
    if (extensions.ok() && type == kAlpnExtension && !ParseAlpn(data, out.alpn)) {
      return Result(ClientHello::State::kNotTls);
    }
  }
  if (!hello.ok() || !extensions.ok()) return Result(ClientHello::State::kNotTls);
  return out;
}

// The size of the handshake message that starts `message`, header included, once its
// header is there.
std::optional<size_t> MessageSize(std::string_view message) {
  if (message.size() < kMessageHeaderBytes) return std::nullopt;
  Reader header(message);
  header.Uint(1);
  return kMessageHeaderBytes + header.Uint(3);
}

}  // namespace

ClientHello ParseClientHello(std::string_view bytes) {
  // The hello message, joined from the payloads of the records that carry it. Each check
  // is made as soon as its byte is there, so plaintext is told apart on its first byte.
  std::string message;
  for (;;) {
    if (!message.empty() && static_cast<uint8_t>(message[0]) != kClientHelloMessage) {
      return Result(ClientHello::State::kNotTls);
    }
    if (const std::optional<size_t> size = MessageSize(message); size && message.size() >= *size) {
      return ParseHelloBody(
          std::string_view(message).substr(kMessageHeaderBytes, *size - kMessageHeaderBytes));
    }
    if (bytes.empty()) return Result(ClientHello::State::kIncomplete);
    if (static_cast<uint8_t>(bytes[0]) != kHandshakeRecord ||
        (bytes.size() > 1 && static_cast<uint8_t>(bytes[1]) != kRecordMajorVersion)) {
      return Result(ClientHello::State::kNotTls);
    }
    if (bytes.size() < kRecordHeaderBytes) return Result(ClientHello::State::kIncomplete);
    Reader header(bytes.substr(0, kRecordHeaderBytes));
    header.Uint(3);  // type and version, checked above
    const size_t length = header.Uint(2);
    if (length == 0 || length > kMaxRecordPayload) return Result(ClientHello::State::kNotTls);
    bytes.remove_prefix(kRecordHeaderBytes);
    const size_t here = std::min(length, bytes.size());  // the last record may be cut short
    message.append(bytes.substr(0, here));
    bytes.remove_prefix(here);
  }
}

bool OffersOnlyHttp2(const std::vector<std::string>& alpn) {
  const auto offers = [&](std::string_view name) {
    return std::find(alpn.begin(), alpn.end(), name) != alpn.end();
  };
  return (offers("h2") || offers("grpc-exp")) && !offers("http/1.1");
}

}  // namespace oa::net
