// ParseClientHello on the hellos OpenSSL's client really sends and on hand-made ones:
// the ALPN offered, hellos arriving piece by piece or over several records, and bytes
// that are not a hello at all. OffersOnlyHttp2: the rule that routes to gRPC.
#include "net/client_hello.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/first_bytes.h"

namespace oa::net {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using State = ClientHello::State;

// The first bytes OpenSSL's client sends on a connection, offering `alpn` (nothing when
// empty): a ClientHello in one record.
std::string OpenSslHello(const std::vector<std::string>& alpn) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                            SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), SSL_free);
  std::string wire;
  for (const std::string& name : alpn) wire += static_cast<char>(name.size()) + name;
  if (!wire.empty()) {
    EXPECT_EQ(SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                  static_cast<unsigned int>(wire.size())),
              0);
  }
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), BIO_new(BIO_s_mem()), out);  // owned by ssl from here
  EXPECT_EQ(SSL_connect(ssl.get()), -1);              // sent its hello, waits for the server's
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<size_t>(size));
}

// A vector of TLS's presentation language: a `width`-byte big-endian length, then `bytes`.
std::string Vector(size_t width, std::string_view bytes) {
  std::string out;
  for (size_t i = width; i-- > 0;) out += static_cast<char>(bytes.size() >> (8 * i) & 0xff);
  return out.append(bytes);
}

std::string Uint16(unsigned value) {
  return {static_cast<char>(value >> 8), static_cast<char>(value)};
}

std::string Extension(unsigned type, std::string_view data) {
  return Uint16(type) + Vector(2, data);
}

std::string Alpn(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += Vector(1, name);
  return Extension(16, Vector(2, list));
}

// A ClientHello message, header included, with `extensions` (none at all when nullopt).
std::string HelloMessage(const std::optional<std::string>& extensions) {
  std::string body = Uint16(0x0303) + std::string(32, 'r') + Vector(1, "") +
                     Vector(2, Uint16(0x1301)) + Vector(1, std::string(1, '\0'));
  if (extensions) body += Vector(2, *extensions);
  return "\x01" + Vector(3, body);
}

// `message` in handshake records of at most `record_size` bytes of payload each.
std::string Records(std::string_view message, size_t record_size = 1 << 14) {
  std::string out;
  for (size_t at = 0; at < message.size(); at += record_size) {
    out += "\x16\x03\x01" + Vector(2, message.substr(at, record_size));
  }
  return out;
}

TEST(ClientHello, OpenSslOfferingOnlyH2GoesToGrpc) {
  const ClientHello hello = ParseClientHello(OpenSslHello({"h2"}));
  EXPECT_EQ(hello.state, State::kComplete);
  EXPECT_THAT(hello.alpn, ElementsAre("h2"));
  EXPECT_TRUE(OffersOnlyHttp2(hello.alpn));
}

TEST(ClientHello, OpenSslOfferingH2AndHttp11StaysRest) {
  const ClientHello hello = ParseClientHello(OpenSslHello({"h2", "http/1.1"}));
  EXPECT_EQ(hello.state, State::kComplete);
  EXPECT_THAT(hello.alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_FALSE(OffersOnlyHttp2(hello.alpn));
}

TEST(ClientHello, OpenSslWithoutAlpnStaysRest) {
  const ClientHello hello = ParseClientHello(OpenSslHello({}));
  EXPECT_EQ(hello.state, State::kComplete);
  EXPECT_THAT(hello.alpn, IsEmpty());
  EXPECT_FALSE(OffersOnlyHttp2(hello.alpn));
}

TEST(ClientHello, GrpcCoreOfferingGrpcExpAndH2GoesToGrpc) {
  const ClientHello hello = ParseClientHello(OpenSslHello({"grpc-exp", "h2"}));
  EXPECT_THAT(hello.alpn, ElementsAre("grpc-exp", "h2"));
  EXPECT_TRUE(OffersOnlyHttp2(hello.alpn));
}

TEST(ClientHello, OnlyHttp2WithoutHttp11RoutesToGrpc) {
  EXPECT_TRUE(OffersOnlyHttp2({"h2"}));
  EXPECT_TRUE(OffersOnlyHttp2({"grpc-exp"}));
  EXPECT_TRUE(OffersOnlyHttp2({"h2", "h3"}));
  EXPECT_FALSE(OffersOnlyHttp2({}));
  EXPECT_FALSE(OffersOnlyHttp2({"http/1.1"}));
  EXPECT_FALSE(OffersOnlyHttp2({"http/1.1", "h2"}));
  EXPECT_FALSE(OffersOnlyHttp2({"h2", "http/1.1"}));
  EXPECT_FALSE(OffersOnlyHttp2({"h2c"}));
  EXPECT_FALSE(OffersOnlyHttp2({"H2"}));
}

TEST(ClientHello, EveryPrefixNeedsMoreBytes) {
  const std::string hello = OpenSslHello({"h2"});
  for (size_t n = 0; n < hello.size(); ++n) {
    EXPECT_EQ(ParseClientHello(std::string_view(hello).substr(0, n)).state, State::kIncomplete)
        << n << " of " << hello.size() << " bytes";
  }
}

TEST(ClientHello, HelloOverSeveralRecords) {
  const std::string message = OpenSslHello({"h2"}).substr(5);  // without its record header
  for (size_t record_size : {1, 7, 100, 256}) {
    const std::string records = Records(message, record_size);
    const ClientHello hello = ParseClientHello(records);
    EXPECT_EQ(hello.state, State::kComplete) << record_size;
    EXPECT_THAT(hello.alpn, ElementsAre("h2")) << record_size;
    EXPECT_EQ(ParseClientHello(std::string_view(records).substr(0, records.size() - 1)).state,
              State::kIncomplete)
        << record_size;
  }
}

TEST(ClientHello, BytesAfterTheHelloAreIgnored) {
  const std::string change_cipher_spec("\x14\x03\x03\x00\x01\x01", 6);
  const ClientHello hello = ParseClientHello(OpenSslHello({"h2"}) + change_cipher_spec + "junk");
  EXPECT_EQ(hello.state, State::kComplete);
  EXPECT_THAT(hello.alpn, ElementsAre("h2"));
}

TEST(ClientHello, HandMadeHelloWithAlpnAmongOtherExtensions) {
  const std::string extensions =
      Extension(0, "sni-data") + Alpn({"h2", "http/1.1"}) + Extension(43, Vector(1, "\x03\x04"));
  const ClientHello hello = ParseClientHello(Records(HelloMessage(extensions)));
  EXPECT_EQ(hello.state, State::kComplete);
  EXPECT_THAT(hello.alpn, ElementsAre("h2", "http/1.1"));
}

TEST(ClientHello, HelloWithoutExtensionsHasNoAlpn) {
  for (const std::optional<std::string>& extensions :
       {std::optional<std::string>(), std::optional<std::string>("")}) {
    const ClientHello hello = ParseClientHello(Records(HelloMessage(extensions)));
    EXPECT_EQ(hello.state, State::kComplete);
    EXPECT_THAT(hello.alpn, IsEmpty());
  }
}

TEST(ClientHello, PlaintextIsToldOnItsFirstByte) {
  for (const std::string_view bytes :
       {"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "G", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "\r\n",
        "\x80\x2e\x01\x03\x01"}) {
    EXPECT_EQ(ParseClientHello(bytes).state, State::kNotTls) << bytes;
  }
}

TEST(ClientHello, RecordsThatCannotCarryAHelloAreNotTls) {
  const std::string message = HelloMessage(Alpn({"h2"}));
  const std::string alert("\x15\x03\x01\x00\x02\x02\x28", 7);
  const std::string old_version = std::string("\x16\x02\x00", 3) + Vector(2, message);
  const std::string empty_record("\x16\x03\x01\x00\x00", 5);
  const std::string oversized_record("\x16\x03\x01\x40\x01", 5);  // 2^14 + 1 bytes
  const std::string server_hello = Records("\x02" + message.substr(1));
  for (const std::string& bytes :
       {alert, old_version, empty_record, oversized_record, server_hello}) {
    EXPECT_EQ(ParseClientHello(bytes).state, State::kNotTls) << ::testing::PrintToString(bytes);
  }
}

TEST(ClientHello, MalformedHellosAreNotTls) {
  const std::string cut_body = "\x01" + Vector(3, Uint16(0x0303) + std::string(10, 'r'));
  const std::string extension_past_the_end =
      HelloMessage(Uint16(16) + Uint16(200) + Vector(2, Vector(1, "h2")));
  const std::string empty_name = HelloMessage(Alpn({"h2", ""}));
  const std::string empty_list = HelloMessage(Extension(16, Vector(2, "")));
  const std::string list_longer_than_extension =
      HelloMessage(Extension(16, Uint16(9) + Vector(1, "h2")));
  const std::string bytes_after_list =
      HelloMessage(Extension(16, Vector(2, Vector(1, "h2")) + "x"));
  for (const std::string& message : {cut_body, extension_past_the_end, empty_name, empty_list,
                                     list_longer_than_extension, bytes_after_list}) {
    EXPECT_EQ(ParseClientHello(Records(message)).state, State::kNotTls)
        << ::testing::PrintToString(message);
  }
}

TEST(ClientHello, DamagedHellosAreParsedSafely) {
  // Every byte of a real hello changed to a few telling values, whole and cut after it:
  // whatever the state, the parser stays inside its input (ASan builds check that) and
  // never returns an empty protocol name.
  const std::string hello = OpenSslHello({"h2", "http/1.1"});
  for (size_t i = 0; i < hello.size(); ++i) {
    for (const char value : {'\x00', '\x01', '\x7f', '\xff'}) {
      std::string damaged = hello;
      damaged[i] = value;
      for (const std::string_view bytes :
           {std::string_view(damaged), std::string_view(damaged).substr(0, i + 1)}) {
        for (const std::string& name : ParseClientHello(bytes).alpn)
          EXPECT_FALSE(name.empty()) << i;
      }
    }
  }
}

// The worker's choice of front from a connection's first bytes (worker/first_bytes.h).
TEST(FirstBytes, PlaintextHttp2OnlyByTheWholePreface) {
  using worker::Protocol;
  using worker::SeenProtocol;
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  EXPECT_EQ(SeenProtocol(preface, false), Protocol::kHttp2);
  EXPECT_EQ(SeenProtocol(preface + "\x00\x00\x12\x04", false), Protocol::kHttp2);
  for (size_t n = 0; n < preface.size(); ++n) {
    EXPECT_EQ(SeenProtocol(preface.substr(0, n), false), std::nullopt) << n;  // not yet told
  }
  EXPECT_EQ(SeenProtocol("GET / HTTP/1.1\r\n", false), Protocol::kHttp1);
  EXPECT_EQ(SeenProtocol("P", false), std::nullopt);
  EXPECT_EQ(SeenProtocol("POST /v1/x HTTP/1.1", false), Protocol::kHttp1);  // parts at 'O'
  EXPECT_EQ(SeenProtocol("PRI * HTTP/1.1\r\n", false), Protocol::kHttp1);
}

TEST(FirstBytes, TlsHttp2OnlyWhenTheHelloOffersOnlyH2) {
  using worker::Protocol;
  using worker::SeenProtocol;
  EXPECT_EQ(SeenProtocol(OpenSslHello({"h2"}), true), Protocol::kHttp2);
  EXPECT_EQ(SeenProtocol(OpenSslHello({"h2", "http/1.1"}), true), Protocol::kHttp1);
  EXPECT_EQ(SeenProtocol(OpenSslHello({"http/1.1"}), true), Protocol::kHttp1);
  EXPECT_EQ(SeenProtocol(OpenSslHello({}), true), Protocol::kHttp1);
  const std::string hello = OpenSslHello({"h2"});
  EXPECT_EQ(SeenProtocol(hello.substr(0, hello.size() - 1), true), std::nullopt);
  EXPECT_EQ(SeenProtocol("GET / HTTP/1.1\r\n", true), Protocol::kHttp1);  // not TLS at all
  // A record header announcing more than a record may hold is not waited for.
  EXPECT_EQ(SeenProtocol(std::string("\x16\x03\x01\xff\xff", 5) + std::string(20000, 'x'), true),
            Protocol::kHttp1);
}

}  // namespace
}  // namespace oa::net
