// Errors the gateway makes itself: OpenAI's error shape, the right status, and the
// upstream never called when the gateway already knows the answer.
#include <gmock/gmock.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>

#include "fixture.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;

// The body of an OpenAI-shaped error has these four members and nothing else at the top.
void ExpectOpenAIError(const Reply& reply, int status, std::string_view code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.body.rfind("{\"error\":{\"message\":\"", 0), 0u) << reply.body;
  EXPECT_NE(reply.body.find("\"type\":\""), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find("\"param\":null"), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find(std::string("\"code\":\"") + std::string(code) + "\""),
            std::string::npos)
      << reply.body;
  EXPECT_EQ(reply.body.find(kKey), std::string::npos);
}

class Errors : public GatewayTest {
 protected:
  void SetUp() override {
    StartAll({"--max-body-bytes", "1KiB", "--max-header-bytes", "4KiB",
              "--upstream-first-byte-timeout", "700ms"});
  }
};

TEST_F(Errors, MissingKeyIs401WithoutCallingUpstream) {
  TestClient client = Client();
  ExpectOpenAIError(client.Call("POST", "/v1/chat/completions", {}, "{}"), 401, "missing_api_key");
  EXPECT_EQ(mock_->requests().size(), 0u);
  EXPECT_EQ(mock_->accepted_connections(), 0);
}

TEST_F(Errors, HealthIsAnsweredByTheGateway) {
  TestClient client = Client();
  const Reply reply = client.Call("GET", "/health", {});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "OpenAI API Server is running");
  EXPECT_EQ(mock_->accepted_connections(), 0);
}

TEST_F(Errors, PathsOutsideV1Are404) {
  TestClient client = Client();
  ExpectOpenAIError(client.Call("GET", "/v2/models?key=secret", kAuth), 404, "unknown_url");
  ExpectOpenAIError(client.Call("GET", "/", kAuth), 404, "unknown_url");
  EXPECT_EQ(mock_->requests().size(), 0u);
}

TEST_F(Errors, CorsPreflightIsAnsweredByTheGateway) {
  TestClient client = Client();
  const Reply reply =
      client.Call("OPTIONS", "/v1/chat/completions",
                  {{"Origin", "https://app.example"},
                   {"Access-Control-Request-Method", "POST"},
                   {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(reply.status, 204);
  EXPECT_EQ(reply.header("access-control-allow-origin"), "*");
  EXPECT_EQ(reply.header("access-control-allow-headers"), "authorization, content-type");
  EXPECT_NE(reply.header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_EQ(mock_->accepted_connections(), 0);
}

TEST_F(Errors, DeclaredBodyTooLargeIs413BeforeUpstream) {
  TestClient client = Client();
  ExpectOpenAIError(client.Call("POST", "/v1/files", kAuth, std::string(2000, 'x')), 413,
                    "request_too_large");
  EXPECT_EQ(mock_->requests().size(), 0u);
}

// Closing with request bytes unread makes TCP reset the connection, which can destroy
// the answer before the client reads it. After answering a request it did not read whole,
// the gateway sends its FIN and takes what still comes: an upload past the limit goes
// out whole (it failed with a reset before), and then the 413 is there to read.
TEST_F(Errors, AnUploadAnsweredEarlyIsTakenToItsEndThenTheAnswerRead) {
  TestClient client = Client();
  constexpr uint64_t kSize = 32 << 20;  // far more than the sockets' buffers hold
  client.SendRaw("POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 std::string(kKey) + "\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
  EXPECT_NO_THROW(client.SendGenerated(
      kSize, [](uint64_t, std::string& chunk) { std::fill(chunk.begin(), chunk.end(), 'x'); }));
  client.HalfClose();
  ExpectOpenAIError(client.Read(), 413, "request_too_large");
  EXPECT_TRUE(client.ClosedByPeer(milliseconds(2000)));
  EXPECT_EQ(mock_->requests().size(), 0u);
}

TEST_F(Errors, ChunkedBodyPastTheLimitIs413) {
  TestClient client = Client();
  std::string raw = "POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  raw += kKey;
  raw += "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) raw += "200\r\n" + std::string(512, 'y') + "\r\n";
  raw += "0\r\n\r\n";
  client.SendRaw(raw);
  ExpectOpenAIError(client.Read(), 413, "request_too_large");
  EXPECT_EQ(mock_->requests().size(), 0u);  // the upstream never saw a complete request
}

TEST_F(Errors, MalformedRequestsAre400) {
  {
    TestClient client = Client();
    client.SendRaw("GARBAGE\r\n\r\n");
    ExpectOpenAIError(client.Read(), 400, "bad_request");
  }
  {
    TestClient client = Client();
    client.SendRaw(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Content-Length: 6\r\n\r\nhello!");
    ExpectOpenAIError(client.Read(), 400, "bad_request");
  }
  {
    TestClient client = Client();
    client.SendRaw(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    ExpectOpenAIError(client.Read(), 400, "bad_request");
  }
  EXPECT_EQ(mock_->requests().size(), 0u);
}

TEST_F(Errors, OversizedHeadersAre431) {
  TestClient client = Client();
  ExpectOpenAIError(client.Call("GET", "/v1/models", {{"X-Big", std::string(8000, 'h')}}), 431,
                    "request_header_too_large");
}

TEST_F(Errors, HeadersOneBytePastTheLimitAre431) {
  // Found by tests/fuzz/http_front_fuzz: Beast's own header limit let a header slightly
  // past --max-header-bytes through (here 4097 bytes, the limit 4KiB) and it was relayed.
  const std::string start = "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n";
  const auto header = [&](size_t total) {
    return start + "X-Big: " + std::string(total - start.size() - 11, 'h') + "\r\n\r\n";
  };
  {
    TestClient client = Client();
    client.SendRaw(header(4097));
    const Reply reply = client.Read();
    ExpectOpenAIError(reply, 431, "request_header_too_large");
    EXPECT_EQ(reply.header("connection"), "close");
  }
  EXPECT_EQ(mock_->requests().size(), 0u);
  TestClient client = Client();
  client.SendRaw(header(4096));
  EXPECT_EQ(client.Read().status, 200);
}

TEST_F(Errors, SlowUpstreamIs504) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-delay-ms", "3000"});
  ExpectOpenAIError(client.Call("GET", "/v1/models", headers), 504, "upstream_timeout");
}

TEST_F(Errors, UpstreamClosingWithoutAnswerIs502) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-break", "before-headers"});
  ExpectOpenAIError(client.Call("GET", "/v1/models", headers), 502, "upstream_unavailable");
}

TEST_F(Errors, UpstreamGarbageIs502) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-break", "garbage"});
  ExpectOpenAIError(client.Call("GET", "/v1/models", headers), 502, "upstream_unavailable");
}

// A port that refuses connections: bound, never listening.
uint16_t RefusingPort(int& fd) {
  fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(UnreachableUpstream, RefusedConnectionIs502) {
  int fd = -1;
  const uint16_t port = RefusingPort(fd);
  GatewayProcess gateway({"--upstream", "http://127.0.0.1:" + std::to_string(port) + "/v1"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  TestClient client(gateway.port());
  const Reply reply = client.Call("GET", "/v1/models", kAuth);
  ExpectOpenAIError(reply, 502, "upstream_unavailable");
  EXPECT_NE(reply.body.find("refused"), std::string::npos) << reply.body;
  close(fd);
}

TEST(UnreachableUpstream, RejectUnmodelledAnswers404) {
  int fd = -1;
  const uint16_t port = RefusingPort(fd);
  GatewayProcess gateway(
      {"--upstream", "http://127.0.0.1:" + std::to_string(port) + "/v1", "--reject-unmodelled"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  TestClient client(gateway.port());
  const Reply rejected = client.Call("POST", "/v1/brand/new", kAuth, "{}");
  ExpectOpenAIError(rejected, 404, "unknown_url");
  EXPECT_THAT(rejected.body, ::testing::HasSubstr("POST /v1/brand/new. No operation"));
  EXPECT_THAT(rejected.body, ::testing::HasSubstr("--reject-unmodelled"));
  // Its body was never read, so the gateway closes that connection after answering.
  EXPECT_EQ(rejected.header("connection"), "close");
  // A modelled path still goes upstream (and fails there, since nothing listens).
  TestClient second(gateway.port());
  ExpectOpenAIError(second.Call("GET", "/v1/models", kAuth), 502, "upstream_unavailable");
  close(fd);
}

TEST(UnreachableUpstream, ConnectTimeoutIs504) {
  // A listener that never accepts, its queue filled: further connection attempts get no
  // answer at all, like a black-holed host, but without leaving loopback.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor stuck(io);
  stuck.open(boost::asio::ip::tcp::v4());
  stuck.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  stuck.listen(0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(stuck.local_endpoint().port());
  std::vector<int> queued;  // non-blocking connects: they fill the queue without waiting
  for (int i = 0; i < 4; ++i) {
    queued.push_back(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    connect(queued.back(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  GatewayProcess gateway({"--upstream",
                          "http://127.0.0.1:" + std::to_string(stuck.local_endpoint().port()),
                          "--upstream-connect-timeout", "500ms"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  TestClient client(gateway.port());
  const Reply reply = client.Call("GET", "/v1/models", kAuth);
  ExpectOpenAIError(reply, 504, "upstream_timeout");
  EXPECT_NE(reply.body.find("timed out after 500ms"), std::string::npos) << reply.body;
  for (int fd : queued) close(fd);
}

TEST(Startup, BadSettingsStopWithOneClearLine) {
  GatewayProcess gateway({"--upstream", "ftp://example"});
  EXPECT_FALSE(gateway.Start());
  EXPECT_NE(gateway.Log().find("must start with http:// or https://"), std::string::npos)
      << gateway.Log();
}

// A second gateway on a port the first holds stops with one line: the workers'
// SO_REUSEPORT would have let it join the first's listeners, and the kernel would have
// split calls between the two. Sharing is for processes that all say so.
TEST(Startup, APortAnotherProcessHoldsStopsStartUpUnlessShared) {
  GatewayProcess first({});
  ASSERT_TRUE(first.Start()) << first.Log();
  const std::string taken = "127.0.0.1:" + std::to_string(first.port());
  GatewayProcess second({"--listen", taken});
  EXPECT_FALSE(second.Start());
  EXPECT_NE(second.Log().find("--listen: port " + std::to_string(first.port()) +
                              " on 127.0.0.1 is held by another process"),
            std::string::npos)
      << second.Log();
  EXPECT_EQ(second.Stop(), 1);
  EXPECT_EQ(first.Stop(), 0);

  GatewayProcess shared({"--listen-shared"});
  ASSERT_TRUE(shared.Start()) << shared.Log();
  GatewayProcess joining(
      {"--listen", "127.0.0.1:" + std::to_string(shared.port()), "--listen-shared"});
  ASSERT_TRUE(joining.Start()) << joining.Log();
  EXPECT_EQ(joining.port(), shared.port());
  EXPECT_EQ(TestClient(joining.port()).Call("GET", "/health", {}).status, 200);
  EXPECT_EQ(joining.Stop(), 0);
  EXPECT_EQ(shared.Stop(), 0);
}

}  // namespace
}  // namespace oa::testing
