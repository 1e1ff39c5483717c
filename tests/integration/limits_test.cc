// The allow-list and the rate limits through the real binary: OpenAI-shaped 403/429 with
// Retry-After on REST, PERMISSION_DENIED/RESOURCE_EXHAUSTED on gRPC, limits that hold
// across two gateway processes sharing a real redis-server, and failing open (or closed)
// when that Redis goes away.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <unordered_map>

#include "base/strings.h"
#include "fixture.h"
#include "grpc_client.h"
#include "observe/fingerprint.h"
#include "redis_process.h"

namespace oa::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kOtherKey[] = "sk-test-another-caller-0000SECRET";
const Headers kOtherAuth = {{"Authorization", std::string("Bearer ") + kOtherKey}};
constexpr char kModel[] = "/openai.v1.ModelsService/RetrieveModel";

// A RetrieveModel request for the gRPC front, with `key` as its authorization.
GrpcResult GrpcRetrieveModel(uint16_t port, std::string_view key) {
  GrpcClient client(port);
  auto request = client.NewRequest(std::string(kModel).substr(1));
  request->GetReflection()->SetString(request.get(),
                                      request->GetDescriptor()->FindFieldByName("model"), "m");
  GrpcCallOptions options;
  options.metadata = {{"authorization", "Bearer " + std::string(key)}};
  return client.Call(kModel, request->SerializeAsString(), options);
}

void ExpectError(const Reply& reply, int status, std::string_view code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_THAT(reply.body, HasSubstr(StrCat("\"code\":\"", code, "\""))) << reply.body;
  EXPECT_THAT(reply.body, HasSubstr("\"message\":\"")) << reply.body;
}

// Opens a chat stream of `events` events `interval_ms` apart on its own thread, and
// waits until its first event arrived.
class OpenStream {
 public:
  OpenStream(uint16_t port, const Headers& auth, int events, int interval_ms) {
    thread_ = std::thread([=, this] {
      TestClient client(port);
      Headers headers = auth;
      headers.push_back({"x-mock-sse-events", std::to_string(events)});
      headers.push_back({"x-mock-sse-interval-ms", std::to_string(interval_ms)});
      client.Send("POST", "/v1/chat/completions", headers, R"({"model":"m","stream":true})");
      std::vector<Piece> pieces;
      status_ = client
                    .ReadPieces(pieces,
                                [this](const Piece&) {
                                  started_ = true;
                                  return true;
                                })
                    .status;
    });
    started = mock::MockOpenAI::WaitFor([this] { return started_.load(); },
                                        std::chrono::milliseconds(3000));
  }
  ~OpenStream() { Join(); }
  int Join() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }

  bool started = false;

 private:
  std::thread thread_;
  std::atomic<bool> started_{false};
  int status_ = 0;
};

class RateLimits : public GatewayTest {};

TEST_F(RateLimits, RequestsPerMinuteGive429WithRetryAfterOnBothFronts) {
  StartAll({"--rate-limit-rpm", "2"});
  TestClient client = Client();
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  const Reply limited = Client().Call("GET", "/v1/models", kAuth);
  ExpectError(limited, 429, "rate_limit_exceeded");
  EXPECT_THAT(limited.body, HasSubstr("\"type\":\"requests\""));
  const int retry_after = std::stoi(limited.header("retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 30);  // two a minute: a token every 30 s

  // The same key over gRPC is the same caller.
  const GrpcResult grpc = GrpcRetrieveModel(gateway_->port(), kKey);
  EXPECT_EQ(grpc.status.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(grpc.status.error_message(), HasSubstr("2 requests per minute"));
  EXPECT_FALSE(grpc.Trailing("retry-after").empty());

  // Another key has a bucket of its own.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kOtherAuth).status, 200);
  EXPECT_EQ(mock_->requests().size(), 3u);  // refused calls never went upstream

  const std::string metrics = Client().Call("GET", "/metrics", {}).body;
  EXPECT_THAT(metrics, HasSubstr("oa_rate_limited_total{limit=\"requests\",scope=\"key\"} 2\n"));
  ASSERT_TRUE(LogHas("status=429"));
}

TEST_F(RateLimits, ConcurrentCallsPerClientAddress) {
  StartAll({"--rate-limit-concurrent", "1", "--rate-limit-by", "client"});
  // 3 s of stream: room for the two calls below, which include a gRPC channel's set-up,
  // on a loaded machine or under a sanitizer.
  OpenStream stream(gateway_->port(), kAuth, 6, 500);
  ASSERT_TRUE(stream.started);
  // Same address, other key: the address is what counts here.
  const Reply second = Client().Call("GET", "/v1/models", kOtherAuth);
  ExpectError(second, 429, "rate_limit_exceeded");
  EXPECT_THAT(second.body, HasSubstr("in flight for this client address"));
  EXPECT_EQ(GrpcRetrieveModel(gateway_->port(), kOtherKey).status.error_code(),
            grpc::RESOURCE_EXHAUSTED);
  EXPECT_EQ(stream.Join(), 200);
  // The client reads the stream's last bytes a moment before the gateway ends the call
  // and gives its place back: wait for that end, which /metrics shows (the lease goes
  // before the in-flight count does, and /metrics itself is not counted).
  EXPECT_TRUE(mock::MockOpenAI::WaitFor(
      [&] {
        const std::string metrics = Client().Call("GET", "/metrics", {}).body;
        return metrics.find("oa_requests_in_flight{front=\"rest\"} 0\n") != std::string::npos;
      },
      std::chrono::milliseconds(5000)));
  // The stream's end gave its place back.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kOtherAuth).status, 200);
  const std::string metrics = Client().Call("GET", "/metrics", {}).body;
  EXPECT_THAT(metrics,
              HasSubstr("oa_rate_limited_total{limit=\"concurrency\",scope=\"client\"} 2\n"));
}

TEST_F(RateLimits, AllowListedKeysPassOthersGet403) {
  const std::string fingerprint = observe::KeyFingerprint(std::string("Bearer ") + kKey);
  StartAll({"--allow-keys", fingerprint});
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  ExpectError(Client().Call("GET", "/v1/models", kOtherAuth), 403, "gateway_access_denied");
  EXPECT_TRUE(GrpcRetrieveModel(gateway_->port(), kKey).status.ok());
  EXPECT_EQ(GrpcRetrieveModel(gateway_->port(), kOtherKey).status.error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(mock_->requests().size(), 2u);
  EXPECT_THAT(Client().Call("GET", "/metrics", {}).body, HasSubstr("oa_denied_total 2\n"));
}

// Two keys whose short fingerprints (the 8 hex digits of the access log) are the same.
// A birthday search over 32 bits takes tens of thousands of hashes: what an attacker
// spends to find a key colliding with one of many, or (2^32 of them, minutes on a core)
// with a victim's. Such keys used to be one caller to the allow-list and the limits.
std::pair<std::string, std::string> KeysWithOneShortFingerprint() {
  std::unordered_map<std::string, std::string> seen;
  for (int i = 0;; ++i) {
    std::string key = "sk-collide-" + std::to_string(i);
    const auto [at, fresh] = seen.emplace(observe::ShortFingerprint(key), key);
    if (!fresh) return {at->second, key};
  }
}

TEST_F(RateLimits, KeysThatShareAShortFingerprintAreDifferentCallers) {
  const auto [victim, attacker] = KeysWithOneShortFingerprint();
  ASSERT_EQ(observe::ShortFingerprint(victim), observe::ShortFingerprint(attacker));
  const Headers victim_auth = {{"Authorization", "Bearer " + victim}};
  const Headers attacker_auth = {{"Authorization", "Bearer " + attacker}};
  StartAll({"--rate-limit-rpm", "1", "--allow-keys", observe::KeyFingerprint(victim)});
  // The attacker's key is not the one listed, and does not spend the victim's limit.
  ExpectError(Client().Call("GET", "/v1/models", attacker_auth), 403, "gateway_access_denied");
  EXPECT_EQ(Client().Call("GET", "/v1/models", victim_auth).status, 200);
  ExpectError(Client().Call("GET", "/v1/models", victim_auth), 429, "rate_limit_exceeded");
  EXPECT_EQ(mock_->requests().size(), 1u);
}

TEST_F(RateLimits, OneCallersLimitIsNotSpentByAKeyOfTheSameShortFingerprint) {
  const auto [victim, attacker] = KeysWithOneShortFingerprint();
  StartAll({"--rate-limit-rpm", "1"});
  EXPECT_EQ(Client().Call("GET", "/v1/models", {{"Authorization", "Bearer " + attacker}}).status,
            200);
  EXPECT_EQ(Client().Call("GET", "/v1/models", {{"Authorization", "Bearer " + victim}}).status,
            200);
}

TEST_F(RateLimits, AllowListedNetworksOnly) {
  StartAll({"--allow-networks", "10.0.0.0/8,fd00::/8"});
  // The test connects from 127.0.0.1, outside both networks: even a key does not help.
  ExpectError(Client().Call("GET", "/v1/models", kAuth), 403, "gateway_access_denied");
  EXPECT_TRUE(mock_->requests().empty());
  // What the gateway answers itself stays open: probes and metrics.
  EXPECT_EQ(Client().Call("GET", "/health", {}).status, 200);
  EXPECT_EQ(Client().Call("GET", "/metrics", {}).status, 200);
}

TEST(RateLimitSettings, BadEntriesStopStartUpNamingTheSetting) {
  GatewayProcess gateway({"--allow-networks", "10.0.0.0/40"});
  EXPECT_FALSE(gateway.Start());
  EXPECT_THAT(gateway.Log(), HasSubstr("--allow-networks: '10.0.0.0/40'"));
}

// Two gateway processes sharing one real redis-server.
class SharedLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_.Start();
    ASSERT_TRUE(redis_.Start()) << redis_.error();
  }

  std::unique_ptr<GatewayProcess> Gateway(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--upstream",         mock_.base_url() + "/v1",
                                     "--rate-limit-redis", redis_.url(),
                                     "--workers",          "2",
                                     "--drain-timeout",    "2s"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto gateway = std::make_unique<GatewayProcess>(args);
    EXPECT_TRUE(gateway->Start()) << gateway->Log();
    return gateway;
  }

  static int Get(const GatewayProcess& gateway, const Headers& auth = kAuth) {
    return TestClient(gateway.port()).Call("GET", "/v1/models", auth).status;
  }

  mock::MockOpenAI mock_;
  RedisProcess redis_;
};

TEST_F(SharedLimits, RequestsPerMinuteHoldAcrossTwoGateways) {
  auto a = Gateway({"--rate-limit-rpm", "3"});
  auto b = Gateway({"--rate-limit-rpm", "3"});
  EXPECT_EQ(Get(*a), 200);
  EXPECT_EQ(Get(*b), 200);
  EXPECT_EQ(Get(*a), 200);
  // Each gateway alone has let through fewer than 3: only the shared count refuses.
  EXPECT_EQ(Get(*b), 429);
  EXPECT_EQ(Get(*a), 429);
  EXPECT_EQ(Get(*b, kOtherAuth), 200);
  EXPECT_EQ(mock_.requests().size(), 4u);
  EXPECT_EQ(a->Log().find(kKey), std::string::npos);
  EXPECT_EQ(b->Log().find(kKey), std::string::npos);
}

TEST_F(SharedLimits, ConcurrencyHoldsAcrossTwoGateways) {
  auto a = Gateway({"--rate-limit-concurrent", "1"});
  auto b = Gateway({"--rate-limit-concurrent", "1"});
  {
    OpenStream stream(a->port(), kAuth, 3, 600);
    ASSERT_TRUE(stream.started);
    const Reply refused = TestClient(b->port()).Call("GET", "/v1/models", kAuth);
    ExpectError(refused, 429, "rate_limit_exceeded");
    EXPECT_EQ(GrpcRetrieveModel(b->port(), kKey).status.error_code(), grpc::RESOURCE_EXHAUSTED);
    EXPECT_EQ(stream.Join(), 200);
  }
  // Gateway a gives the place back in Redis as the stream ends.
  EXPECT_TRUE(
      mock::MockOpenAI::WaitFor([&] { return Get(*b) == 200; }, std::chrono::milliseconds(2000)));
}

TEST_F(SharedLimits, RedisGoingAwayFailsOpenAndLimitsComeBackWithIt) {
  auto a = Gateway({"--rate-limit-rpm", "2"});
  EXPECT_EQ(Get(*a), 200);
  EXPECT_EQ(Get(*a), 200);
  EXPECT_EQ(Get(*a), 429);

  redis_.Stop();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Get(*a), 200) << i;  // unlimited, not refused
  EXPECT_THAT(a->Log(), HasSubstr("rate limits: Redis failed"));
  EXPECT_THAT(a->Log(), HasSubstr("fail open"));
  std::string metrics = TestClient(a->port()).Call("GET", "/metrics", {}).body;
  EXPECT_THAT(metrics, HasSubstr("oa_rate_limit_redis_up 0\n"));
  EXPECT_THAT(metrics, ::testing::ContainsRegex("oa_rate_limit_redis_errors_total [1-9]"));

  ASSERT_TRUE(redis_.Start()) << redis_.error();  // empty: the count starts again
  // Calls pass unlimited until the gateway, its back-off over, asks Redis again; the call
  // that finds Redis back is the first one counted there, the first of the bucket's two.
  ASSERT_TRUE(mock::MockOpenAI::WaitFor(
      [&] { return Get(*a) == 200 && a->Log().find("Redis answers again") != std::string::npos; },
      std::chrono::milliseconds(5000)))
      << a->Log();
  EXPECT_EQ(Get(*a), 200);
  EXPECT_EQ(Get(*a), 429);
  metrics = TestClient(a->port()).Call("GET", "/metrics", {}).body;
  EXPECT_THAT(metrics, HasSubstr("oa_rate_limit_redis_up 1\n"));
}

TEST_F(SharedLimits, FailClosedAnswers503WhileRedisIsAway) {
  auto a = Gateway({"--rate-limit-rpm", "100", "--rate-limit-fail-open", "false"});
  EXPECT_EQ(Get(*a), 200);
  redis_.Stop();
  ExpectError(TestClient(a->port()).Call("GET", "/v1/models", kAuth), 503,
              "rate_limit_unavailable");
  EXPECT_EQ(GrpcRetrieveModel(a->port(), kKey).status.error_code(), grpc::UNAVAILABLE);
  EXPECT_EQ(mock_.requests().size(), 1u);
}

}  // namespace
}  // namespace oa::testing
