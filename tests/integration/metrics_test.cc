// GET /metrics through the real binary: the exposition parses, its values move as calls
// are made on both fronts, gauges follow a live stream, upstream failures are counted by
// kind, and neither the key nor its fingerprint appears.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "base/strings.h"
#include "fixture.h"
#include "grpc_client.h"
#include "observe/fingerprint.h"

namespace oa::testing {
namespace {

using ::testing::HasSubstr;

// Every sample of an exposition, by its name and labels as written:
// `oa_requests_total{front="rest",rpc="...",code="2xx"}` -> value. Fails the test on a
// line that is not a comment or a well-formed sample.
std::map<std::string, double> Samples(const std::string& text) {
  static const std::regex kSample(
      R"(([a-z_]+(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})?) (\S+))");
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, kSample)) << "not a sample: " << line;
    if (!m.empty()) samples[m[1]] = std::stod(m[4]);
  }
  return samples;
}

class Metrics : public GatewayTest {
 protected:
  void SetUp() override { StartAll(); }

  std::map<std::string, double> Scrape() {
    const Reply reply = Client().Call("GET", "/metrics", {});
    EXPECT_EQ(reply.status, 200);
    EXPECT_THAT(reply.header("content-type"), HasSubstr("text/plain; version=0.0.4"));
    last_text_ = reply.body;
    return Samples(reply.body);
  }

  std::string last_text_;
};

std::string Requests(std::string_view front, std::string_view rpc, std::string_view code) {
  return StrCat("oa_requests_total{front=\"", front, "\",rpc=\"", rpc, "\",code=\"", code, "\"}");
}

TEST_F(Metrics, CountersMoveWithCallsOnBothFronts) {
  constexpr char kChat[] = "openai.v1.ChatService/CreateChatCompletion";
  constexpr char kModel[] = "openai.v1.ModelsService/RetrieveModel";
  auto before = Scrape();
  // Each family is described once, before its samples.
  EXPECT_THAT(last_text_, HasSubstr("# TYPE oa_requests_total counter\n"));
  EXPECT_THAT(last_text_, HasSubstr("# TYPE oa_request_duration_seconds histogram\n"));
  EXPECT_THAT(last_text_, HasSubstr("# TYPE oa_upstream_connections gauge\n"));

  TestClient client = Client();
  ASSERT_EQ(client.Call("POST", "/v1/chat/completions", kAuth, R"({"model":"m"})").status, 200);
  Headers limited = kAuth;
  limited.push_back({"x-mock-status", "429"});
  ASSERT_EQ(client.Call("POST", "/v1/chat/completions", limited, R"({"model":"m"})").status, 429);
  ASSERT_EQ(client.Call("GET", "/v1/brand-new-endpoint", kAuth).status, 200);  // unmodelled
  ASSERT_TRUE(LogHas("rpc=unmodelled"));  // counted with its access line, after the answer

  GrpcClient grpc(gateway_->port());
  auto request = grpc.NewRequest(kModel);
  request->GetReflection()->SetString(request.get(),
                                      request->GetDescriptor()->FindFieldByName("model"), "gpt-4o");
  GrpcCallOptions with_key;
  with_key.metadata = {{"authorization", std::string("Bearer ") + kKey}};
  EXPECT_TRUE(
      grpc.Call("/" + std::string(kModel), request->SerializeAsString(), with_key).status.ok());
  EXPECT_EQ(
      grpc.Call("/" + std::string(kModel), request->SerializeAsString(), {}).status.error_code(),
      grpc::UNAUTHENTICATED);
  ASSERT_TRUE(LogHas("grpc_status=16"));

  // A gRPC call leaves the in-flight gauge when gRPC is done with it (the reactor's
  // OnDone), a moment after the client has its status: wait for the gauges to drop
  // before reading the rest. Scrapes count nowhere, so waiting moves no other value.
  std::map<std::string, double> after;
  EXPECT_TRUE(mock::MockOpenAI::WaitFor(
      [&] {
        after = Scrape();
        return after["oa_requests_in_flight{front=\"rest\"}"] == 0 &&
               after["oa_requests_in_flight{front=\"grpc\"}"] == 0;
      },
      std::chrono::milliseconds(5000)));
  const auto moved = [&](const std::string& series) { return after[series] - before[series]; };
  EXPECT_EQ(moved(Requests("rest", kChat, "2xx")), 1);
  EXPECT_EQ(moved(Requests("rest", kChat, "4xx")), 1);
  EXPECT_EQ(moved(Requests("rest", "unmodelled", "2xx")), 1);
  EXPECT_EQ(moved(Requests("grpc", kModel, "OK")), 1);
  EXPECT_EQ(moved(Requests("grpc", kModel, "UNAUTHENTICATED")), 1);
  // The scrape that took `before` is not an API call: it counts nowhere.
  EXPECT_EQ(moved("oa_request_duration_seconds_count{front=\"rest\"}"), 3);
  EXPECT_EQ(moved("oa_request_duration_seconds_count{front=\"grpc\"}"), 2);
  EXPECT_EQ(moved("oa_upstream_first_byte_seconds_count{front=\"rest\"}"), 3);
  EXPECT_EQ(moved("oa_upstream_first_byte_seconds_count{front=\"grpc\"}"), 1);
  EXPECT_EQ(after["oa_request_duration_seconds_bucket{front=\"rest\",le=\"+Inf\"}"],
            after["oa_request_duration_seconds_count{front=\"rest\"}"]);
  EXPECT_GT(moved("oa_response_body_bytes_total{front=\"rest\"}"), 0);
  EXPECT_EQ(moved("oa_request_body_bytes_total{front=\"rest\"}"), 2 * 13);  // two {"model":"m"}
  EXPECT_GE(after["oa_upstream_connects_total"], 1);
  // Keep-alive: the calls left connections idle in the workers' pools, none busy.
  EXPECT_GE(after["oa_upstream_connections{state=\"idle\"}"], 1);
  EXPECT_EQ(after["oa_upstream_connections{state=\"busy\"}"], 0);
  EXPECT_EQ(after["oa_requests_in_flight{front=\"rest\"}"], 0);
  EXPECT_EQ(after["oa_requests_in_flight{front=\"grpc\"}"], 0);
  EXPECT_GT(after["process_resident_memory_bytes"], 0);
  EXPECT_GT(after["process_open_fds"], 0);

  // No key, and no fingerprint of it, in any label or value.
  EXPECT_EQ(last_text_.find(kKey), std::string::npos);
  const std::string fingerprint = observe::KeyFingerprint(std::string("Bearer ") + kKey);
  ASSERT_EQ(fingerprint.size(), 64u);
  EXPECT_EQ(last_text_.find(fingerprint.substr(0, 8)), std::string::npos);
}

TEST_F(Metrics, GaugesFollowALiveStream) {
  std::atomic<bool> first_event{false};
  std::thread streamer([&] {
    TestClient client = Client();
    Headers headers = kAuth;
    headers.push_back({"x-mock-sse-events", "3"});
    headers.push_back({"x-mock-sse-interval-ms", "700"});
    client.Send("POST", "/v1/chat/completions", headers, R"({"model":"m","stream":true})");
    std::vector<Piece> pieces;
    client.ReadPieces(pieces, [&](const Piece&) {
      first_event = true;
      return true;
    });
  });
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return first_event.load(); },
                                        std::chrono::milliseconds(3000)));
  auto during = Scrape();
  EXPECT_EQ(during["oa_open_streams"], 1);
  EXPECT_EQ(during["oa_requests_in_flight{front=\"rest\"}"], 1);
  EXPECT_EQ(during["oa_upstream_connections{state=\"busy\"}"], 1);
  streamer.join();
  // The gauges drop as the call's last steps end, just after its access line.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor(
      [&] {
        auto after = Scrape();
        return after["oa_open_streams"] == 0 && after["oa_requests_in_flight{front=\"rest\"}"] == 0;
      },
      std::chrono::milliseconds(2000)))
      << last_text_;
}

TEST_F(Metrics, UpstreamFailuresAreCountedByKind) {
  auto before = Scrape();
  Headers broken = kAuth;
  broken.push_back({"x-mock-break", "garbage"});
  EXPECT_EQ(Client().Call("GET", "/v1/models", broken).status, 502);
  broken.back().second = "mid-body";
  Client().Call("GET", "/v1/models", broken);  // the cut may surface as a read error
  ASSERT_TRUE(LogHas("ended=upstream_cut"));
  auto after = Scrape();
  EXPECT_EQ(after["oa_upstream_errors_total{kind=\"protocol\"}"] -
                before["oa_upstream_errors_total{kind=\"protocol\"}"],
            1);
  EXPECT_EQ(after["oa_upstream_errors_total{kind=\"cut\"}"] -
                before["oa_upstream_errors_total{kind=\"cut\"}"],
            1);
  EXPECT_EQ(after[Requests("rest", "openai.v1.ModelsService/ListModels", "5xx")], 1);
}

TEST(MetricsUnreachable, RefusedConnectsCountAsConnectErrors) {
  // A port that refuses connections: bound, never listening.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  GatewayProcess gateway(
      {"--upstream", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  EXPECT_EQ(TestClient(gateway.port()).Call("GET", "/v1/models", kAuth).status, 502);
  // A call is counted with its access line, just after its answer was sent.
  ASSERT_TRUE(mock::MockOpenAI::WaitFor(
      [&] { return gateway.Log().find("status=502") != std::string::npos; },
      std::chrono::milliseconds(2000)));
  const Reply reply = TestClient(gateway.port()).Call("GET", "/metrics", {});
  auto samples = Samples(reply.body);
  EXPECT_EQ(samples["oa_upstream_errors_total{kind=\"connect\"}"], 1);
  EXPECT_EQ(samples["oa_upstream_connects_total"], 0);
  EXPECT_EQ(samples[Requests("rest", "openai.v1.ModelsService/ListModels", "5xx")], 1);
  close(fd);
  EXPECT_EQ(gateway.Stop(), 0);
}

}  // namespace
}  // namespace oa::testing
