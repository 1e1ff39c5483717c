// The REST front's WebSocket relay (http/websocket_relay.h), with Beast's WebSocket client
// on one side and the mock's WebSocket sessions (tests/mock/mock_websocket.h) on the other:
// what passes, what the gateway refuses itself, and how sessions end.
#include "net/websocket.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <csignal>
#include <regex>
#include <thread>

#include "fixture.h"
#include "observe/fingerprint.h"

namespace oa::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using ::testing::HasSubstr;

// A blocking WebSocket client whose every read and write gives up after 10 s (socket
// timeouts), so that no test can hang on a session that went wrong.
class WsClient {
 public:
  explicit WsClient(uint16_t port) : ws_(io_) {
    tcp::socket& socket = ws_.next_layer();
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    const timeval timeout{10, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    ws_.read_message_max(64 << 20);
  }

  // The handshake; its error, if any (a refused upgrade is websocket::error::upgrade_declined).
  beast::error_code Open(const std::string& target, const Headers& headers, bool deflate = false) {
    if (deflate) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      ws_.set_option(pmd);
    }
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    beast::error_code ec;
    ws_.handshake(response_, "127.0.0.1", target, ec);
    return ec;
  }

  void SendText(std::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  void SendBinary(std::string_view bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes));
  }
  // The next message, or the error that ended the session.
  std::string Read(beast::error_code& ec) {
    beast::flat_buffer buffer;
    ws_.read(buffer, ec);
    return beast::buffers_to_string(buffer.data());
  }
  std::string Read() {
    beast::error_code ec;
    std::string message = Read(ec);
    EXPECT_FALSE(ec) << ec.message();
    return message;
  }
  // Reads until a message containing `text` (events before it are skipped).
  std::string ReadUntil(std::string_view text) {
    for (int i = 0; i < 50; ++i) {
      beast::error_code ec;
      std::string message = Read(ec);
      if (ec) {
        ADD_FAILURE() << "session ended before '" << text << "': " << ec.message();
        return "";
      }
      if (message.find(text) != std::string::npos) return message;
    }
    ADD_FAILURE() << "no message with '" << text << "'";
    return "";
  }
  void Close(uint16_t code) { ws_.close(websocket::close_reason(code)); }
  void Abort() { ws_.next_layer().close(); }

  websocket::stream<tcp::socket>& ws() { return ws_; }
  const websocket::response_type& response() const { return response_; }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
};

// An upgrade request written by hand, for the ones no WebSocket client would send.
std::string Upgrade(std::string_view method, std::string_view target, const Headers& extra,
                    bool with_key = true, std::string_view version = "13") {
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                        "Upgrade: websocket\r\nSec-WebSocket-Version: " +
                        std::string(version) + "\r\n";
  if (with_key) request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  for (const auto& [name, value] : extra) request += name + ": " + value + "\r\n";
  return request + "\r\n";
}

double MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class WebSocketRelay : public GatewayTest {
 protected:
  std::string AccessLine(std::string_view path) {
    std::string line;
    mock::MockOpenAI::WaitFor(
        [&] {
          const std::string log = gateway_->Log();
          const size_t at = log.rfind(std::string("path=") + std::string(path));
          if (at == std::string::npos || log.find("frames_in=", at) == std::string::npos) {
            return false;
          }
          const size_t start = log.rfind('\n', at) + 1;
          line = log.substr(start, log.find('\n', at) - start);
          return true;
        },
        std::chrono::milliseconds(3000));
    return line;
  }

  mock::RecordedWebSocket LastSession(bool ended) {
    mock::RecordedWebSocket last;
    EXPECT_TRUE(mock::MockOpenAI::WaitFor(
        [&] {
          const auto sessions = mock_->websockets();
          if (sessions.empty() || (ended && !sessions.back().ended)) return false;
          last = sessions.back();
          return true;
        },
        std::chrono::milliseconds(5000)));
    return last;
  }

  std::string Metrics() { return Client().Call("GET", "/metrics", {}).body; }
};

TEST_F(WebSocketRelay, ARealtimeSessionPassesBothWaysAndEndsWithTheClientsClose) {
  StartAll();
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=gpt-test", kAuth));
  EXPECT_EQ(client.response().result_int(), 101);
  const std::string created = client.Read();
  EXPECT_THAT(created, HasSubstr(R"("type":"session.created")"));
  EXPECT_THAT(created, HasSubstr(R"("model":"gpt-test")"));
  client.SendText(R"({"type":"response.create"})");
  EXPECT_THAT(client.ReadUntil("response.done"), HasSubstr(R"("output_tokens":20)"));
  client.Close(1000);

  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  EXPECT_EQ(session.target, "/v1/realtime?model=gpt-test");
  EXPECT_EQ(session.close_code, 1000);
  EXPECT_EQ(session.ending, "client_close");
  ASSERT_EQ(session.messages.size(), 1u);
  EXPECT_EQ(session.messages[0].prefix, R"({"type":"response.create"})");
  // The upgrade went up as the client sent it: its key and version, nothing added.
  const mock::RecordedRequest& upgrade = session.request;
  EXPECT_EQ(upgrade.method, "GET");
  EXPECT_FALSE(upgrade.header("Sec-WebSocket-Key").empty());
  EXPECT_EQ(upgrade.header("Sec-WebSocket-Version"), "13");
  EXPECT_EQ(upgrade.header("Authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(upgrade.header("OpenAI-Beta"), "");

  const std::string line = AccessLine("/v1/realtime");
  EXPECT_THAT(line, HasSubstr("rpc=openai.v1.RealtimeService/Connect status=101"));
  EXPECT_THAT(line, HasSubstr("frames_in=2"));  // the event and the Close
  EXPECT_THAT(line, HasSubstr("closed_by=client close_code=1000"));
  const std::string metrics = Metrics();
  EXPECT_EQ(MetricValue(metrics, R"(oa_websockets_total{front="rest",close_code="1000"})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(oa_websockets_open{front="rest"})"), 0);
  EXPECT_EQ(MetricValue(metrics, R"(oa_websocket_frames_total{front="rest",direction="in"})"), 2);
}

TEST_F(WebSocketRelay, TheBrowsersSubprotocolKeyIsAKeyAndDeflateIsEndToEnd) {
  // Only the suite's key may call: a browser's key in the subprotocol is read as one.
  const std::string authorization = std::string("Bearer ") + kKey;
  StartAll({"--allow-keys", observe::KeyFingerprint(authorization)});
  WsClient refused(gateway_->port());
  EXPECT_EQ(refused.Open("/v1/realtime?model=m", {{"Sec-WebSocket-Protocol",
                                                   "realtime, openai-insecure-api-key.sk-other"}}),
            websocket::error::upgrade_declined);
  EXPECT_EQ(refused.response().result_int(), 403);
  EXPECT_TRUE(mock_->websockets().empty());

  const Headers subprotocol_key = {
      {"Sec-WebSocket-Protocol", std::string("realtime, openai-insecure-api-key.") + kKey}};
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=m", subprotocol_key, /*deflate=*/true));
  EXPECT_EQ(client.response()[beast::http::field::sec_websocket_protocol], "realtime");
  EXPECT_THAT(std::string(client.response()[beast::http::field::sec_websocket_extensions]),
              HasSubstr("permessage-deflate"));
  client.Read();  // session.created, compressed by the mock, inflated by the client
  const std::string repetitive(256 * 1024, 'a');
  client.SendText(R"({"type":"session.update","pad":")" + repetitive + R"("})");
  EXPECT_THAT(client.ReadUntil("session.updated"), HasSubstr("session.updated"));
  client.Close(1000);
  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  EXPECT_TRUE(session.deflate);
  EXPECT_EQ(session.subprotocol, "realtime");
  EXPECT_EQ(session.request.header("Authorization"), "");
  EXPECT_THAT(session.request.header("Sec-WebSocket-Protocol"), HasSubstr(kKey));
  ASSERT_EQ(session.messages.size(), 1u);
  EXPECT_EQ(session.messages[0].bytes, repetitive.size() + 34);
  // Compressed on the wire: far fewer bytes passed than the message holds.
  const std::string line = AccessLine("/v1/realtime");
  std::smatch bytes_in;
  ASSERT_TRUE(std::regex_search(line, bytes_in, std::regex("bytes_in=([0-9]+)"))) << line;
  EXPECT_LT(std::stoull(bytes_in[1]), 16 * 1024u) << line;
  EXPECT_THAT(line, HasSubstr("key=" + observe::ShortFingerprint(authorization)));
}

TEST_F(WebSocketRelay, LargeFramesPingsAndFragmentsPassWhole) {
  StartAll({"--workers", "1"});
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/anything/echo", kAuth));  // echo: any path is relayed
  const long rss_before = gateway_->PeakRssKib();
  std::string big(20 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31 + 7) % 251);
  client.SendBinary(big);
  EXPECT_TRUE(client.Read() == big);
  client.SendText(R"({"type":"mock.big","bytes":20971520})");
  EXPECT_EQ(client.Read().size(), 20971520u);
  client.SendText(R"({"type":"mock.fragmented","parts":7})");
  EXPECT_THAT(client.Read(), HasSubstr(R"("type":"mock.fragmented")"));
  client.SendText(R"({"type":"mock.ping","payload":"are you there"})");
  client.SendText(R"({"type":"mock.fragmented","parts":1})");  // after the ping is answered
  client.Read();
  client.Close(1000);
  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  ASSERT_EQ(session.pongs.size(), 1u);
  EXPECT_EQ(session.pongs[0], "are you there");
  ASSERT_FALSE(session.messages.empty());
  EXPECT_EQ(session.messages[0].bytes, big.size());
  // The gateway held each side's bytes in pieces, never a whole 20 MiB frame: its peak RSS
  // grew by far less than one. (A sanitizer's allocator holds freed pieces back.)
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  const long growth = gateway_->PeakRssKib() - rss_before;
  EXPECT_LT(growth, 8 * 1024) << "before " << rss_before << " KiB, peak " << gateway_->PeakRssKib()
                              << " KiB";
#endif
}

// A client may send its first frames with its upgrade, before any 101: they wait in the
// gateway, and pass first once the session opens.
TEST_F(WebSocketRelay, FramesSentWithTheUpgradePassFirst) {
  StartAll();
  TestClient client(gateway_->port());
  client.SetReadTimeout(std::chrono::milliseconds(5000));
  const std::string frame =
      net::ws::EncodeFrame(net::ws::Opcode::kText, true, "early", net::ws::RandomMask());
  client.SendRaw(Upgrade("GET", "/v1/echo", kAuth) + frame);  // one write
  const Reply head = client.Read();
  ASSERT_EQ(head.status, 101) << head.error;
  // The mock's echo script sends the message back, unmasked as a server's.
  EXPECT_EQ(client.ReadBytes(7), std::string("\x81\x05"
                                             "early",
                                             7));
}

TEST_F(WebSocketRelay, TheGatewayRefusesBadUpgradesItselfAsOpenAIErrors) {
  StartAll();
  const auto status_of = [&](const std::string& request) {
    TestClient client(gateway_->port());
    client.SendRaw(request);
    return client.Read();
  };
  Reply no_key = status_of(Upgrade("GET", "/v1/realtime?model=m", {}));
  EXPECT_EQ(no_key.status, 401);
  EXPECT_THAT(no_key.body, HasSubstr("openai-insecure-api-key"));
  Reply post = status_of(Upgrade("POST", "/v1/realtime", kAuth));
  EXPECT_EQ(post.status, 400);
  EXPECT_THAT(post.body, HasSubstr(R"("code":"invalid_websocket_upgrade")"));
  EXPECT_EQ(status_of(Upgrade("GET", "/v1/realtime", kAuth, /*with_key=*/false)).status, 400);
  EXPECT_EQ(status_of(Upgrade("GET", "/v1/realtime", kAuth, true, "8")).status, 400);
  EXPECT_TRUE(mock_->requests().empty());  // none of them went upstream

  // The upstream's own refusal comes back as it sent it.
  WsClient client(gateway_->port());
  Headers refuse = kAuth;
  refuse.emplace_back("x-mock-ws-refuse", "401");
  EXPECT_EQ(client.Open("/v1/realtime?model=m", refuse), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result_int(), 401);
  EXPECT_EQ(mock_->requests().size(), 1u);
}

TEST_F(WebSocketRelay, WebSocketsOffAnswers426SoClientsFallBackToHttp) {
  StartAll({"--websocket", "off"});
  TestClient client(gateway_->port());
  client.SendRaw(Upgrade("GET", "/v1/responses", kAuth));
  const Reply reply = client.Read();
  EXPECT_EQ(reply.status, 426);
  EXPECT_THAT(reply.body, HasSubstr(R"("code":"websockets_disabled")"));
  EXPECT_TRUE(mock_->requests().empty());
}

TEST_F(WebSocketRelay, AnUpstreamThatVanishesMidFrameClosesTheClient) {
  StartAll();
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=m", kAuth));
  client.Read();
  client.SendText(R"({"type":"mock.vanish"})");
  beast::error_code ec;
  client.Read(ec);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed);  // a cut, not a clean close
  EXPECT_THAT(AccessLine("/v1/realtime"), HasSubstr("closed_by=upstream close_code=-"));
}

TEST_F(WebSocketRelay, AClientThatLeavesClosesTheUpstreamAtOnce) {
  StartAll();
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=m", kAuth));
  client.Read();
  client.Abort();
  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  EXPECT_EQ(session.ending, "tcp_gone");
  EXPECT_THAT(AccessLine("/v1/realtime"), HasSubstr("closed_by=client"));
}

TEST_F(WebSocketRelay, AnIdleSessionGetsClose1001BothWays) {
  StartAll({"--websocket-idle-timeout", "1s"});
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=m", kAuth));
  client.Read();
  client.SendText(R"({"type":"mock.silent"})");
  beast::error_code ec;
  client.Read(ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, 1001);
  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  EXPECT_EQ(session.close_code, 1001);
  EXPECT_THAT(AccessLine("/v1/realtime"), HasSubstr("closed_by=gateway close_code=1001"));
}

TEST_F(WebSocketRelay, ADrainSendsClose1001BothWaysThenStops) {
  StartAll({"--drain-timeout", "5s"});
  WsClient client(gateway_->port());
  ASSERT_FALSE(client.Open("/v1/realtime?model=m", kAuth));
  client.Read();
  gateway_->Signal(SIGTERM);
  beast::error_code ec;
  client.Read(ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, 1001);
  const mock::RecordedWebSocket session = LastSession(/*ended=*/true);
  EXPECT_EQ(session.close_code, 1001);
  EXPECT_EQ(gateway_->WaitExit(std::chrono::milliseconds(4000)), 0);
}

TEST_F(WebSocketRelay, AnOpenSessionHoldsItsPlaceInTheConcurrencyLimit) {
  StartAll({"--rate-limit-concurrent", "1"});
  auto first = std::make_unique<WsClient>(gateway_->port());
  ASSERT_FALSE(first->Open("/v1/realtime?model=m", kAuth));
  first->Read();
  WsClient second(gateway_->port());
  EXPECT_EQ(second.Open("/v1/realtime?model=m", kAuth), websocket::error::upgrade_declined);
  EXPECT_EQ(second.response().result_int(), 429);
  EXPECT_FALSE(second.response()[beast::http::field::retry_after].empty());
  first->Close(1000);
  first.reset();
  LastSession(/*ended=*/true);
  ASSERT_TRUE(LogHas("closed_by=client"));
  WsClient third(gateway_->port());
  EXPECT_FALSE(third.Open("/v1/realtime?model=m", kAuth));
}

TEST_F(WebSocketRelay, AThousandIdleSessionsAreHeldAndReleased) {
  StartAll();
  constexpr int kSessions = 1000;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kSessions; ++i) {
    clients.push_back(std::make_unique<WsClient>(gateway_->port()));
    ASSERT_FALSE(clients.back()->Open("/v1/x?mock_ws=echo", kAuth)) << i;
  }
  // A session counts once its relay runs, just after its 101 went out.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor(
      [&] { return MetricValue(Metrics(), R"(oa_websockets_open{front="rest"})") == kSessions; },
      std::chrono::milliseconds(10000)));
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_websockets() == kSessions; },
                                        std::chrono::milliseconds(10000)));
  for (auto& client : clients) client->Close(1000);
  clients.clear();
  EXPECT_TRUE(mock::MockOpenAI::WaitFor(
      [&] { return MetricValue(Metrics(), R"(oa_websockets_open{front="rest"})") == 0; },
      std::chrono::milliseconds(10000)));
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_websockets() == 0; },
                                        std::chrono::milliseconds(10000)));
}

}  // namespace
}  // namespace oa::testing
