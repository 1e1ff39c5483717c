// The upstream side of the relay: the keep-alive pool and TLS.
#include <atomic>
#include <thread>
#include <vector>

#include "fixture.h"
#include "test_certs.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;

class Pool : public GatewayTest {};

TEST_F(Pool, UpstreamClosingIdleConnectionsNeverFailsACall) {
  mock::MockOptions options;
  options.idle_close_ms = 150;
  StartAll({"--workers", "1"}, options);
  TestClient client = Client();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200) << "call " << i;
    // The mock drops the pooled connection before the next call.
    EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                          milliseconds(3000)))
        << "call " << i;
  }
  EXPECT_EQ(mock_->accepted_connections(), 3);
  EXPECT_EQ(mock_->requests().size(), 3u);
}

// A body too large (or of unknown length) to replay is never sent on a pooled connection
// without first asking whether the upstream closed it: a call that could not be retried
// must not be risked on a dead connection.
TEST_F(Pool, AChunkedBodyIsNeverRiskedOnAClosedPooledConnection) {
  mock::MockOptions options;
  options.idle_close_ms = 150;
  StartAll({"--workers", "1"}, options);
  TestClient client = Client();
  ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  // The mock drops the pooled connection.
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                        milliseconds(3000)));
  std::string raw = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  raw += kKey;
  raw += "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  raw += "d\r\n{\"input\":\"x\"}\r\n0\r\n\r\n";
  client.SendRaw(raw);
  EXPECT_EQ(client.Read().status, 200);
  EXPECT_EQ(mock_->accepted_connections(), 2);
  EXPECT_EQ(mock_->requests().size(), 2u);
  EXPECT_TRUE(LogHas("/v1/embeddings"));
  EXPECT_EQ(gateway_->Log().find("retried=1"), std::string::npos) << gateway_->Log();
}

TEST_F(Pool, IdleConnectionsAreClosedAfterTheIdleTimeoutWithoutTraffic) {
  StartAll({"--workers", "1", "--upstream-pool-idle-timeout", "1s"});
  ASSERT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  ASSERT_EQ(mock_->open_connections(), 1);  // pooled
  // No call takes it again: the worker's sweep closes it after a second or two.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                        std::chrono::milliseconds(4000)));
}

TEST_F(Pool, RequestIsReplayedOnceWhenAPooledConnectionDies) {
  StartAll({"--workers", "1"});
  TestClient client = Client();
  ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);  // leaves one pooled
  Headers headers = kAuth;
  headers.push_back({"x-mock-break", "before-headers"});  // read the request, then hang up
  const std::string body = R"({"model":"m","input":"replay me"})";
  const Reply reply = client.Call("POST", "/v1/embeddings", headers, body);
  EXPECT_EQ(reply.status, 502) << reply.body;
  const auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 3u);  // the first call, then the POST twice
  EXPECT_EQ(requests[1].body_prefix, body);
  EXPECT_EQ(requests[2].body_prefix, body);
  EXPECT_EQ(mock_->accepted_connections(), 2);  // the pooled one, then one fresh retry
  EXPECT_TRUE(LogHas("retried=1")) << gateway_->Log();
}

TEST_F(Pool, FreshConnectionFailuresAreNotRetried) {
  StartAll({"--workers", "1"});
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-break", "before-headers"});
  EXPECT_EQ(client.Call("POST", "/v1/embeddings", headers, "{}").status, 502);
  EXPECT_EQ(mock_->requests().size(), 1u);
}

// Each worker opens at most --upstream-max-connections to the upstream; a call that needs
// one more gets 503 with Retry-After, counted, rather than a descriptor the gateway may
// need to answer /health. Before, 1,000 clients holding half-sent bodies pinned 1,000
// upstream connections and 2,018 descriptors.
TEST_F(Pool, CallsPastTheConnectionLimitAre503WithRetryAfter) {
  StartAll({"--workers", "1", "--upstream-max-connections", "2"});
  std::vector<std::thread> slow;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&] {
      Headers headers = kAuth;
      headers.push_back({"x-mock-delay-ms", "1500"});
      ok += Client().Call("GET", "/v1/models", headers).status == 200;
    });
  }
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 2; },
                                        milliseconds(3000)));
  const Reply refused = Client().Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("upstream_connections_exhausted"), std::string::npos);
  EXPECT_NE(refused.body.find("--upstream-max-connections"), std::string::npos);
  EXPECT_EQ(refused.header("retry-after"), "1");
  for (std::thread& t : slow) t.join();
  EXPECT_EQ(ok, 2);
  // Their connections went back to the pool: calls go on.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  const std::string metrics = Client().Call("GET", "/metrics", {}).body;
  EXPECT_NE(metrics.find("\noa_upstream_connections_exhausted_total 1\n"), std::string::npos)
      << metrics;
}

class Tls : public GatewayTest {
 protected:
  void StartTls(const char* cert, const std::string& host, std::vector<std::string> args,
                mock::MockOptions options = {}) {
    options.tls_cert_file = TestCertFile(std::string(cert) + ".pem");
    options.tls_key_file = TestCertFile(std::string(cert) + ".key");
    mock_ = std::make_unique<mock::MockOpenAI>(options);
    mock_->Start();
    args.insert(args.end(),
                {"--upstream", "https://" + host + ":" + std::to_string(mock_->port()) + "/v1"});
    gateway_ = std::make_unique<GatewayProcess>(args);
    ASSERT_TRUE(gateway_->Start()) << gateway_->Log();
  }
};

TEST_F(Tls, VerifiedUpstreamByNameAndByAddress) {
  for (const char* host : {"localhost", "127.0.0.1"}) {
    StartTls("good", host, {"--upstream-ca-file", TestCertFile("ca.pem")});
    TestClient client = Client();
    const Reply reply = client.Call("GET", "/v1/models", kAuth);
    EXPECT_EQ(reply.status, 200) << host << ": " << reply.body;
    EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);  // pooled TLS reuse
    EXPECT_EQ(mock_->accepted_connections(), 1) << host;
    EXPECT_EQ(gateway_->Stop(), 0);
    EXPECT_EQ(gateway_->Log().find(kKey), std::string::npos);
    gateway_.reset();
  }
}

// An idle TLS connection is watched once it has rested (20 ms): the watch takes in what
// TLS keeps to itself and keeps the connection, and sees the upstream close it.
TEST_F(Tls, AWatchedIdleConnectionIsReusedUntilTheUpstreamClosesIt) {
  mock::MockOptions options;
  options.idle_close_ms = 600;
  StartTls("good", "localhost", {"--workers", "1", "--upstream-ca-file", TestCertFile("ca.pem")},
           options);
  TestClient client = Client();
  ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  // Deliberate: past the 20 ms an idle connection rests before its watch begins (nothing
  // outside the gateway shows the watch), so that the next call takes a watched one.
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  EXPECT_EQ(mock_->accepted_connections(), 1);
  // The mock closes it after 600 ms: the watch closes it too, so the next call needs no
  // retry on a dead connection.
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                        milliseconds(3000)));
  ASSERT_TRUE(mock::MockOpenAI::WaitFor(
      [&] {
        const std::string metrics = client.Call("GET", "/metrics", {}).body;
        return metrics.find("\noa_upstream_connections{state=\"idle\"} 0\n") != std::string::npos;
      },
      milliseconds(3000)));
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  EXPECT_EQ(mock_->accepted_connections(), 2);
  const std::string metrics = client.Call("GET", "/metrics", {}).body;
  EXPECT_NE(metrics.find("\noa_upstream_retries_total 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\noa_upstream_unsolicited_total 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(gateway_->Stop(), 0);
}

TEST_F(Tls, WrongHostNameIsRefused) {
  StartTls("wrong", "127.0.0.1", {"--upstream-ca-file", TestCertFile("ca.pem")});
  TestClient client = Client();
  const Reply reply = client.Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find("certificate verify failed"), std::string::npos) << reply.body;
  EXPECT_EQ(mock_->requests().size(), 0u);
}

TEST_F(Tls, UnknownAuthorityIsRefused) {
  StartTls("good", "localhost", {});  // the system's CAs do not know the test CA
  TestClient client = Client();
  const Reply reply = client.Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find("certificate verify failed"), std::string::npos) << reply.body;
  EXPECT_EQ(mock_->requests().size(), 0u);
}

}  // namespace
}  // namespace oa::testing
