// The mock's WebSocket sessions: which upgrade requests it refuses, the scripts it plays
// (echo, Realtime and Responses events), the control messages it obeys in every script, and
// the book where sessions are recorded. mock_openai.cc hands a connection whose request asks
// for an upgrade to ServeWebSocket, which runs the session on that connection to its end.

#ifndef OA_TESTS_MOCK_MOCK_WEBSOCKET_H_
#define OA_TESTS_MOCK_MOCK_WEBSOCKET_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mock_openai.h"

namespace oa::mock {

// True when `request` asks for a WebSocket: an Upgrade header that names websocket.
bool WantsWebSocket(const RecordedRequest& request);

// How to answer an upgrade request. Chosen by its x-mock-ws* headers or, since browsers
// cannot set headers, by its mock_ws* query parameters.
struct WebSocketPlan {
  unsigned refuse = 0;      // not 0: answer this status as plain HTTP, without upgrading
  std::string script;       // "echo", "realtime" or "responses"
  std::string model;        // realtime: the session's model
  std::string subprotocol;  // the Sec-WebSocket-Protocol to answer with, "" for none
};
WebSocketPlan PlanWebSocket(const RecordedRequest& request);

// Something the mock sends on a session.
struct WebSocketAction {
  enum class Kind {
    kText,        // `data` as one text message in one frame
    kBinary,      // `data` as one binary message in one frame
    kFragmented,  // `data` as one text message in `number` frames
    kPing,        // a ping with payload `data`
    kClose,       // a close frame with code `number` (0: none) and reason `data`
    kVanish,      // part of a frame, then the connection closed without a closing handshake
  };
  Kind kind = Kind::kText;
  std::string data = {};
  int number = 0;
};

// A session's script: what the mock sends when the session opens and in answer to each
// message the client sends. No I/O happens here.
class WebSocketScript {
 public:
  WebSocketScript(std::string name, std::string model);

  std::vector<WebSocketAction> Open();
  std::vector<WebSocketAction> Answer(bool text, std::string_view message);
  // The size that the audio of the input_audio_buffer.append events so far decodes to.
  uint64_t audio_bytes() const { return audio_bytes_; }

 private:
  std::vector<WebSocketAction> Realtime(std::string_view type, std::string_view message);
  std::vector<WebSocketAction> Responses(std::string_view type, std::string_view message);
  std::string NextEventId();
  std::string NextItemId();
  std::string SessionJson() const;

  std::string name_;
  std::string model_;
  uint64_t events_ = 0;
  uint64_t items_ = 0;
  uint64_t responses_ = 0;
  uint64_t audio_bytes_ = 0;
};

// The WebSocket sessions of one mock: their records, which test threads read, and the
// sessions still open, which Stop() asks to close. Thread-safe.
class WebSocketBook {
 public:
  // Records a session that has just opened, which `close` asks to close (called on the
  // server's thread, while the session is open). Returns its id for the calls below.
  uint64_t Open(RecordedWebSocket record, std::function<void()> close);
  // Applies `change` to the record of session `id`, unless Clear() dropped it since.
  void Update(uint64_t id, const std::function<void(RecordedWebSocket&)>& change);
  // Session `id` is over; the first ending given counts.
  void End(uint64_t id, std::string_view ending);
  // Asks every open session to close. On the server's thread.
  void CloseAll();

  std::vector<RecordedWebSocket> Snapshot() const;
  // Drops the records; open sessions go on, unrecorded.
  void Clear();
  int open() const;

 private:
  mutable std::mutex mutex_;
  std::map<uint64_t, RecordedWebSocket> records_;      // by id, i.e. in order of opening
  std::map<uint64_t, std::function<void()>> closers_;  // the open sessions
  uint64_t next_id_ = 1;
};

// The sessions as a JSON array for the control path GET /__mock/websockets; each message's
// prefix is cut to 200 bytes there.
std::string RecordedWebSocketsJson(const std::vector<RecordedWebSocket>& websockets);

// Accepts `upgrade`, the request already read from `stream` (recorded as `request`), and
// plays plan.script until the session ends; `stream` is then done with. Never throws.
using UpgradeRequest = boost::beast::http::request<boost::beast::http::buffer_body>;
boost::asio::awaitable<void> ServeWebSocket(boost::beast::tcp_stream& stream,
                                            const UpgradeRequest& upgrade, WebSocketPlan plan,
                                            RecordedRequest request, WebSocketBook& book);
boost::asio::awaitable<void> ServeWebSocket(
    boost::asio::ssl::stream<boost::beast::tcp_stream>& stream, const UpgradeRequest& upgrade,
    WebSocketPlan plan, RecordedRequest request, WebSocketBook& book);

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_WEBSOCKET_H_
