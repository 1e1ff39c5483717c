// The mock's WebSocket sessions (tests/mock/mock_websocket.cc), which tests of the gateway's
// WebSocket relay stand on: Beast's own client against the mock, over TCP and TLS, plus a
// raw socket where the frames themselves are the point. Every wait is bounded: a mock that
// says nothing fails the test rather than hanging it.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "integration/test_certs.h"
#include "mock/mock_openai.h"
#include "support/wait_until.h"

namespace oa::mock {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;
using oa::testing::WaitUntil;
using namespace std::chrono_literals;

constexpr Millis kTimeout = 10s;
constexpr size_t kMessageMax = 64 << 20;

// Runs the asynchronous operation that `start` begins (with the completion handler it is
// given) on `io` until it completes, for at most `timeout`; then `abort` makes it end, with
// an error, before the result it writes to goes away.
template <class Start, class Abort>
beast::error_code Await(net::io_context& io, Start start, Abort abort, Millis timeout) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  io.restart();
  while (!result && io.run_one_until(deadline) > 0) {
  }
  if (result) return *result;
  abort();
  io.restart();
  while (!result && io.run_one_for(kTimeout) > 0) {
  }
  return net::error::timed_out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned char byte : std::span(digest, size)) {
    hex += "0123456789abcdef"[byte >> 4];
    hex += "0123456789abcdef"[byte & 0xF];
  }
  return hex;
}

// `text` parsed, or null when it is no JSON.
json::value Json(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  return ec ? json::value() : value;
}

// The string at JSON pointer `pointer` of `doc`, "<none>" when there is no string there.
std::string Str(const json::value& doc, std::string_view pointer) {
  boost::system::error_code ec;
  const json::value* value = doc.find_pointer(pointer, ec);
  if (value == nullptr || !value->is_string()) return "<none>";
  return std::string(value->get_string().data(), value->get_string().size());
}

// The integer at JSON pointer `pointer` of `doc`, -999 when there is no integer there.
int64_t Int(const json::value& doc, std::string_view pointer) {
  boost::system::error_code ec;
  const json::value* value = doc.find_pointer(pointer, ec);
  if (value == nullptr || !value->is_number()) return -999;
  return value->to_number<int64_t>();
}

bool Has(const json::value& doc, std::string_view pointer) {
  boost::system::error_code ec;
  return doc.find_pointer(pointer, ec) != nullptr;
}

// A WebSocket client: Beast's, over beast::tcp_stream or ssl::stream<beast::tcp_stream>.
// It answers pings (with pongs, as Beast does while it reads) and keeps their payloads.
template <class NextLayer>
class Client {
 public:
  struct Message {
    beast::error_code ec;
    bool text = false;
    std::string data;
    json::value json() const { return Json(data); }
  };

  template <class... Args>
  explicit Client(net::io_context& io, Args&&... args)
      : io_(io), ws_(io, std::forward<Args>(args)...) {
    ws_.read_message_max(kMessageMax);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind == websocket::frame_type::ping) pings_.emplace_back(payload);
    });
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects to 127.0.0.1:`port` and asks for `target` with `headers` besides Beast's.
  // The mock's answer is in response() afterwards.
  beast::error_code Connect(uint16_t port, std::string target, Headers headers = {},
                            bool offer_deflate = false) {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    beast::error_code ec =
        Await([&](auto done) { beast::get_lowest_layer(ws_).async_connect(endpoint, done); });
    if (ec) return ec;
    if constexpr (!std::is_same_v<NextLayer, beast::tcp_stream>) {
      ec = Await(
          [&](auto done) { ws_.next_layer().async_handshake(ssl::stream_base::client, done); });
      if (ec) return ec;
    }
    if (offer_deflate) {
      websocket::permessage_deflate deflate;
      deflate.client_enable = true;
      ws_.set_option(deflate);
    }
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& request) {
      for (const auto& [name, value] : headers) request.set(name, value);
    }));
    return Await([&](auto done) { ws_.async_handshake(response_, "127.0.0.1", target, done); });
  }

  beast::error_code Send(std::string_view data, bool text = true) {
    ws_.text(text);
    return Await([&](auto done) { ws_.async_write(net::buffer(data), done); });
  }

  Message Read(Millis timeout = kTimeout) {
    beast::flat_buffer buffer;
    Message message;
    message.ec = Await([&](auto done) { ws_.async_read(buffer, done); }, timeout);
    message.text = ws_.got_text();
    message.data = beast::buffers_to_string(buffer.data());
    return message;
  }

  // The next message as JSON; null (and a failure) when there is none.
  json::value ReadJson() {
    Message message = Read();
    EXPECT_FALSE(message.ec) << message.ec.message();
    EXPECT_TRUE(message.text);
    return message.json();
  }

  beast::error_code Close(uint16_t code, std::string_view reason) {
    const websocket::close_reason frame(static_cast<websocket::close_code>(code), reason);
    return Await([&](auto done) { ws_.async_close(frame, done); });
  }

  // Closes the TCP connection without a word.
  void Drop() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  const websocket::response_type& response() const { return response_; }
  websocket::stream<NextLayer>& ws() { return ws_; }
  const std::vector<std::string>& pings() const { return pings_; }

 private:
  template <class Start>
  beast::error_code Await(Start start, Millis timeout = kTimeout) {
    return oa::mock::Await(
        io_, start, [this] { Drop(); }, timeout);
  }

  net::io_context& io_;
  websocket::stream<NextLayer> ws_;
  websocket::response_type response_;
  std::vector<std::string> pings_;
};

using PlainClient = Client<beast::tcp_stream>;
using TlsClient = Client<ssl::stream<beast::tcp_stream>>;

// A request to the mock over plain HTTP, e.g. to its control paths: the answer's body.
std::string Call(net::io_context& io, uint16_t port, http::verb method, std::string target,
                 Headers headers = {}) {
  beast::tcp_stream stream(io);
  auto abort = [&] { stream.close(); };
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
  EXPECT_FALSE(Await(
      io, [&](auto done) { stream.async_connect(endpoint, done); }, abort, kTimeout));
  http::request<http::empty_body> request(method, target, 11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  EXPECT_FALSE(Await(
      io, [&](auto done) { http::async_write(stream, request, done); }, abort, kTimeout));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  EXPECT_FALSE(Await(
      io, [&](auto done) { http::async_read(stream, buffer, response, done); }, abort, kTimeout));
  return response.body();
}

// Bytes unlike text, so that an echo that mangled or reordered them would show.
std::string PatternBytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 31 + 7) % 251);
  return bytes;
}

class MockWebSocket : public ::testing::Test {
 protected:
  void SetUp() override { mock_.Start(); }

  // The only session recorded, once it has ended.
  RecordedWebSocket EndedSession() {
    EXPECT_TRUE(WaitUntil(
        [&] {
          std::vector<RecordedWebSocket> sessions = mock_.websockets();
          return sessions.size() == 1 && sessions[0].ended;
        },
        kTimeout));
    std::vector<RecordedWebSocket> sessions = mock_.websockets();
    return sessions.empty() ? RecordedWebSocket{} : sessions.back();
  }

  net::io_context io_;
  MockOpenAI mock_;
};

TEST_F(MockWebSocket, EchoesTextAndLargeBinaryMessages) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/anything"));
  ASSERT_FALSE(client.Send("hello, mock"));
  PlainClient::Message text = client.Read();
  ASSERT_FALSE(text.ec) << text.ec.message();
  EXPECT_TRUE(text.text);
  EXPECT_EQ(text.data, "hello, mock");

  const std::string binary = PatternBytes(20 << 20);
  ASSERT_FALSE(client.Send(binary, false));
  PlainClient::Message echoed = client.Read();
  ASSERT_FALSE(echoed.ec) << echoed.ec.message();
  EXPECT_FALSE(echoed.text);
  EXPECT_TRUE(echoed.data == binary) << "echoed " << echoed.data.size() << " bytes";

  ASSERT_FALSE(client.Close(1000, "done"));
  RecordedWebSocket session = EndedSession();
  EXPECT_EQ(session.script, "echo");
  ASSERT_EQ(session.messages.size(), 2u);
  EXPECT_TRUE(session.messages[0].text);
  EXPECT_EQ(session.messages[0].bytes, 11u);
  EXPECT_EQ(session.messages[0].prefix, "hello, mock");
  EXPECT_FALSE(session.messages[1].text);
  EXPECT_EQ(session.messages[1].bytes, binary.size());
  EXPECT_EQ(session.messages[1].sha256, Sha256Hex(binary));
  EXPECT_EQ(session.messages[1].prefix, binary.substr(0, 4096));
}

TEST_F(MockWebSocket, RealtimeScriptAnswersEvents) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/realtime?model=gpt-realtime-mini"));
  json::value created = client.ReadJson();
  EXPECT_EQ(Str(created, "/type"), "session.created");
  EXPECT_EQ(Str(created, "/event_id"), "evt_mock_1");
  EXPECT_EQ(Str(created, "/session/id"), "sess_mock_1");
  EXPECT_EQ(Str(created, "/session/object"), "realtime.session");
  EXPECT_EQ(Str(created, "/session/model"), "gpt-realtime-mini");

  ASSERT_FALSE(client.Send(R"({"type":"session.update","session":{"voice":"alloy"}})"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "session.updated");

  // Eight bytes of audio; an append is not answered.
  ASSERT_FALSE(client.Send(R"({"type":"input_audio_buffer.append","audio":"AAECAwQFBgc="})"));
  ASSERT_FALSE(client.Send(R"({"type":"input_audio_buffer.commit"})"));
  json::value committed = client.ReadJson();
  EXPECT_EQ(Str(committed, "/type"), "input_audio_buffer.committed");
  EXPECT_NE(Str(committed, "/item_id"), "<none>");

  ASSERT_FALSE(client.Send(R"({"type":"response.create"})"));
  json::value response_created = client.ReadJson();
  EXPECT_EQ(Str(response_created, "/type"), "response.created");
  EXPECT_EQ(Str(response_created, "/response/id"), "resp_mock_1");
  json::value delta = client.ReadJson();
  EXPECT_EQ(Str(delta, "/type"), "response.output_audio.delta");
  EXPECT_EQ(Str(delta, "/response_id"), "resp_mock_1");
  EXPECT_NE(Str(delta, "/item_id"), "<none>");
  EXPECT_EQ(Int(delta, "/output_index"), 0);
  EXPECT_EQ(Int(delta, "/content_index"), 0);
  EXPECT_FALSE(Str(delta, "/delta").empty());
  json::value done = client.ReadJson();
  EXPECT_EQ(Str(done, "/type"), "response.done");
  EXPECT_EQ(Str(done, "/response/id"), "resp_mock_1");
  EXPECT_EQ(Str(done, "/response/object"), "realtime.response");
  EXPECT_EQ(Str(done, "/response/status"), "completed");
  EXPECT_EQ(Int(done, "/response/usage/total_tokens"), 30);
  EXPECT_EQ(Int(done, "/response/usage/input_tokens"), 10);
  EXPECT_EQ(Int(done, "/response/usage/output_tokens"), 20);
  EXPECT_EQ(Int(done, "/response/usage/input_token_details/cached_tokens"), 4);
  EXPECT_EQ(Int(done, "/response/usage/input_token_details/text_tokens"), 6);
  EXPECT_EQ(Int(done, "/response/usage/input_token_details/audio_tokens"), 4);
  EXPECT_EQ(Int(done, "/response/usage/output_token_details/text_tokens"), 12);
  EXPECT_EQ(Int(done, "/response/usage/output_token_details/audio_tokens"), 8);

  // An event nobody knows gets an error event, and the session goes on.
  ASSERT_FALSE(client.Send(R"({"type":"conversation.bogus","event_id":"evt_client_7"})"));
  json::value error = client.ReadJson();
  EXPECT_EQ(Str(error, "/type"), "error");
  EXPECT_NE(Str(error, "/event_id"), "<none>");
  EXPECT_EQ(Str(error, "/error/type"), "invalid_request_error");
  EXPECT_EQ(Str(error, "/error/code"), "unknown_event");
  EXPECT_EQ(Str(error, "/error/event_id"), "evt_client_7");
  ASSERT_FALSE(client.Send(R"({"type":"session.update"})"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "session.updated");

  // Audio counts as soon as its append is recorded, the last message included.
  ASSERT_FALSE(client.Send(R"({"type":"input_audio_buffer.append","audio":"AAEC"})"));
  ASSERT_TRUE(WaitUntil([&] { return mock_.websockets().at(0).messages.size() == 7; }, kTimeout));
  EXPECT_EQ(mock_.websockets().at(0).audio_bytes, 11u);

  ASSERT_FALSE(client.Close(1000, ""));
  RecordedWebSocket session = EndedSession();
  EXPECT_EQ(session.script, "realtime");
  EXPECT_EQ(session.audio_bytes, 11u);
  EXPECT_EQ(session.messages.size(), 7u);
}

TEST_F(MockWebSocket, ResponsesScriptStreamsEventsWithStreamId) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/responses"));
  for (int round = 1; round <= 2; ++round) {
    ASSERT_FALSE(client.Send(R"({"type":"response.create","model":"gpt-5","stream_id":"s1"})"));
    std::vector<json::value> events;
    for (int i = 0; i < 5; ++i) events.push_back(client.ReadJson());
    const std::vector<std::string> types = {"response.created", "response.output_text.delta",
                                            "response.output_text.delta",
                                            "response.output_text.delta", "response.completed"};
    std::string text;
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(Str(events[i], "/type"), types[i]);
      EXPECT_EQ(Int(events[i], "/sequence_number"), i);
      EXPECT_EQ(Str(events[i], "/stream_id"), "s1");
      if (i >= 1 && i <= 3) text += Str(events[i], "/delta");
    }
    EXPECT_EQ(text, "Hello!");
    const json::value& completed = events[4];
    EXPECT_EQ(Str(completed, "/response/id"), "resp_mock_" + std::to_string(round));
    EXPECT_EQ(Str(completed, "/response/status"), "completed");
    EXPECT_EQ(Str(completed, "/response/model"), "gpt-5");
    EXPECT_EQ(Int(completed, "/response/usage/input_tokens"), 5);
    EXPECT_EQ(Int(completed, "/response/usage/input_tokens_details/cached_tokens"), 1);
    EXPECT_EQ(Int(completed, "/response/usage/output_tokens"), 3);
    EXPECT_EQ(Int(completed, "/response/usage/output_tokens_details/reasoning_tokens"), 0);
    EXPECT_EQ(Int(completed, "/response/usage/total_tokens"), 8);
  }

  ASSERT_FALSE(client.Send(R"({"type":"response.cancel"})"));
  json::value error = client.ReadJson();
  EXPECT_EQ(Str(error, "/type"), "error");
  EXPECT_EQ(Int(error, "/status"), 400);
  EXPECT_EQ(Str(error, "/error/code"), "unknown_event");
  EXPECT_FALSE(Has(error, "/stream_id"));
  ASSERT_FALSE(client.Send(R"({"type":"response.create"})"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "response.created");
}

TEST_F(MockWebSocket, RefusesWithTheStatusAsked) {
  PlainClient by_header(io_);
  EXPECT_EQ(by_header.Connect(mock_.port(), "/v1/realtime", {{"x-mock-ws-refuse", "401"}}),
            websocket::error::upgrade_declined);
  EXPECT_EQ(by_header.response().result_int(), 401);
  json::value body = Json(by_header.response().body());
  EXPECT_EQ(Str(body, "/error/type"), "invalid_request_error");
  EXPECT_EQ(Str(body, "/error/code"), "invalid_api_key");
  EXPECT_TRUE(Has(body, "/error/message"));
  EXPECT_TRUE(Has(body, "/error/param"));

  PlainClient by_query(io_);
  EXPECT_EQ(by_query.Connect(mock_.port(), "/v1/realtime?mock_ws_refuse=403"),
            websocket::error::upgrade_declined);
  EXPECT_EQ(by_query.response().result_int(), 403);

  PlainClient unknown_script(io_);
  EXPECT_EQ(unknown_script.Connect(mock_.port(), "/x", {{"x-mock-ws", "no-such-script"}}),
            websocket::error::upgrade_declined);
  EXPECT_EQ(unknown_script.response().result_int(), 400);

  ASSERT_EQ(mock_.requests().size(), 3u);
  EXPECT_EQ(mock_.requests()[1].target, "/v1/realtime?mock_ws_refuse=403");
  EXPECT_TRUE(mock_.websockets().empty());
}

TEST_F(MockWebSocket, QueryParameterChoosesTheScript) {
  PlainClient echo(io_);
  ASSERT_FALSE(echo.Connect(mock_.port(), "/v1/realtime?mock_ws=echo"));
  ASSERT_FALSE(echo.Send(R"({"type":"response.create"})"));
  EXPECT_EQ(echo.Read().data, R"({"type":"response.create"})");

  PlainClient responses(io_);
  ASSERT_FALSE(responses.Connect(mock_.port(), "/somewhere?x=1&mock_ws=responses"));
  ASSERT_FALSE(responses.Send(R"({"type":"response.create"})"));
  EXPECT_EQ(Str(responses.ReadJson(), "/type"), "response.created");
}

TEST_F(MockWebSocket, ArmedOverrideChoosesTheScript) {
  Call(io_, mock_.port(), http::verb::post, "/__mock/override?path=/v1/plain",
       {{"x-mock-ws", "realtime"}});
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/plain"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "session.created");
}

TEST_F(MockWebSocket, CloseControlClosesWithCodeAndReason) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/realtime"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "session.created");
  ASSERT_FALSE(client.Send(R"({"type":"mock.close","code":4000,"reason":"bye"})"));
  PlainClient::Message message = client.Read();
  EXPECT_EQ(message.ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, 4000);
  const websocket::close_reason& reason = client.ws().reason();
  EXPECT_EQ(std::string(reason.reason.data(), reason.reason.size()), "bye");

  RecordedWebSocket session = EndedSession();
  EXPECT_EQ(session.ending, "server_close");
  EXPECT_EQ(session.close_code, 4000);  // Beast's client answers with the code it got
}

TEST_F(MockWebSocket, ErrorThenCloseSendsAnErrorEventThenCloses) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(client.Send(R"({"type":"mock.error_then_close","code":4001})"));
  json::value error = client.ReadJson();
  EXPECT_EQ(Str(error, "/type"), "error");
  EXPECT_EQ(Str(error, "/error/code"), "mock_error");
  EXPECT_EQ(Str(error, "/error/message"), "mock failure");
  EXPECT_EQ(client.Read().ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, 4001);
  EXPECT_EQ(EndedSession().ending, "server_close");
}

TEST_F(MockWebSocket, ChoosesRealtimeSubprotocolWhenOffered) {
  PlainClient offering(io_);
  ASSERT_FALSE(offering.Connect(
      mock_.port(), "/v1/realtime",
      {{"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-test, openai-beta"}}));
  EXPECT_EQ(std::string(offering.response()[http::field::sec_websocket_protocol]), "realtime");

  PlainClient not_offering(io_);
  ASSERT_FALSE(not_offering.Connect(mock_.port(), "/v1/realtime",
                                    {{"Sec-WebSocket-Protocol", "something-else"}}));
  EXPECT_EQ(not_offering.response().count(http::field::sec_websocket_protocol), 0u);

  ASSERT_TRUE(WaitUntil([&] { return mock_.websockets().size() == 2; }, kTimeout));
  EXPECT_EQ(mock_.websockets()[0].subprotocol, "realtime");
  EXPECT_EQ(mock_.websockets()[1].subprotocol, "");
}

TEST_F(MockWebSocket, NegotiatesPermessageDeflateWhenOffered) {
  PlainClient deflating(io_);
  ASSERT_FALSE(deflating.Connect(mock_.port(), "/v1/echo", {}, true));
  EXPECT_NE(std::string_view(deflating.response()[http::field::sec_websocket_extensions])
                .find("permessage-deflate"),
            std::string_view::npos);
  const std::string text(100000, 'a');
  ASSERT_FALSE(deflating.Send(text));
  EXPECT_TRUE(deflating.Read().data == text);

  PlainClient plain(io_);
  ASSERT_FALSE(plain.Connect(mock_.port(), "/v1/echo"));
  EXPECT_EQ(plain.response().count(http::field::sec_websocket_extensions), 0u);

  ASSERT_TRUE(WaitUntil([&] { return mock_.websockets().size() == 2; }, kTimeout));
  std::vector<RecordedWebSocket> sessions = mock_.websockets();
  EXPECT_TRUE(sessions[0].deflate);
  ASSERT_EQ(sessions[0].messages.size(), 1u);
  EXPECT_EQ(sessions[0].messages[0].bytes, text.size());  // as inflated
  EXPECT_FALSE(sessions[1].deflate);
}

TEST_F(MockWebSocket, PingRecordsThePong) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(client.Send(R"({"type":"mock.ping","payload":"are you there"})"));
  // Beast answers the ping while it reads what comes after it.
  ASSERT_FALSE(client.Send(R"({"type":"mock.big","bytes":100})"));
  EXPECT_EQ(client.Read().data.size(), 100u);
  EXPECT_EQ(client.pings(), std::vector<std::string>{"are you there"});
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::vector<RecordedWebSocket> sessions = mock_.websockets();
        return !sessions.empty() && !sessions[0].pongs.empty();
      },
      kTimeout));
  EXPECT_EQ(mock_.websockets()[0].pongs, std::vector<std::string>{"are you there"});
}

TEST_F(MockWebSocket, BigMessageHasTheSizeAsked) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(client.Send(R"({"type":"mock.big","bytes":3000000})"));
  PlainClient::Message big = client.Read();
  ASSERT_FALSE(big.ec);
  EXPECT_TRUE(big.text);
  EXPECT_EQ(big.data.size(), 3000000u);
  EXPECT_EQ(Str(big.json(), "/type"), "mock.big");
}

TEST_F(MockWebSocket, FragmentedMessageArrivesWhole) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo", {}, true));
  ASSERT_FALSE(client.Send(R"({"type":"mock.fragmented","parts":5})"));
  PlainClient::Message message = client.Read();
  ASSERT_FALSE(message.ec);
  EXPECT_TRUE(message.text);
  EXPECT_EQ(Str(message.json(), "/type"), "mock.fragmented");
  EXPECT_EQ(Int(message.json(), "/parts"), 5);
}

TEST_F(MockWebSocket, VanishLeavesTheClientWithAnError) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/realtime"));
  EXPECT_EQ(Str(client.ReadJson(), "/type"), "session.created");
  ASSERT_FALSE(client.Send(R"({"type":"mock.vanish"})"));
  PlainClient::Message message = client.Read();
  EXPECT_TRUE(message.ec);
  EXPECT_NE(message.ec, websocket::error::closed);
  EXPECT_NE(message.ec, net::error::timed_out);
  RecordedWebSocket session = EndedSession();
  EXPECT_EQ(session.ending, "vanished");
  EXPECT_EQ(session.close_code, -1);
}

TEST_F(MockWebSocket, SilentSendsNothing) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(client.Send(R"({"type":"mock.silent"})"));
  EXPECT_EQ(client.Read(300ms).ec, net::error::timed_out);
}

TEST_F(MockWebSocket, RecordsTheUpgradeRequest) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/realtime?model=m", {{"x-test-id", "42"}}));
  ASSERT_TRUE(WaitUntil([&] { return mock_.websockets().size() == 1; }, kTimeout));
  RecordedWebSocket session = mock_.websockets()[0];
  EXPECT_EQ(session.target, "/v1/realtime?model=m");
  EXPECT_EQ(session.request.method, "GET");
  EXPECT_EQ(session.request.target, session.target);
  EXPECT_FALSE(session.request.header("sec-websocket-key").empty());
  EXPECT_EQ(session.request.header("sec-websocket-version"), "13");
  EXPECT_EQ(session.request.header("upgrade"), "websocket");
  EXPECT_EQ(session.request.header("x-test-id"), "42");
  EXPECT_FALSE(session.ended);
  EXPECT_EQ(session.ending, "");
  EXPECT_EQ(mock_.open_websockets(), 1);
  // Recorded as a request too, and answered with its request id.
  ASSERT_EQ(mock_.requests().size(), 1u);
  EXPECT_EQ(mock_.requests()[0].request_id, session.request.request_id);
  EXPECT_EQ(std::string(client.response()["x-request-id"]), session.request.request_id);
}

TEST_F(MockWebSocket, RecordsClientCloseAndLostConnections) {
  PlainClient closing(io_);
  ASSERT_FALSE(closing.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(closing.Close(4321, "client done"));
  RecordedWebSocket closed = EndedSession();
  EXPECT_EQ(closed.ending, "client_close");
  EXPECT_EQ(closed.close_code, 4321);
  EXPECT_EQ(closed.close_reason, "client done");

  mock_.ClearRequests();
  EXPECT_TRUE(mock_.websockets().empty());
  EXPECT_TRUE(mock_.requests().empty());
  PlainClient dropping(io_);
  ASSERT_FALSE(dropping.Connect(mock_.port(), "/v1/echo"));
  dropping.Drop();
  RecordedWebSocket dropped = EndedSession();
  EXPECT_EQ(dropped.ending, "tcp_gone");
  EXPECT_EQ(dropped.close_code, -1);
  EXPECT_EQ(mock_.open_websockets(), 0);
}

TEST_F(MockWebSocket, StopClosesOpenSessions) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_TRUE(WaitUntil([&] { return mock_.open_websockets() == 1; }, kTimeout));
  std::thread stopper([&] { mock_.Stop(); });
  PlainClient::Message message = client.Read();
  stopper.join();
  EXPECT_EQ(message.ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, websocket::close_code::going_away);
  RecordedWebSocket session = EndedSession();
  EXPECT_EQ(session.ending, "server_close");
  EXPECT_EQ(session.close_code, 1001);
  EXPECT_EQ(mock_.open_websockets(), 0);
}

TEST_F(MockWebSocket, StopDoesNotWaitLongForClientsThatDoNotAnswer) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_TRUE(WaitUntil([&] { return mock_.open_websockets() == 1; }, kTimeout));
  const auto start = std::chrono::steady_clock::now();
  mock_.Stop();  // the client reads nothing, so never answers the close
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(EndedSession().ending, "server_close");
  EXPECT_EQ(mock_.open_websockets(), 0);
}

TEST_F(MockWebSocket, ControlPathsListAndClearSessions) {
  PlainClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo?k=v", {{"x-test-id", "7"}}));
  const std::string long_text(1000, 'z');
  ASSERT_FALSE(client.Send(long_text));
  EXPECT_FALSE(client.Read().ec);
  ASSERT_FALSE(client.Close(1000, "bye"));
  EndedSession();

  json::value listed = Json(Call(io_, mock_.port(), http::verb::get, "/__mock/websockets"));
  ASSERT_TRUE(listed.is_array());
  ASSERT_EQ(listed.as_array().size(), 1u);
  const json::value& session = listed.as_array()[0];
  EXPECT_EQ(Str(session, "/target"), "/v1/echo?k=v");
  EXPECT_EQ(Str(session, "/script"), "echo");
  EXPECT_EQ(Str(session, "/ending"), "client_close");
  EXPECT_EQ(Int(session, "/close_code"), 1000);
  EXPECT_EQ(Str(session, "/close_reason"), "bye");
  EXPECT_TRUE(session.at("ended").as_bool());
  EXPECT_FALSE(session.at("deflate").as_bool());
  bool key_seen = false;
  for (const json::value& header : session.at("headers").as_array()) {
    std::string name = Str(header, "/0");
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    key_seen = key_seen || name == "sec-websocket-key";
  }
  EXPECT_TRUE(key_seen);
  EXPECT_EQ(Int(session, "/messages/0/bytes"), 1000);
  EXPECT_EQ(Str(session, "/messages/0/sha256"), Sha256Hex(long_text));
  EXPECT_EQ(Str(session, "/messages/0/prefix"), long_text.substr(0, 200));

  json::value stats = Json(Call(io_, mock_.port(), http::verb::get, "/__mock/stats"));
  EXPECT_EQ(Int(stats, "/open_websockets"), 0);

  Call(io_, mock_.port(), http::verb::post, "/__mock/reset");
  EXPECT_TRUE(mock_.websockets().empty());
  EXPECT_EQ(Call(io_, mock_.port(), http::verb::get, "/__mock/websockets"), "[]");
}

TEST(MockWebSocketTls, EchoesClosesAndVanishesOverTls) {
  MockOptions options;
  options.tls_cert_file = oa::testing::TestCertFile("good.pem");
  options.tls_key_file = oa::testing::TestCertFile("good.key");
  MockOpenAI mock(options);
  mock.Start();
  ssl::context tls(ssl::context::tls_client);
  tls.load_verify_file(oa::testing::TestCertFile("ca.pem"));
  tls.set_verify_mode(ssl::verify_peer);
  net::io_context io;

  TlsClient echo(io, tls);
  ASSERT_FALSE(echo.Connect(mock.port(), "/v1/echo", {}, true));
  ASSERT_FALSE(echo.Send("over tls"));
  EXPECT_EQ(echo.Read().data, "over tls");
  ASSERT_FALSE(echo.Send(R"({"type":"mock.close","code":4000,"reason":"bye"})"));
  EXPECT_EQ(echo.Read().ec, websocket::error::closed);
  EXPECT_EQ(echo.ws().reason().code, 4000);

  TlsClient vanishing(io, tls);
  ASSERT_FALSE(vanishing.Connect(mock.port(), "/v1/echo"));
  ASSERT_FALSE(vanishing.Send(R"({"type":"mock.vanish"})"));
  TlsClient::Message message = vanishing.Read();
  EXPECT_TRUE(message.ec);
  EXPECT_NE(message.ec, websocket::error::closed);
  EXPECT_NE(message.ec, net::error::timed_out);

  ASSERT_TRUE(WaitUntil(
      [&] {
        std::vector<RecordedWebSocket> sessions = mock.websockets();
        return sessions.size() == 2 && sessions[0].ended && sessions[1].ended;
      },
      kTimeout));
  std::vector<RecordedWebSocket> sessions = mock.websockets();
  EXPECT_TRUE(sessions[0].deflate);
  EXPECT_EQ(sessions[0].ending, "server_close");
  EXPECT_EQ(sessions[1].ending, "vanished");
}

// ---- frames on the wire -----------------------------------------------------------------

// A WebSocket client on a raw TCP socket, for what Beast's client hides: the frames.
class RawClient {
 public:
  struct Frame {
    bool fin = false;
    int opcode = 0;
    std::string payload;
  };

  explicit RawClient(net::io_context& io) : io_(io), socket_(io) {}

  beast::error_code Connect(uint16_t port, std::string_view target) {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    beast::error_code ec = Await([&](auto done) { socket_.async_connect(endpoint, done); });
    if (ec) return ec;
    const std::string request = std::string("GET ") + std::string(target) +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n";
    ec = Await([&](auto done) { net::async_write(socket_, net::buffer(request), done); });
    if (ec) return ec;
    ec = Await([&](auto done) {
      net::async_read_until(socket_, net::dynamic_buffer(received_), "\r\n\r\n", done);
    });
    // What follows the head is frames.
    const size_t head_end = received_.find("\r\n\r\n");
    if (!ec && head_end != std::string::npos) {
      head_ = received_.substr(0, head_end + 4);
      received_.erase(0, head_end + 4);
    }
    return ec;
  }

  // The head of the mock's answer, up to its blank line.
  std::string head() const { return head_; }

  // Sends a final text frame, masked (with a zero key) as a client must.
  beast::error_code SendText(std::string_view payload) {
    EXPECT_LT(payload.size(), 126u);
    std::string frame = {'\x81', static_cast<char>(0x80 | payload.size()), 0, 0, 0, 0};
    frame.append(payload);
    return Await([&](auto done) { net::async_write(socket_, net::buffer(frame), done); });
  }

  // The next frame; nullopt when the connection ends first.
  std::optional<Frame> ReadFrame() {
    if (!Fill(2)) return std::nullopt;
    Frame frame;
    frame.fin = (received_[0] & 0x80) != 0;
    frame.opcode = received_[0] & 0x0F;
    uint64_t size = static_cast<unsigned char>(received_[1]) & 0x7F;
    size_t header = 2;
    if (size == 126) {
      if (!Fill(4)) return std::nullopt;
      size = (static_cast<unsigned char>(received_[2]) << 8) |
             static_cast<unsigned char>(received_[3]);
      header = 4;
    }
    EXPECT_LT(size, 127u * 1024);  // the tests' frames need no 64-bit length
    if (!Fill(header + size)) return std::nullopt;
    frame.payload = received_.substr(header, size);
    received_.erase(0, header + size);
    return frame;
  }

  // What came after the last whole frame, when the connection ended.
  const std::string& leftover() const { return received_; }

 private:
  // Reads until `size` bytes are buffered; false when the connection ends first.
  bool Fill(size_t size) {
    while (received_.size() < size) {
      std::string piece(65536, '\0');
      size_t got = 0;
      beast::error_code ec = Await([&](auto done) {
        socket_.async_read_some(net::buffer(piece),
                                [&got, done](beast::error_code e, size_t n) mutable {
                                  got = n;
                                  done(e);
                                });
      });
      received_.append(piece, 0, got);
      if (ec) return received_.size() >= size;
    }
    return true;
  }

  template <class Start>
  beast::error_code Await(Start start) {
    return oa::mock::Await(
        io_, start,
        [this] {
          beast::error_code ignored;
          socket_.close(ignored);
        },
        kTimeout);
  }

  net::io_context& io_;
  tcp::socket socket_;
  std::string head_;
  std::string received_;
};

TEST_F(MockWebSocket, FragmentedMessageComesInSeparateFrames) {
  RawClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  EXPECT_TRUE(client.head().starts_with("HTTP/1.1 101"));
  ASSERT_FALSE(client.SendText(R"({"type":"mock.fragmented","parts":4})"));
  std::string message;
  for (int part = 0; part < 4; ++part) {
    std::optional<RawClient::Frame> frame = client.ReadFrame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->opcode, part == 0 ? 1 : 0);  // text, then continuations
    EXPECT_EQ(frame->fin, part == 3);
    EXPECT_FALSE(frame->payload.empty());
    message += frame->payload;
  }
  EXPECT_EQ(Str(Json(message), "/type"), "mock.fragmented");
}

TEST_F(MockWebSocket, VanishSendsHalfAFrameThenCloses) {
  RawClient client(io_);
  ASSERT_FALSE(client.Connect(mock_.port(), "/v1/echo"));
  ASSERT_FALSE(client.SendText(R"({"type":"mock.vanish"})"));
  EXPECT_FALSE(client.ReadFrame().has_value());
  const std::string& left = client.leftover();
  ASSERT_EQ(left.size(), 14u);
  EXPECT_EQ(left.substr(0, 4), std::string("\x81\x7e\x03\xe8", 4));  // text, 1000 bytes
}

}  // namespace
}  // namespace oa::mock
