#include "grpc/downstream.h"

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/field.hpp>

#include "base/strings.h"
#include "call/headers.h"
#include "observe/log.h"
#include "transcode/field_names.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using namespace asio::experimental::awaitable_operators;
using google::protobuf::Message;
using net::Clock;

// gRPC metadata values (not -bin) are printable ASCII.
bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

void AddAnswerMetadata(CallTransport& call, const net::MessageHead& head) {
  for (const net::HeadField field : head.fields()) {
    if (call::Crosses(call::Crossing::kGrpcAnswer, call::Classify(field.code, field.name)) &&
        PrintableAscii(field.value)) {
      call.AddInitialMetadata(AsciiLower(field.name), std::string(field.value));
    }
  }
}

GrpcDownstream::GrpcDownstream(CallState& state, transcode::HttpCall call)
    : state_(state),
      call_(std::move(call)),
      streaming_(state.route.method->server_streaming()),
      body_done_(call_.body.empty() && call_.streamed_file == nullptr),
      answer_(*state.route.method->output_type(), streaming_, state.route.rpc,
              state.context.messages) {}

upstream::RequestStart GrpcDownstream::PrepareRequest(upstream::WireHead& head) {
  const std::string target = state_.worker.pool.url().TargetFor(call_.target);
  head.RequestLine(call_.method, target);
  head.Add(bhttp::field::authorization, state_.authorization);
  head.Add(bhttp::field::user_agent, "oa-bypass (gRPC front)");
  // A key the client repeated goes as a repeated header, which HTTP reads as one list.
  for (const auto& [name, value] : state_.forwarded) head.Add(name, value);
  if (!call_.content_type.empty()) head.Add(bhttp::field::content_type, call_.content_type);
  upstream::RequestStart start;
  start.head_method = call_.method == "HEAD";
  if (call_.streamed_file != nullptr) {
    start.chunked = true;  // the file's size is known only at its end
  } else if (!call_.content_type.empty()) {
    start.content_length = call_.body.size();
  } else if (call_.method != "GET" && call_.method != "DELETE") {
    start.content_length = 0;
  }
  return start;
}

void GrpcDownstream::StartWatching(std::function<void()> on_gone) {
  if (state_.cancelled.given()) {
    on_gone();
    return;
  }
  state_.on_cancel = std::move(on_gone);
}

bool GrpcDownstream::RequestBodyAtHand() const {
  if (body_done_) return true;
  switch (phase_) {
    case Phase::kBody:
      return offset_ < call_.body.size() || call_.streamed_file == nullptr;
    case Phase::kFile:
      return offset_ < file_data_.size();
    case Phase::kTail:
      return true;
  }
  return true;
}

// The body in runs: call_.body; for an upload, then each later message's file data as
// the client sends it, then call_.body_tail.
asio::awaitable<absl::StatusOr<size_t>> GrpcDownstream::ReadRequestBody(char* piece, size_t size) {
  for (;;) {
    const std::string_view run = phase_ == Phase::kBody   ? std::string_view(call_.body)
                                 : phase_ == Phase::kFile ? file_data_
                                                          : std::string_view(call_.body_tail);
    if (offset_ < run.size()) {
      const size_t n = std::min(size, run.size() - offset_);
      std::copy_n(run.data() + offset_, n, piece);
      offset_ += n;
      co_return n;
    }
    offset_ = 0;
    if (phase_ == Phase::kTail || call_.streamed_file == nullptr) {
      body_done_ = true;
      co_return 0;
    }
    if (phase_ == Phase::kBody) phase_ = Phase::kFile;
    absl::StatusOr<bool> more = co_await NextFileData();
    if (!more.ok()) co_return more.status();
    if (!*more) phase_ = Phase::kTail;
  }
}

asio::awaitable<bool> GrpcDownstream::WriteHead(const upstream::ResponseStart& start) {
  http_status_ = static_cast<int>(start.head.status());
  const std::string_view content_type = start.head.Value(bhttp::field::content_type);
  AddAnswerMetadata(*state_.transport, start.head);
  answer_.Start(http_status_, content_type);
  // gRPC owns content-type; the answer's own travels under another name too.
  if (answer_.kind() == transcode::AnswerReader::Kind::kBytes && PrintableAscii(content_type)) {
    state_.transport->AddInitialMetadata("x-content-type", std::string(content_type));
  }
  co_return true;
}

asio::awaitable<bool> GrpcDownstream::WriteBody(const char* data, size_t size, bool /*more*/) {
  const bool readable = answer_.Feed(std::string_view(data, size), pending_);
  // The messages before a failure go out first, as they would have had it come later.
  if (!pending_.empty() && !co_await WritePending()) co_return false;
  if (!readable && !answer_.error_event().empty()) {
    // As with an error answer (ErrorStatus), OpenAI's error goes along whole.
    state_.transport->AddTrailingMetadata("openai-error-bin", answer_.error_event());
  }
  co_return readable;
}

asio::awaitable<grpc::Status> GrpcDownstream::Finish(const upstream::ForwardOutcome& out) {
  NoteMismatches();
  if (failed()) co_return ToGrpc(answer_.failure());
  if (cut_ || out.upstream_cut) {
    co_return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the upstream's answer was cut before its end");
  }
  if (answer_.kind() == transcode::AnswerReader::Kind::kError) co_return ErrorStatus();
  const absl::Status done = answer_.Finish(pending_);
  NoteMismatches();
  if (!done.ok()) co_return ToGrpc(done);
  if (!streaming_) {
    if (!pending_.empty()) final_message_ = std::move(pending_.back());
    co_return grpc::Status::OK;
  }
  if (!co_await WritePending()) co_return Gone(*state_.transport);
  co_return grpc::Status::OK;
}

grpc::Status GrpcDownstream::ErrorStatus() {
  return UpstreamErrorStatus(*state_.transport, http_status_, answer_.error_body());
}

void GrpcDownstream::NoteMismatches() {
  if (answer_.mismatched() > 0 && !mismatch_logged_) {
    mismatch_logged_ = true;
    OA_LOG(kDebug, "%s: %d value(s) of the upstream's answer did not fit %s (first: %s)",
           state_.route.rpc, answer_.mismatched(), state_.route.method->output_type()->full_name(),
           answer_.first_mismatch());
  }
}

// An upload's messages, like a REST request body, have --client-body-timeout in all, plus
// a second for every --client-body-min-rate bytes of file sent: a client that holds its
// stream open without sending cannot pin an upstream connection for ever.
asio::awaitable<absl::StatusOr<bool>> GrpcDownstream::NextFileData() {
  const config::Settings& settings = state_.context.settings;
  const double earned = static_cast<double>(uploaded_) /
                        static_cast<double>(std::max<uint64_t>(settings.client_body_min_rate, 1));
  const absl::Duration left = std::max(
      settings.client_body_timeout + absl::Seconds(earned) - waited_, absl::ZeroDuration());
  state_.transport->StartRead();
  asio::steady_timer budget(co_await asio::this_coro::executor);
  budget.expires_after(absl::ToChronoNanoseconds(left));
  const Clock::time_point started = Clock::now();
  auto result = co_await (state_.read_done.Wait() || budget.async_wait(net::kNoThrow));
  waited_ += absl::FromChrono(Clock::now() - started);
  if (result.index() == 1) {
    co_return absl::DeadlineExceededError(StrCat(
        "the upload did not arrive in time: ", uploaded_, " bytes after its first message in ",
        absl::FormatDuration(absl::Trunc(waited_, absl::Milliseconds(1))), ". The gateway allows ",
        absl::FormatDuration(settings.client_body_timeout),
        " (--client-body-timeout), and a second more for every ", settings.client_body_min_rate,
        " bytes (--client-body-min-rate)"));
  }
  // A read also fails when the call is cancelled: that is no end of the upload.
  if (!std::get<0>(result) || state_.transport->IsCancelled()) {
    co_return absl::CancelledError("the call was cancelled");
  }
  if (!state_.read_ok) co_return false;
  const auto* input = state_.route.method->input_type();
  file_message_.reset(state_.context.messages.GetPrototype(input)->New());
  file_data_ = {};
  Message& message = *file_message_;
  const absl::Status read =
      state_.transport->TakeRequest(message, state_.context.max_message_bytes);
  if (!read.ok()) co_return read;
  // Only more bytes of the file may follow the first message: nothing set but the file's
  // data, known or not.
  const google::protobuf::FieldDescriptor& field = *call_.streamed_file;
  const auto& r = *message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> set;
  r.ListFields(message, &set);
  bool only_data =
      r.GetUnknownFields(message).empty() && (set.empty() || (set.size() == 1 && set[0] == &field));
  if (only_data && !set.empty()) {
    const Message& file = r.GetMessage(message, &field);
    const auto& fr = *file.GetReflection();
    const auto* data = file.GetDescriptor()->FindFieldByName("data");
    set.clear();
    fr.ListFields(file, &set);
    only_data =
        fr.GetUnknownFields(file).empty() && (set.empty() || (set.size() == 1 && set[0] == data));
    // The bytes stay in the message, which the next message replaces: no copy.
    if (only_data && !set.empty()) file_data_ = fr.GetStringReference(file, data, &file_scratch_);
  }
  if (!only_data) {
    co_return absl::InvalidArgumentError(StrCat("after the first message of ", state_.route.rpc,
                                                ", messages may only carry more ", field.name(),
                                                ".data"));
  }
  uploaded_ += file_data_.size();
  if (uploaded_ > state_.context.settings.max_body_bytes) {
    co_return absl::ResourceExhaustedError(StrCat("the upload passed ",
                                                  state_.context.settings.max_body_bytes,
                                                  " bytes (see --max-body-bytes)"));
  }
  co_return true;
}

asio::awaitable<bool> GrpcDownstream::WritePending() {
  for (std::string& message : pending_) {
    const bool written = co_await state_.Write(std::move(message));
    if (!written) co_return false;
  }
  pending_.clear();
  co_return true;
}

}  // namespace oa::grpc_front
