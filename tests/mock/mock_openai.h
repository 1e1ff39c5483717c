// A mock of the OpenAI API for tests: an HTTP/1.1 (optionally HTTPS) server on loopback that
// stands where api.openai.com would be, answers OpenAI-shaped responses, records what it
// received and counts connections. Request headers named x-mock-* choose odd behaviour
// (errors, delays, broken responses, streaming pace); see mock_replies.cc for the list.
// A request with Upgrade: websocket becomes a WebSocket session that plays a script (echo,
// Realtime or Responses events) and obeys control messages; see mock_websocket.cc.
//
//   oa::mock::MockOpenAI mock;
//   mock.Start();
//   ... send traffic through the gateway to 127.0.0.1:mock.port() ...
//   EXPECT_EQ(mock.requests().at(0).target, "/v1/models");

#ifndef OA_TESTS_MOCK_MOCK_OPENAI_H_
#define OA_TESTS_MOCK_MOCK_OPENAI_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oa::mock {

// One request as the mock received it.
struct RecordedRequest {
  std::string method;  // "POST"
  std::string target;  // path + query exactly as received, e.g. "/v1/models?limit=2"
  std::vector<std::pair<std::string, std::string>> headers;  // in order received, names as sent
  // The value of the first header named `name` (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
  uint64_t body_bytes = 0;
  std::string body_sha256;  // lowercase hex of the whole body
  std::string body_prefix;  // first 1 MiB of the body (the rest is hashed, never held)
  bool chunked = false;     // request arrived with Transfer-Encoding: chunked
  std::string request_id;   // the x-request-id the mock answered it with, "req_mock_<n>"
};

// One message a WebSocket client sent to the mock.
struct RecordedWebSocketMessage {
  bool text = false;   // a text message, else a binary one
  uint64_t bytes = 0;  // payload size (after permessage-deflate inflated it)
  std::string sha256;  // lowercase hex of the whole payload
  std::string prefix;  // first 4 KiB of the payload
};

// One WebSocket session the mock accepted, as far as it has gone.
struct RecordedWebSocket {
  RecordedRequest request;  // the upgrade request, which requests() lists too
  std::string target;       // request.target
  std::string script;       // what the mock plays: "echo", "realtime" or "responses"
  std::string subprotocol;  // the Sec-WebSocket-Protocol the mock chose, "" for none
  bool deflate = false;     // permessage-deflate was negotiated
  std::vector<RecordedWebSocketMessage> messages;  // in arrival order, control ones included
  uint64_t audio_bytes = 0;        // decoded audio of the input_audio_buffer.append events
  std::vector<std::string> pongs;  // payloads of the pongs received, in order
  // The client's close frame: -1 and "" when none came, 1005 when it had no code.
  int close_code = -1;
  std::string close_reason;
  bool ended = false;  // the session is over
  // Once ended: "client_close" (the client closed first), "server_close" (the mock did:
  // mock.close, mock.error_then_close or Stop()), "tcp_gone" (the connection broke or
  // timed out without a closing handshake), "vanished" (mock.vanish).
  std::string ending;
};

struct MockOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;               // 0 = pick a free port
  std::string tls_cert_file = {};  // with tls_key_file (PEM files): serve HTTPS (TLS 1.2+)
  std::string tls_key_file = {};
  // >0: close connections that wait this long for a request, without any response, to test
  // a gateway's handling of pooled connections the server dropped.
  int idle_close_ms = 0;
};

class MockOpenAI {
 public:
  explicit MockOpenAI(MockOptions options = {});
  ~MockOpenAI();  // stops and joins
  MockOpenAI(const MockOpenAI&) = delete;
  MockOpenAI& operator=(const MockOpenAI&) = delete;

  // Binds and runs the server on its own thread; does nothing when it runs already. Throws
  // std::exception when it cannot bind or load the TLS certificate and key.
  void Start();
  // Closes the listener and every connection, and joins the thread. Idempotent. Recordings
  // and counters stay; Start() serves again, on a new port when options.port is 0. Open
  // WebSockets get a close frame (1001) first, and up to a second to answer it.
  void Stop();

  uint16_t port() const;
  // "http://127.0.0.1:<port>" (https when serving TLS).
  std::string base_url() const;

  // Thread-safe snapshot of the requests received, in arrival order. A request is recorded
  // once its body is complete. The control paths /__mock/* are not recorded.
  std::vector<RecordedRequest> requests() const;
  // Forgets the requests and the WebSocket sessions recorded so far (open sessions go on,
  // unrecorded).
  void ClearRequests();

  // Thread-safe snapshot of the WebSocket sessions accepted, in order of their handshakes.
  std::vector<RecordedWebSocket> websockets() const;
  int open_websockets() const;  // sessions not ended yet

  int accepted_connections() const;  // TCP connections accepted so far
  int open_connections() const;      // currently open
  // Responses the mock started but could not finish because the peer closed or reset the
  // connection: while it waited out x-mock-delay-ms, or while it wrote headers or body.
  int aborted_responses() const;
  // Response bytes (heads and bodies) the mock's sockets have accepted so far: with a slow
  // reader downstream, shows how far backpressure reached.
  uint64_t bytes_written() const;

  // Polls pred every 10 ms until true or timeout; returns pred's last value.
  static bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

 private:
  class Server;
  std::unique_ptr<Server> server_;
};

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_OPENAI_H_
