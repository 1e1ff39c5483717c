// The gRPC side of one call's upstream exchange (upstream::Downstream): it gives the
// forwarder the transcoded request, an upload's later messages as the rest of its body,
// and turns the answer into response messages (transcode/answer_reader.h), written to
// the client one at a time as gRPC takes them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpc/call_state.h"
#include "transcode/answer_reader.h"
#include "transcode/http_call.h"
#include "upstream/forwarder.h"

namespace oa::grpc_front {

// The headers of an answer that come back to a gRPC caller as initial metadata (which:
// call/headers.h). REQUIRES: before the first message is written.
void AddAnswerMetadata(CallTransport& call, const net::MessageHead& head);

class GrpcDownstream final : public upstream::Downstream {
 public:
  GrpcDownstream(CallState& state, transcode::HttpCall call);

  upstream::RequestStart PrepareRequest(upstream::WireHead& head) override;
  net::asio::awaitable<bool> BeforeSend() override { co_return true; }
  bool RequestBodyDone() const override { return body_done_; }
  bool RequestBodyAtHand() const override;
  net::asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece, size_t size) override;
  net::asio::awaitable<bool> WriteHead(const upstream::ResponseStart& start) override;
  net::asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) override;
  // A call the client cancels (or whose deadline passes) runs `on_gone` then, or at once
  // if it was cancelled already.
  void StartWatching(std::function<void()> on_gone) override;
  net::asio::awaitable<void> StopWatching() override {
    state_.on_cancel = nullptr;
    co_return;
  }
  void Cut() override { cut_ = true; }

  // After the exchange: the last messages, if any are due, and the call's status. `out`
  // is the forwarder's outcome (no failure: the answer was read, or cut).
  net::asio::awaitable<grpc::Status> Finish(const upstream::ForwardOutcome& out);

  // The answer could not be turned into messages (the exchange was stopped for it).
  bool failed() const { return !answer_.failure().ok(); }
  // The unary answer, to be written together with the status; empty for streams.
  const std::optional<std::string>& final_message() const { return final_message_; }
  int http_status() const { return http_status_; }

 private:
  enum class Phase { kBody, kFile, kTail };

  // Reads the upload's next message into file_data_; false once the client is done.
  net::asio::awaitable<absl::StatusOr<bool>> NextFileData();
  // Writes the messages in pending_ and waits until gRPC took each (backpressure).
  net::asio::awaitable<bool> WritePending();
  // The upstream's error answer (UpstreamErrorStatus).
  grpc::Status ErrorStatus();
  void NoteMismatches();

  CallState& state_;
  transcode::HttpCall call_;
  const bool streaming_;
  Phase phase_ = Phase::kBody;
  size_t offset_ = 0;                                        // into the current run
  std::unique_ptr<google::protobuf::Message> file_message_;  // the upload's last message
  std::string_view file_data_;                               // its file bytes
  std::string file_scratch_;  // where reflection may put them (GetStringReference)
  uint64_t uploaded_ = 0;     // file bytes of later messages so far
  absl::Duration waited_;     // for them, in all
  bool body_done_;

  int http_status_ = 0;
  transcode::AnswerReader answer_;
  std::vector<std::string> pending_;  // messages read, not yet written
  bool cut_ = false;
  bool mismatch_logged_ = false;
  std::optional<std::string> final_message_;
};

}  // namespace oa::grpc_front
