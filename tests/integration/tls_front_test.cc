// TLS on the front, through the real binary: one TLS port serves REST (HTTP/1.1) and gRPC,
// told apart by the ClientHello's ALPN; clients offering both h2 and http/1.1 get
// http/1.1; plaintext is closed at once; drain still closes idle TLS connections; a bad
// certificate or key stops start-up with one line; the private key never reaches the log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fixture.h"
#include "grpc_client.h"
#include "test_certs.h"

namespace oa::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

const std::pair<std::string, std::string> kKeyMetadata = {"authorization",
                                                          std::string("Bearer ") + kKey};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A blocking HTTP/1.1 client over TLS, as a REST client of the gateway is: it trusts the
// test CA, checks the name "localhost" and offers `alpn` (no ALPN when empty).
class TlsClient {
 public:
  TlsClient(uint16_t port, const std::vector<std::string>& alpn)
      : context_(ssl::context::tls_client), stream_(io_, context_) {
    context_.load_verify_file(TestCertFile("ca.pem"));
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    std::string wire;
    for (const std::string& name : alpn) wire += static_cast<char>(name.size()) + name;
    if (!wire.empty()) {
      SSL_set_alpn_protos(stream_.native_handle(),
                          reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned int>(wire.size()));
    }
    stream_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream_.handshake(ssl::stream_base::client, handshake_error_);
  }

  const boost::system::error_code& handshake_error() const { return handshake_error_; }

  // The protocol the server's ALPN chose, "" for none.
  std::string alpn() {
    const unsigned char* name = nullptr;
    unsigned int size = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &name, &size);
    return std::string(reinterpret_cast<const char*>(name), size);
  }

  void Send(std::string_view method, std::string_view target, const Headers& headers,
            std::string_view body = {}) {
    std::string raw = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    raw += "Host: localhost\r\n";
    for (const auto& [name, value] : headers) raw += name + ": " + value + "\r\n";
    if (!body.empty()) raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    raw += "\r\n";
    raw += body;
    asio::write(stream_, asio::buffer(raw), write_error_);
  }

  Reply Read() {
    Reply reply;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(boost::none);
    boost::system::error_code ec = write_error_;
    if (!ec) bhttp::read(stream_, buffer_, parser, ec);
    if (parser.is_header_done()) {
      reply.status = parser.get().result_int();
      for (const auto& field : parser.get()) {
        reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
    }
    reply.body = parser.get().body();
    reply.complete = !ec && parser.is_done();
    if (ec) reply.error = ec.message();
    return reply;
  }

  Reply Call(std::string_view method, std::string_view target, const Headers& headers,
             std::string_view body = {}) {
    Send(method, target, headers, body);
    return Read();
  }

  // Sends TLS close_notify, and only that: the TCP connection stays open. (The shutdown
  // then waits for the server's close_notify; the loop gives up on that after a moment.)
  void SendCloseNotify() {
    stream_.async_shutdown([](const boost::system::error_code&) {});
    io_.run_for(milliseconds(200));
  }

  // Whatever the next read brings (the start of an answer, say).
  std::string ReadSome() {
    char bytes[4096];
    boost::system::error_code ec;
    const size_t n = stream_.read_some(asio::buffer(bytes), ec);
    return std::string(bytes, n);
  }

 private:
  asio::io_context io_;
  ssl::context context_;
  ssl::stream<asio::ip::tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code handshake_error_;
  boost::system::error_code write_error_;
};

std::shared_ptr<grpc::ChannelCredentials> TrustingTestCa() {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(TestCertFile("ca.pem"));
  return grpc::SslCredentials(options);
}

GrpcResult ListModels(GrpcClient& client) {
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  return client.Call("/" + rpc, client.NewRequest(rpc)->SerializeAsString(), {{kKeyMetadata}});
}

class TlsFront : public GatewayTest {
 protected:
  void SetUp() override { StartTls({}); }

  void StartTls(std::vector<std::string> extra_args) {
    std::vector<std::string> args = {"--tls-cert",
                                     TestCertFile("good.pem"),
                                     "--tls-key",
                                     TestCertFile("good.key"),
                                     "--client-header-timeout",
                                     "2s"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    StartAll(args);
  }
};

class TlsFrontGrpcListen : public TlsFront {
 protected:
  void SetUp() override { StartTls({"--grpc-listen", "127.0.0.1:0"}); }
};

TEST_F(TlsFront, RestOverTlsRelaysCallsAndAnswersHealth) {
  TlsClient client(gateway_->port(), {"http/1.1"});
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.alpn(), "http/1.1");
  const Reply health = client.Call("GET", "/health", {});
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "OpenAI API Server is running");

  // Big enough to span many TLS records each way.
  std::string input(300 * 1024, 'x');
  for (size_t i = 0; i < input.size(); i += 7) input[i] = static_cast<char>('a' + i % 26);
  const std::string body = R"({"model":"text-embedding-3-small","input":")" + input + "\"}";
  const Reply reply = client.Call("POST", "/v1/embeddings", kAuth, body);  // same connection
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_TRUE(reply.complete) << reply.error;
  EXPECT_THAT(reply.body, HasSubstr("\"embedding\""));
  ASSERT_EQ(mock_->requests().size(), 1u);
  const mock::RecordedRequest seen = mock_->requests().front();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/v1/embeddings");
  EXPECT_EQ(seen.body_prefix, body);
  EXPECT_EQ(seen.header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(reply.header("x-request-id"), seen.request_id);
}

TEST_F(TlsFront, StreamedAnswerThenAnotherCallOnOneConnection) {
  // While an answer streams, the gateway also reads the client (to see it leave); that
  // read is cancelled when the answer ends, and the TLS stream must carry on after it.
  TlsClient client(gateway_->port(), {"http/1.1"});
  Headers headers = kAuth;
  headers.push_back({"x-mock-sse-events", "4"});
  headers.push_back({"x-mock-sse-interval-ms", "100"});
  const Reply stream = client.Call("POST", "/v1/chat/completions", headers, R"({"stream":true})");
  EXPECT_EQ(stream.status, 200);
  EXPECT_TRUE(stream.complete) << stream.error;
  EXPECT_THAT(stream.body, HasSubstr("tok0"));
  EXPECT_THAT(stream.body, ::testing::EndsWith("data: [DONE]\n\n"));
  const Reply next = client.Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(next.status, 200);
  EXPECT_TRUE(next.complete) << next.error;
  EXPECT_EQ(mock_->requests().size(), 2u);
}

TEST_F(TlsFront, ClientLeavingMidStreamClosesTheUpstreamCall) {
  {
    TlsClient client(gateway_->port(), {"http/1.1"});
    Headers headers = kAuth;
    headers.push_back({"x-mock-sse-events", "1000"});
    headers.push_back({"x-mock-sse-interval-ms", "2000"});
    client.Send("POST", "/v1/chat/completions", headers, R"({"stream":true})");
    std::string seen;
    while (seen.find("tok0") == std::string::npos) {
      const std::string more = client.ReadSome();
      ASSERT_FALSE(more.empty()) << seen;
      seen += more;
    }
  }  // gone, without a TLS close_notify
  // The mock's next event is 2 s away: only the gateway closing the call tells it sooner.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(1500)));
}

// A TLS client that ends its session cleanly (close_notify, the TCP connection still
// open) while the upstream thinks: the gateway reads the alert through TLS and ends the
// upstream call, rather than waiting for the answer.
TEST_F(TlsFront, ClientClosingTlsBeforeTheAnswerClosesTheUpstreamCall) {
  TlsClient client(gateway_->port(), {"http/1.1"});
  Headers headers = kAuth;
  headers.push_back({"x-mock-delay-ms", "5000"});
  client.Send("POST", "/v1/chat/completions", headers, R"({"model":"m","messages":[]})");
  ASSERT_TRUE(
      mock::MockOpenAI::WaitFor([&] { return mock_->requests().size() == 1; }, milliseconds(3000)));
  client.SendCloseNotify();
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(1500)))
      << gateway_->Log();
}

// The same, with close_notify sent right behind the request: the gateway may read both
// in one go, leaving the alert inside OpenSSL, where only a read through TLS finds it.
TEST_F(TlsFront, ClientClosingTlsRightAfterItsRequestClosesTheUpstreamCall) {
  TlsClient client(gateway_->port(), {"http/1.1"});
  Headers headers = kAuth;
  headers.push_back({"x-mock-delay-ms", "5000"});
  client.Send("POST", "/v1/chat/completions", headers, R"({"model":"m","messages":[]})");
  client.SendCloseNotify();
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(3000)))
      << gateway_->Log();
}

TEST_F(TlsFront, ClientWithoutAlpnGetsRest) {
  TlsClient client(gateway_->port(), {});
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.alpn(), "");
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
}

TEST_F(TlsFront, ClientOfferingH2AndHttp11GetsHttp11) {
  // As curl --http2 and browsers do: such a client may be a REST client, so REST it is.
  for (const std::vector<std::string>& offer :
       {std::vector<std::string>{"h2", "http/1.1"}, std::vector<std::string>{"http/1.1", "h2"}}) {
    TlsClient client(gateway_->port(), offer);
    ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
    EXPECT_EQ(client.alpn(), "http/1.1");
    EXPECT_EQ(client.Call("GET", "/ready", {}).status, 200);
  }
}

TEST_F(TlsFront, ClientOfferingOnlyH2ReachesGrpcsOwnTls) {
  // No gRPC call, just the handshake: it is gRPC's TLS that answers, choosing h2.
  TlsClient client(gateway_->port(), {"h2"});
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.alpn(), "h2");
  // Handed to grpc++, or served on the worker (--grpc-server=workers).
  EXPECT_TRUE(LogHas("HTTP/2 connection from 127.0.0.1")) << gateway_->Log();
}

TEST_F(TlsFront, GrpcOverTlsOnTheSamePort) {
  GrpcClient client(gateway_->port(), TrustingTestCa());
  const GrpcResult result = ListModels(client);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.messages.size(), 1u);
  const auto response =
      client.ParseResponse("openai.v1.ModelsService/ListModels", result.messages[0]);
  EXPECT_THAT(response->ShortDebugString(), HasSubstr("gpt-4o-mini"));
  ASSERT_EQ(mock_->requests().size(), 1u);
  EXPECT_EQ(mock_->requests()[0].target, "/v1/models");
  EXPECT_EQ(mock_->requests()[0].header("authorization"), std::string("Bearer ") + kKey);
  // REST keeps working beside it.
  EXPECT_EQ(TlsClient(gateway_->port(), {"http/1.1"}).Call("GET", "/health", {}).status, 200);
}

TEST_F(TlsFront, GrpcWithoutTlsIsRefused) {
  GrpcCallOptions options;
  options.timeout = milliseconds(2000);
  GrpcClient plaintext(gateway_->port());
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  const GrpcResult result =
      plaintext.Call("/" + rpc, plaintext.NewRequest(rpc)->SerializeAsString(), options);
  EXPECT_FALSE(result.status.ok());
  EXPECT_TRUE(mock_->requests().empty());
}

TEST_F(TlsFront, PlaintextIsClosedAtOnceAndServingGoesOn) {
  for (const std::string_view bytes :
       {"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}) {
    TestClient client = Client();
    client.SendRaw(bytes);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.ClosedByPeer(milliseconds(1000))) << bytes;
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500)) << bytes;
  }
  EXPECT_EQ(TlsClient(gateway_->port(), {"http/1.1"}).Call("GET", "/health", {}).status, 200);
}

TEST_F(TlsFront, HelloThatStopsHalfWayIsClosedAfterTheHeaderTimeout) {
  TestClient client = Client();
  client.SendRaw(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
  // --client-header-timeout is 2 s here.
  EXPECT_TRUE(client.ClosedByPeer(milliseconds(4000)));
  EXPECT_EQ(TlsClient(gateway_->port(), {"http/1.1"}).Call("GET", "/health", {}).status, 200);
}

TEST_F(TlsFrontGrpcListen, SpeaksTlsWithTheSameCertificate) {
  const std::string log = gateway_->Log();
  const size_t at = log.find("gRPC also on port ");
  ASSERT_NE(at, std::string::npos) << log;
  GrpcClient client(std::atoi(log.c_str() + at + 18), TrustingTestCa());
  const GrpcResult result = ListModels(client);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
}

TEST_F(TlsFront, DrainClosesIdleTlsConnections) {
  TlsClient rest(gateway_->port(), {"http/1.1"});
  ASSERT_EQ(rest.Call("GET", "/health", {}).status, 200);  // kept alive, now idle
  GrpcClient grpc(gateway_->port(), TrustingTestCa());
  ASSERT_TRUE(ListModels(grpc).status.ok());  // an idle HTTP/2 connection, too
  EXPECT_EQ(gateway_->Stop(), 0);
  EXPECT_THAT(gateway_->Log(), ::testing::Not(HasSubstr("still open"))) << gateway_->Log();
  EXPECT_FALSE(rest.Call("GET", "/health", {}).complete);
}

TEST_F(TlsFront, PrivateKeyNeverReachesTheLog) {
  TlsClient(gateway_->port(), {"http/1.1"}).Call("GET", "/v1/models", kAuth);
  GrpcClient client(gateway_->port(), TrustingTestCa());
  ListModels(client);
  ASSERT_TRUE(LogHas("openai.v1.ModelsService/ListModels")) << gateway_->Log();
  const std::string log = gateway_->Log();
  EXPECT_THAT(log, ::testing::Not(HasSubstr("PRIVATE KEY")));
  std::istringstream key(ReadFile(TestCertFile("good.key")));
  int lines = 0;
  for (std::string line; std::getline(key, line);) {
    if (line.starts_with("-----")) continue;
    EXPECT_EQ(log.find(line), std::string::npos) << "a line of the key is in the log";
    ++lines;
  }
  EXPECT_GT(lines, 10);
}

// Start-up refuses a half or wrong TLS configuration with one line naming the setting.
TEST(TlsFrontStartUp, BadCertificateOrKeyStopsStartUpNamingTheSetting) {
  struct Case {
    std::vector<std::string> args;
    int exit_status;
    std::string line;  // the one line the gateway writes
  };
  const std::string cert = TestCertFile("good.pem");
  const std::string key = TestCertFile("good.key");
  const std::string wrong_key = TestCertFile("wrong.key");
  const std::string missing = TestCertFile("missing.pem");
  const Case cases[] = {
      {{"--tls-cert", cert}, 2, "oa-bypass: --tls-key: required with --tls-cert (see --help)\n"},
      {{"--tls-key", key}, 2, "oa-bypass: --tls-cert: required with --tls-key (see --help)\n"},
      {{"--tls-cert", cert, "--tls-key", wrong_key},
       1,
       "oa-bypass: --tls-key: '" + wrong_key + "' is not the key of the certificate in '" + cert +
           "' (--tls-cert)\n"},
      {{"--tls-cert", missing, "--tls-key", key},
       1,
       "oa-bypass: --tls-cert: cannot read '" + missing + "': No such file or directory\n"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--upstream", "http://127.0.0.1:9/v1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    GatewayProcess gateway(args);
    EXPECT_FALSE(gateway.Start());
    EXPECT_EQ(gateway.Stop(), c.exit_status) << c.line;
    EXPECT_EQ(gateway.Log(), c.line);
  }
}

}  // namespace
}  // namespace oa::testing
