// One request stream of an HTTP/2 session (http2_session.h) as the transport of one gRPC
// call (transport.h): gRPC's protocol over HTTP/2, on the worker that runs the call.
//
//   HEADERS (:path = /pkg.Service/Method, grpc-timeout, grpc-encoding, metadata)
//     --> route, deadline, the call's state (call.h: BeginCall on the first message)
//   DATA: 5-byte prefix (compressed flag, length) + message, repeated --> messages,
//     each taken by the call (TakeRequest); the stream's window opens as they are taken
//   <-- HEADERS (:status 200, application/grpc, initial metadata), DATA (framed messages),
//       HEADERS (grpc-status, grpc-message, trailing metadata) with END_STREAM;
//       or one HEADERS with all of it (trailers-only) when no message went out.
//
// Everything here runs on the session's worker. What the call asks for completes through
// its CallState's notifications, which resume the call from the worker's queue, never
// from inside nghttp2's callbacks.
#pragma once

#include <nghttp2/nghttp2.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "grpc/call_state.h"
#include "grpc/message_reader.h"
#include "net/watchdog.h"
#include "observe/metrics.h"

namespace oa::grpc_front {

class Http2Session;
struct Http2Context;

// nghttp2's data source callback for a StreamCall's response (http2_session.cc).
nghttp2_data_source_read_callback StreamDataReader();

class StreamCall final : public CallTransport, public std::enable_shared_from_this<StreamCall> {
 public:
  StreamCall(Http2Session& session, int32_t id);
  ~StreamCall() override;
  StreamCall(const StreamCall&) = delete;
  StreamCall& operator=(const StreamCall&) = delete;

  // From the session, as nghttp2 reads the stream. OnHeader: false when the head passed
  // `max_bytes` (the stream is reset).
  bool OnHeader(std::string_view name, std::string_view value, uint32_t max_bytes);
  void OnRequestHead();
  void OnData(const uint8_t* data, size_t size);
  void OnEndStream();
  // The stream is over (`error_code`: why, for a reset), or its connection is: nothing
  // more comes in or goes out. A call still running is cancelled.
  void OnClose(uint32_t error_code);
  // nghttp2 takes response bytes for a DATA frame (its data source).
  ssize_t ReadResponse(uint8_t* buf, size_t length, uint32_t* data_flags);

  // CallTransport.
  void AddInitialMetadata(std::string name, std::string value) override;
  void AddTrailingMetadata(std::string name, std::string value) override;
  void StartRead() override;
  absl::Status TakeRequest(google::protobuf::Message& message, uint64_t limit) override;
  bool StartWrite(std::string message) override;
  void Finish(grpc::Status status, const std::string* last) override;
  bool IsCancelled() const override { return cancelled_; }
  std::chrono::system_clock::time_point deadline() const override { return deadline_; }

 private:
  // A message the client sent, whole, or why it cannot be read.
  struct Incoming {
    std::string bytes;
    bool compressed = false;
    absl::Status error;
  };
  static Incoming Unreadable(absl::Status why) { return {{}, false, std::move(why)}; }

  // The request head is not gRPC's: the stream ends with an HTTP status.
  void RefuseHead(int http_status, std::string_view why);
  // Adds a message read whole (or an error in its place) for the call.
  void Arrived(Incoming incoming);
  // The client cancelled, its deadline passed, or the connection went.
  void Cancel();
  // Adds `message` to out_, framed as gRPC frames a message.
  void AppendFramed(std::string_view message);
  // Submits the response head (with `end`: the whole answer, trailers-only).
  void SendHead(const grpc::Status* end);
  // Lets nghttp2 send what is queued, now or once the session may.
  void Resume();
  void Consume(size_t bytes);
  // The call's side, while it is there. (The worker's thread only, so a plain pointer
  // outlives the lock: nothing frees the state meanwhile.)
  CallSignals* state() const { return state_.lock().get(); }

  Http2Session* session_;          // null once the stream is closed
  Http2Context* session_context_;  // outlives the session: the worker's
  const int32_t id_;

  // The request head.
  std::string path_;
  std::string method_;
  std::string content_type_;
  std::string encoding_;         // grpc-encoding
  std::string accept_encoding_;  // grpc-accept-encoding
  bool compress_ = false;        // answers go compressed as encoding_ says
  std::string timeout_;          // grpc-timeout
  std::string authorization_;
  std::vector<std::pair<std::string, std::string>> forwarded_;
  uint32_t head_bytes_ = 0;
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();
  std::optional<net::Watchdog> deadline_watch_;

  // The call: held here until its first message begins it (BeginCall), then by it.
  std::shared_ptr<CallState> starting_;
  std::weak_ptr<CallSignals> state_;
  bool begun_ = false;

  // What the client sends.
  uint8_t prefix_[5] = {};
  size_t prefix_read_ = 0;
  Incoming current_;
  size_t current_left_ = 0;
  bool broken_ = false;  // a message could not be read: the rest is dropped
  std::vector<Incoming> messages_;
  size_t unconsumed_ = 0;  // bytes received while a message waited, their window closed
  bool remote_done_ = false;
  bool read_wanted_ = false;

  // What goes back.
  std::vector<std::pair<std::string, std::string>> initial_;
  std::vector<std::pair<std::string, std::string>> trailing_;
  bool head_sent_ = false;
  std::string out_;  // framed messages not yet taken by nghttp2
  size_t out_taken_ = 0;
  bool write_pending_ = false;          // a StartWrite that returned false waits for out_ to drain
  std::optional<grpc::Status> status_;  // set by Finish: the trailers follow out_
  bool cancelled_ = false;
  bool counted_ = false;  // in CallContext::active_calls until Finish
  observe::GaugeHold in_flight_;
};

}  // namespace oa::grpc_front
