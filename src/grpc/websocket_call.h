// The gRPC side of a WebSocket RPC (route::Route::websocket: Realtime's Connect, the
// Responses API's WebSocket mode): a bidirectional stream whose every client message is one
// JSON text frame to the upstream, and every text frame from the upstream one response
// message.
//
//   first message --(http rule: non-body fields -> query)--> GET upgrade --(Forwarder)-->
//   101 --> the message's body field as the first frame; then both ways at once:
//     client message .event --(json_writer)--> masked text frame --> upstream
//     upstream text frame --(json_reader)--> response message --> client
//
// The upgrade is an exchange of the Forwarder like any other (pool settings, TLS,
// timeouts); an answer other than 101 is the upstream's error, mapped as for any call.
// Once switched, the gateway is the WebSocket client: it masks its frames, answers pings,
// puts fragmented messages together, and ends the session:
// - the client half-closes: Close 1000 to the upstream; its Close ends the call, OK;
// - the client cancels or its deadline passes: Close 1001, the connection closed when the
//   upstream answers it or a second later; the call ends CANCELLED or DEADLINE_EXCEEDED;
// - the upstream closes: 1000 is OK; any other code is a status (transcode::
//   GrpcCodeForClose), whose message is OpenAI's error event sent before the close, if
//   any; an error event that does not close the session is only a message;
// - --websocket-idle-timeout with no frame either way: UNAVAILABLE.
// Memory is bounded: one client message and one upstream message at a time, an upstream
// message being at most kMaxUpstreamMessageBytes.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <optional>
#include <string>

#include "grpc/call_state.h"
#include "net/websocket.h"
#include "observe/access_log.h"
#include "transcode/http_call.h"
#include "upstream/forwarder.h"

namespace oa::grpc_front {

class WebSocketCall final : public upstream::Downstream {
 public:
  // The largest message the upstream may send, put together from its frames.
  static constexpr uint64_t kMaxUpstreamMessageBytes = uint64_t{64} * 1024 * 1024;

  // `first`: the upgrade, from the first message (its body, if any, is the first frame).
  WebSocketCall(CallState& state, transcode::HttpCall first);
  ~WebSocketCall() override;

  upstream::RequestStart PrepareRequest(upstream::WireHead& head) override;
  net::asio::awaitable<bool> BeforeSend() override { co_return true; }
  bool RequestBodyDone() const override { return true; }
  bool RequestBodyAtHand() const override { return true; }
  net::asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* /*piece*/,
                                                               size_t /*size*/) override {
    co_return 0;
  }
  net::asio::awaitable<bool> WriteHead(const upstream::ResponseStart& start) override;
  net::asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) override;
  void StartWatching(std::function<void()> on_gone) override;
  net::asio::awaitable<void> StopWatching() override;
  void Cut() override {}
  net::asio::awaitable<void> Switched(const upstream::ResponseStart& start,
                                      std::unique_ptr<upstream::Connection>& upstream) override;

  // The call's status once the exchange is over (`out` has no failure).
  grpc::Status Finish(const upstream::ForwardOutcome& out);
  int http_status() const { return http_status_; }
  // Set once the upstream switched protocols.
  const observe::WebSocketTally* tally() const { return switched_ ? &tally_ : nullptr; }

 private:
  struct Session;

  // Upward() and Downward() at once.
  net::asio::awaitable<void> BothWays(Session& session);
  // Client messages to frames, until the client is done or the session is over.
  net::asio::awaitable<void> Upward(Session& session);
  // Frames to response messages, until the upstream closes or the session is over.
  net::asio::awaitable<void> Downward(Session& session);
  // Waits for the call to be cancelled; then ends the session at once with Close 1001.
  net::asio::awaitable<void> WatchCancel(Session& session);
  // Reads one message (control frames are answered on the way); false when the session
  // ended instead (ending_ says why).
  net::asio::awaitable<bool> ReadMessage(Session& session, std::string& message, bool& text);
  // Writes one frame to the upstream, after the one under way.
  net::asio::awaitable<bool> WriteFrame(Session& session, net::ws::Opcode opcode,
                                        std::string_view payload);
  // The call's status, unless one was set already (the first cause wins).
  void SetStatus(grpc::Status status);
  // Sends Close `code` (once), then closes the connection at once (`wait` zero), or leaves
  // the upstream `wait` to answer with its Close (Downward() reads it and closes). `by`
  // ("client", "upstream", "gateway") ended the session, unless someone did already.
  net::asio::awaitable<void> End(Session& session, uint16_t code, std::string_view reason,
                                 absl::Duration wait, std::string_view by);

  CallState& state_;
  transcode::HttpCall first_;
  std::string key_;  // Sec-WebSocket-Key
  int http_status_ = 0;
  std::string error_body_;  // a refused upgrade's answer, as much as is kept
  bool switched_ = false;
  observe::WebSocketTally tally_;
  std::optional<grpc::Status> status_;  // set by whatever ended the session, first
  std::optional<uint16_t> upstream_close_;
  std::string upstream_close_reason_;
  std::string last_error_event_;  // the data of the upstream's last error event
  bool close_sent_ = false;
  bool idle_expired_ = false;
  std::shared_ptr<struct CancelWatch> watch_;  // between StartWatching and StopWatching
};

}  // namespace oa::grpc_front
