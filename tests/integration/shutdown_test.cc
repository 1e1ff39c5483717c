// Shutting down well, through the real binary: on SIGTERM the gateway reports not ready
// (REST /ready 503, gRPC health NOT_SERVING) for --shutdown-delay while still serving,
// then stops accepting, lets calls and streams under way finish for up to
// --drain-timeout, cuts what is left, and exits 0.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "fixture.h"
#include "grpc_client.h"

namespace oa::testing {
namespace {

using ::testing::HasSubstr;

// True if a TCP connection to 127.0.0.1:port is accepted (raw connect: never blocks long).
bool Accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class Shutdown : public GatewayTest {
 protected:
  // Streams 5 SSE events `interval_ms` apart and sends SIGTERM once the answer started.
  Reply StreamThroughSigterm(TestClient& client, std::vector<Piece>& pieces, int interval_ms) {
    Headers headers = kAuth;
    headers.push_back({"x-mock-sse-events", "5"});
    headers.push_back({"x-mock-sse-interval-ms", std::to_string(interval_ms)});
    client.Send("POST", "/v1/chat/completions", headers, R"({"model":"m","stream":true})");
    bool signalled = false;
    const Reply reply = client.ReadPieces(pieces, [&](const Piece&) {
      if (!signalled) {
        gateway_->Signal(SIGTERM);
        signalled = true;
      }
      return true;
    });
    EXPECT_TRUE(signalled);
    return reply;
  }

  // A gRPC streaming chat call: the method, an empty request, and the options (the key,
  // and `events` events 300 ms apart from the mock).
  static constexpr std::string_view kChatStream =
      "openai.v1.ChatService/CreateChatCompletionStream";
  static std::string ChatStreamCall(GrpcClient& grpc) {
    return grpc.NewRequest(std::string(kChatStream))->SerializeAsString();
  }
  static GrpcCallOptions SlowStream(int events) {
    GrpcCallOptions options;
    options.metadata = {{"authorization", std::string("Bearer ") + kKey},
                        {"x-mock-sse-events", std::to_string(events)},
                        {"x-mock-sse-interval-ms", "300"}};
    return options;
  }
};

TEST_F(Shutdown, ALiveSseStreamFinishesAndNewConnectionsAreRefused) {
  StartAll({"--drain-timeout", "10s"});
  TestClient client = Client();
  std::vector<Piece> pieces;
  const Reply reply = StreamThroughSigterm(client, pieces, 300);
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.complete) << reply.error;  // ended by its framing, not cut
  std::string body;
  for (const Piece& piece : pieces) body += piece.bytes;
  EXPECT_THAT(body, HasSubstr("data: [DONE]"));
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 12);  // 5 chunks + [DONE], 2 each
  EXPECT_FALSE(Accepts(gateway_->port()));
  EXPECT_EQ(gateway_->WaitExit(std::chrono::seconds(5)), 0) << gateway_->Log();
  EXPECT_THAT(gateway_->Log(), HasSubstr("draining"));
}

TEST_F(Shutdown, NotReadyDuringTheDelayWhileStillServing) {
  StartAll({"--shutdown-delay", "3s", "--drain-timeout", "2s"});
  EXPECT_EQ(Client().Call("GET", "/ready", {}).status, 200);
  GrpcClient grpc(gateway_->port());
  const GrpcResult serving = grpc.Call("/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(serving.status.ok());
  EXPECT_EQ(serving.messages.at(0), std::string("\x08\x01", 2));  // SERVING

  gateway_->Signal(SIGTERM);
  ASSERT_TRUE(LogHas("draining"));
  ASSERT_TRUE(
      mock::MockOpenAI::WaitFor([&] { return Client().Call("GET", "/ready", {}).status == 503; },
                                std::chrono::milliseconds(1000)));
  const GrpcResult not_serving = grpc.Call("/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(not_serving.status.ok()) << not_serving.status.error_message();
  EXPECT_EQ(not_serving.messages.at(0), std::string("\x08\x02", 2));  // NOT_SERVING
  // Still serving calls until the delay is over.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  EXPECT_EQ(gateway_->WaitExit(std::chrono::seconds(8)), 0) << gateway_->Log();
}

TEST_F(Shutdown, AGrpcStreamFinishesDuringTheDrain) {
  StartAll({"--drain-timeout", "10s"});
  GrpcClient grpc(gateway_->port());
  const std::string request = ChatStreamCall(grpc);
  const GrpcCallOptions options = SlowStream(5);
  std::thread signal([&] {
    // Mid-stream: once the mock has written the first event (it counts no head).
    EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->bytes_written() > 0; },
                                          std::chrono::milliseconds(5000)));
    gateway_->Signal(SIGTERM);
  });
  const GrpcResult result = grpc.Call("/" + std::string(kChatStream), request, options);
  signal.join();
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.messages.size(), 5u);
  EXPECT_EQ(gateway_->WaitExit(std::chrono::seconds(5)), 0) << gateway_->Log();
}

TEST_F(Shutdown, WhatOutlastsTheDrainTimeoutIsCut) {
  StartAll({"--drain-timeout", "1s"});
  TestClient client = Client();
  std::vector<Piece> pieces;
  const auto start = std::chrono::steady_clock::now();
  const Reply reply = StreamThroughSigterm(client, pieces, 2000);
  EXPECT_FALSE(reply.complete);  // cut: the client can tell
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(gateway_->WaitExit(std::chrono::seconds(5)), 0) << gateway_->Log();
  EXPECT_THAT(gateway_->Log(), HasSubstr("still open after 1s"));
}

// A second signal waits for nothing: not the delay, not the drain, and not a gRPC call
// under way, which workers stopped by that signal could never finish (the process once
// stayed up for good, its gRPC server waiting for that call).
TEST_F(Shutdown, ASecondSignalStopsAtOnceEvenWithAGrpcCallUnderWay) {
  StartAll({"--shutdown-delay", "1s", "--drain-timeout", "60s"});
  GrpcClient grpc(gateway_->port());
  const std::string request = ChatStreamCall(grpc);
  GrpcCallOptions options = SlowStream(100);
  options.timeout = std::chrono::seconds(60);
  GrpcResult result;
  std::thread call([&] { result = grpc.Call("/" + std::string(kChatStream), request, options); });
  // Mid-stream: once the mock has written the first event.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->bytes_written() > 0; },
                                        std::chrono::milliseconds(5000)));
  gateway_->Signal(SIGTERM);
  ASSERT_TRUE(LogHas("draining"));
  // Past the delay: the drain begins by closing the listener.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return !Accepts(gateway_->port()); },
                                        std::chrono::milliseconds(5000)));
  const auto second = std::chrono::steady_clock::now();
  gateway_->Signal(SIGTERM);
  expected_exit_status_ = 128 + SIGTERM;
  EXPECT_EQ(gateway_->WaitExit(std::chrono::seconds(5)), expected_exit_status_) << gateway_->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - second, std::chrono::seconds(3));
  call.join();
  EXPECT_FALSE(result.status.ok());  // cut, and told so
  EXPECT_LT(result.messages.size(), 100u);
  EXPECT_THAT(gateway_->Log(), HasSubstr("stopping now"));
}

}  // namespace
}  // namespace oa::testing
