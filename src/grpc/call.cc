#include "grpc/call.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/field.hpp>

#include "base/strings.h"
#include "call/call.h"
#include "call/headers.h"
#include "grpc/byte_buffers.h"
#include "grpc/message_reader.h"
#include "grpc/ordered_reactor.h"
#include "net/notification.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "transcode/event_reader.h"
#include "transcode/field_names.h"
#include "transcode/http_call.h"
#include "transcode/json_reader.h"
#include "transcode/sse_reader.h"
#include "upstream/forwarder.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using namespace asio::experimental::awaitable_operators;
using google::protobuf::Message;
using net::Clock;

constexpr size_t kMaxJsonAnswer = 64 * 1024 * 1024;  // a unary answer is held whole
constexpr size_t kMaxErrorAnswer = 1024 * 1024;

// gRPC metadata values (not -bin) are printable ASCII.
bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The address in a gRPC peer string: "ipv4:10.0.0.7:5000" -> "10.0.0.7",
// "ipv6:[::1]:5000" (or with the brackets percent-encoded) -> "::1".
std::string PeerAddress(std::string_view peer) {
  const size_t scheme = peer.find(':');
  if (scheme == std::string_view::npos) return std::string(peer);
  std::string rest(peer.substr(scheme + 1));
  for (const auto& [encoded, plain] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}}) {
    for (size_t at; (at = rest.find(encoded)) != std::string::npos;) rest.replace(at, 3, plain);
  }
  if (rest.starts_with('[')) return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.rfind(':'));
}

// The status of a call its client ended: by its deadline, or by cancelling it. (The
// client knows which; this is what the log and metrics say.) The client's clock starts
// before ours, so its deadline passes a little before the one we were told: a call that
// ends within 100 ms of our deadline counts as ended by it.
grpc::Status Gone(const grpc::ServerContextBase& ctx) {
  if (ctx.deadline() <= std::chrono::system_clock::now() + std::chrono::milliseconds(100)) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the call's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// An error of call/errors.h as a status; a caller told when to try again gets Retry-After
// (seconds) as trailing metadata, as a REST caller gets the header.
grpc::Status ToGrpc(grpc::GenericCallbackServerContext& ctx, const call::CallError& error) {
  if (error.retry_after_seconds > 0) {
    ctx.AddTrailingMetadata("retry-after", StrCat(error.retry_after_seconds));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(error.grpc_code), error.message);
}

class CallReactor;

// Everything one call's two sides share. Owned jointly by the reactor (gRPC's threads)
// and the coroutine (the worker), so whichever finishes last frees it.
struct CallState {
  CallState(grpc::GenericCallbackServerContext* c, const route::Route& r, CallContext& cc,
            worker::WorkerHandle w)
      : ctx(c),
        route(r),
        context(cc),
        worker(std::move(w)),
        write_done(worker.executor),
        read_done(worker.executor),
        cancelled(worker.executor, /*sticky=*/true) {}

  grpc::GenericCallbackServerContext* ctx;
  const route::Route& route;
  CallContext& context;
  worker::WorkerHandle worker;
  CallReactor* reactor = nullptr;  // valid until Finish is called

  grpc::ByteBuffer request_buffer;
  grpc::ByteBuffer response_buffer;  // the one write in flight
  bool write_ok = false;
  net::Notification write_done;
  bool read_ok = false;  // client-streaming: a later message arrived (false: no more)
  net::Notification read_done;
  net::Notification cancelled;

  // Read once, from the reactor, before the call moves to the worker.
  std::string authorization;
  std::vector<std::pair<std::string, std::string>> forwarded;
  std::string peer;          // as gRPC gives it: "ipv4:10.0.0.7:5000"
  std::string peer_address;  // "10.0.0.7"
  Clock::time_point start = Clock::now();

  // Takes `bytes` of the front's budget for request bodies, until ReleaseBuffered or the
  // end of the call; false (nothing taken) when they would pass it.
  bool HoldBuffered(uint64_t bytes) {
    uint64_t held = context.buffered_bytes.load(std::memory_order_relaxed);
    do {
      if (held + bytes > context.settings.grpc_max_buffered_bytes) return false;
    } while (!context.buffered_bytes.compare_exchange_weak(held, held + bytes,
                                                           std::memory_order_relaxed));
    buffered += bytes;
    return true;
  }
  // Gives the budget back. Called before the status goes, so that a client which has its
  // answer finds the budget as it left it (the state itself lives until gRPC is done).
  void ReleaseBuffered() {
    context.buffered_bytes.fetch_sub(std::exchange(buffered, 0), std::memory_order_relaxed);
  }
  ~CallState() { ReleaseBuffered(); }
  uint64_t buffered = 0;  // of the budget, held by this call
};

// The gRPC side of the upstream exchange: gives the transcoded request, turns the answer
// into messages.
class GrpcDownstream final : public upstream::Downstream {
 public:
  GrpcDownstream(CallState& state, transcode::HttpCall call)
      : state_(state),
        call_(std::move(call)),
        output_(*state.route.method->output_type()),
        streaming_(state.route.method->server_streaming()),
        body_done_(call_.body.empty() && call_.streamed_file == nullptr) {}

  upstream::RequestStart PrepareRequest(upstream::WireHead& head) override {
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

  asio::awaitable<bool> BeforeSend() override { co_return true; }

  bool RequestBodyDone() const override { return body_done_; }
  // The transcoded body is here; an upload's file data comes with later messages.
  bool RequestBodyAtHand() const override {
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
  asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece, size_t size) override {
    for (;;) {
      const std::string& run = phase_ == Phase::kBody   ? call_.body
                               : phase_ == Phase::kFile ? file_data_
                                                        : call_.body_tail;
      if (offset_ < run.size()) {
        const size_t n = std::min(size, run.size() - offset_);
        std::memcpy(piece, run.data() + offset_, n);
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

  asio::awaitable<bool> WriteHead(const upstream::ResponseStart& start) override {
    http_status_ = static_cast<int>(start.head.status());
    content_type_ = std::string(start.head.Value(bhttp::field::content_type));
    // Which headers come back as metadata: call/headers.h.
    for (const net::HeadField field : start.head.fields()) {
      if (call::Crosses(call::Crossing::kGrpcAnswer, call::Classify(field.code, field.name)) &&
          PrintableAscii(field.value)) {
        state_.ctx->AddInitialMetadata(AsciiLower(field.name), std::string(field.value));
      }
    }
    if (http_status_ < 200 || http_status_ >= 300) {
      mode_ = Mode::kError;
    } else if (transcode::IsHttpBody(output_)) {
      mode_ = Mode::kBytes;
      // gRPC owns content-type; the answer's own travels under another name too.
      if (PrintableAscii(content_type_))
        state_.ctx->AddInitialMetadata("x-content-type", content_type_);
    } else if (StartsWithIgnoreCase(content_type_, "text/event-stream")) {
      mode_ = streaming_ ? Mode::kEvents : Mode::kUnexpectedEvents;
    } else {
      mode_ = Mode::kJson;
    }
    co_return true;
  }

  asio::awaitable<bool> WriteBody(const char* data, size_t size, bool /*more*/) override {
    const std::string_view piece(data, size);
    switch (mode_) {
      case Mode::kError:
      case Mode::kUnexpectedEvents:
        if (collected_.size() + size > kMaxErrorAnswer) co_return true;  // keep the start
        collected_.append(piece);
        co_return true;
      case Mode::kJson:
        if (collected_.size() + size > kMaxJsonAnswer) {
          failure_ = absl::ResourceExhaustedError(
              StrCat("the upstream's answer passed ", kMaxJsonAnswer, " bytes"));
          co_return false;
        }
        collected_.append(piece);
        co_return true;
      case Mode::kBytes:
        co_return co_await WriteBytes(piece);
      case Mode::kEvents:
        co_return co_await WriteEvents(piece);
    }
    co_return false;
  }

  // A cancelled call ends the whole exchange: Run() is raced against the cancellation.
  void StartWatching(std::function<void()> /*on_gone*/) override {}
  asio::awaitable<void> StopWatching() override { co_return; }

  void Cut() override { cut_ = true; }

  // After the exchange: the last message, if one is due, and the call's status. `out`
  // is the forwarder's outcome (no failure: the answer was read, or cut).
  asio::awaitable<grpc::Status> Finish(const upstream::ForwardOutcome& out) {
    if (failure_) co_return ToGrpc(*failure_);
    if (cut_ || out.upstream_cut) {
      co_return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "the upstream's answer was cut before its end");
    }
    switch (mode_) {
      case Mode::kError:
        co_return ErrorStatus();
      case Mode::kUnexpectedEvents:
        co_return grpc::Status(grpc::StatusCode::INTERNAL,
                               StrCat("the upstream answered ", state_.route.rpc,
                                      " with an event stream; use its streaming form"));
      case Mode::kJson: {
        std::unique_ptr<Message> message = NewOutput();
        // OpenAI answers some calls with an empty 200 (accepting a Realtime call, deleting
        // a response): the RPCs that return google.protobuf.Empty.
        const bool empty = collected_.empty() && output_.full_name() == "google.protobuf.Empty";
        const transcode::JsonReadResult read =
            empty ? transcode::JsonReadResult{} : transcode::ReadJson(collected_, *message);
        if (!read.status.ok()) {
          co_return grpc::Status(grpc::StatusCode::INTERNAL,
                                 StrCat("the upstream's answer is not a ", output_.full_name(),
                                        ": ", read.status.message()));
        }
        NoteMismatches(read);
        if (!streaming_) {
          final_message_ = message->SerializeAsString();
          co_return grpc::Status::OK;
        }
        const std::string bytes = message->SerializeAsString();
        if (!co_await Write(bytes)) co_return Gone(*state_.ctx);
        co_return grpc::Status::OK;
      }
      case Mode::kBytes:
        if (!streaming_) {  // a unary HttpBody holds the whole answer
          final_message_ = HttpBodyMessage(collected_)->SerializeAsString();
        }
        co_return grpc::Status::OK;
      case Mode::kEvents:
        if (!events_.status().ok()) co_return ToGrpc(events_.status());
        co_return grpc::Status::OK;
    }
    co_return grpc::Status::OK;
  }

  // The answer could not be turned into messages (the exchange was stopped for it).
  bool failed() const { return failure_.has_value(); }

  // The unary answer, to be written together with the status; empty for streams.
  const std::optional<std::string>& final_message() const { return final_message_; }
  int http_status() const { return http_status_; }

 private:
  enum class Mode { kError, kJson, kBytes, kEvents, kUnexpectedEvents };
  enum class Phase { kBody, kFile, kTail };

  // Reads the upload's next message into file_data_; false once the client is done.
  asio::awaitable<absl::StatusOr<bool>> NextFileData();

  std::unique_ptr<Message> NewOutput() const {
    return std::unique_ptr<Message>(state_.context.messages.GetPrototype(&output_)->New());
  }

  std::unique_ptr<Message> HttpBodyMessage(std::string_view data) {
    std::unique_ptr<Message> message = NewOutput();
    const auto& r = *message->GetReflection();
    if (!content_type_sent_) {  // the first chunk carries the type
      r.SetString(message.get(), output_.FindFieldByName("content_type"), content_type_);
      content_type_sent_ = true;
    }
    r.SetString(message.get(), output_.FindFieldByName("data"), std::string(data));
    return message;
  }

  asio::awaitable<bool> WriteBytes(std::string_view piece) {
    if (!streaming_) {
      if (collected_.size() + piece.size() > kMaxJsonAnswer) {
        failure_ = absl::ResourceExhaustedError(
            StrCat("the upstream's answer passed ", kMaxJsonAnswer, " bytes; use a streaming RPC"));
        co_return false;
      }
      collected_.append(piece);
      co_return true;
    }
    if (piece.empty()) co_return true;  // the end of a chunked body: nothing to send
    const std::string bytes = HttpBodyMessage(piece)->SerializeAsString();
    co_return co_await Write(bytes);
  }

  asio::awaitable<bool> WriteEvents(std::string_view piece) {
    events_.Feed(piece);
    while (std::optional<transcode::SseEvent> event = events_.Next()) {
      if (transcode::IsEndOfStream(*event)) continue;
      std::unique_ptr<Message> message = NewOutput();
      const transcode::JsonReadResult read = transcode::ReadEvent(*event, *message);
      if (!read.status.ok()) {
        // As with an error answer (ErrorStatus), OpenAI's error goes along whole.
        if (transcode::IsErrorEvent(*event, output_)) {
          state_.ctx->AddTrailingMetadata("openai-error-bin", event->data);
        }
        failure_ = read.status;
        co_return false;
      }
      NoteMismatches(read);
      const std::string bytes = message->SerializeAsString();
      if (!co_await Write(bytes)) co_return false;
    }
    if (!events_.status().ok()) {
      failure_ = events_.status();
      co_return false;
    }
    co_return true;
  }

  void NoteMismatches(const transcode::JsonReadResult& read) {
    if (read.mismatched > 0 && !mismatch_logged_) {
      mismatch_logged_ = true;
      OA_LOG(kDebug, "%s: %d value(s) of the upstream's answer did not fit %s (first: %s)",
             state_.route.rpc, read.mismatched, output_.full_name(), read.first_mismatch);
    }
  }

  // The upstream's error answer: its status mapped (call/errors.h), and OpenAI's error
  // whole, with its HTTP status, as trailing metadata.
  grpc::Status ErrorStatus() {
    state_.ctx->AddTrailingMetadata("openai-http-status", StrCat(http_status_));
    if (!collected_.empty()) state_.ctx->AddTrailingMetadata("openai-error-bin", collected_);
    return ToGrpc(*state_.ctx, call::UpstreamAnswer(http_status_, collected_));
  }

  // Writes one message and waits until gRPC took it (backpressure). `bytes` is a named
  // local of the caller: GCC 12 mishandles temporaries made inside a co_await.
  asio::awaitable<bool> Write(const std::string& bytes);

  CallState& state_;
  transcode::HttpCall call_;
  const google::protobuf::Descriptor& output_;
  const bool streaming_;
  Phase phase_ = Phase::kBody;
  size_t offset_ = 0;      // into the current run
  std::string file_data_;  // the last message's file bytes
  uint64_t uploaded_ = 0;  // file bytes of later messages so far
  absl::Duration waited_;  // for them, in all
  bool body_done_;

  int http_status_ = 0;
  std::string content_type_;
  Mode mode_ = Mode::kError;
  std::string collected_;
  transcode::SseReader events_;
  bool content_type_sent_ = false;
  bool cut_ = false;
  bool mismatch_logged_ = false;
  std::optional<absl::Status> failure_;
  std::optional<std::string> final_message_;
};

class CallReactor final : public OrderedReactor {
 public:
  CallReactor(grpc::GenericCallbackServerContext* ctx, const route::Route& route,
              CallContext& context)
      : state_(std::make_shared<CallState>(ctx, route, context, context.workers.NextWorker())) {
    state_->reactor = this;
    context.active_calls.fetch_add(1);
    for (const auto& [key, value] : ctx->client_metadata()) {
      const std::string_view name(key.data(), key.size());
      if (name == "authorization") state_->authorization.assign(value.data(), value.size());
      if (call::Crosses(call::Crossing::kGrpcRequest, name)) {  // call/headers.h
        state_->forwarded.emplace_back(name, std::string(value.data(), value.size()));
      }
    }
    state_->peer = ctx->peer();
    state_->peer_address = PeerAddress(state_->peer);
    StartRead(&state_->request_buffer);
  }

  void ReadDone(bool ok) override {
    if (dispatched_) {  // a later message of an upload, asked for by the worker
      asio::post(state_->worker.executor, [state = state_, ok] {
        state->read_ok = ok;
        state->read_done.Notify();
      });
      return;
    }
    if (!ok) {
      Refuse(call::BadRequest("the call sent no request message"));
      return;
    }
    const route::Route& route = state_->route;
    const auto* input = route.method->input_type();
    std::unique_ptr<Message> request(state_->context.messages.GetPrototype(input)->New());
    const absl::Status read =
        ReadMessage(state_->request_buffer, *request, state_->context.max_message_bytes);
    state_->request_buffer.Clear();
    if (!read.ok()) {
      Refuse(call::InvalidCall(read));
      return;
    }
    const bool events =
        route.method->server_streaming() && !transcode::IsHttpBody(*route.method->output_type());
    absl::StatusOr<transcode::HttpCall> call = transcode::BuildHttpCall(route, *request, events);
    if (!call.ok()) {
      Refuse(call::InvalidCall(call.status()));
      return;
    }
    const uint64_t body_bytes = call->body.size() + call->body_tail.size();
    if (!state_->HoldBuffered(body_bytes)) {
      Refuse(call::BuffersFull(body_bytes, state_->context.settings.grpc_max_buffered_bytes));
      return;
    }
    dispatched_ = true;
    asio::co_spawn(state_->worker.executor, Run(state_, *std::move(call)), asio::detached);
  }

  void WriteDone(bool ok) override {
    asio::post(state_->worker.executor, [state = state_, ok] {
      state->write_ok = ok;
      state->write_done.Notify();
    });
  }

  void Cancelled() override {
    asio::post(state_->worker.executor, [state = state_] { state->cancelled.Notify(); });
  }

  void Done() override {
    state_->context.active_calls.fetch_sub(1);
    delete this;
  }

 private:
  static asio::awaitable<void> Run(std::shared_ptr<CallState> state, transcode::HttpCall request) {
    CallState& s = *state;
    const std::string method = request.method;
    const std::string target = request.target;
    call::Call call(s.worker, Identify(s, method, target), s.start);
    GrpcDownstream caller(s, std::move(request));
    if (const std::optional<call::CallError> refused = co_await call.Admit()) {
      const grpc::Status status = ToGrpc(*s.ctx, *refused);
      call.Record(call::Ending::Grpc(status.error_code()));
      s.ReleaseBuffered();
      CallReactor* reactor = std::exchange(s.reactor, nullptr);
      reactor->Finish(status);
      co_return;
    }
    auto result = co_await (call.Forward(caller) || s.cancelled.Wait());

    grpc::Status status;
    upstream::ForwardOutcome out;
    if (result.index() == 1 || s.cancelled.given()) {
      status = Gone(*s.ctx);
    } else {
      out = std::get<0>(std::move(result));
      if (out.failure) {
        status = ToGrpc(*s.ctx, call::ForwardFailure(out, s.context.settings.max_body_bytes));
      } else if (out.client_gone && !caller.failed()) {  // not our own refusal to go on
        status = Gone(*s.ctx);
      } else {
        status = co_await caller.Finish(out);
      }
    }
    call.Record(call::Ending::Grpc(status.error_code(), caller.http_status(), &out));
    s.ReleaseBuffered();  // the body has gone upstream, or never will
    CallReactor* reactor = s.reactor;
    s.reactor = nullptr;  // from here on the reactor may be gone
    if (status.ok() && caller.final_message()) {
      s.response_buffer = ToBuffer(*caller.final_message());
      reactor->StartWriteAndFinish(&s.response_buffer, grpc::WriteOptions(), status);
    } else {
      reactor->Finish(status);
    }
  }

  // Ends a call the gateway refuses before it reaches a worker.
  void Refuse(const call::CallError& error) {
    const grpc::Status status = ToGrpc(*state_->ctx, error);
    call::RecordCall(Identify(*state_, state_->route.http_method, state_->route.path_template),
                     absl::FromChrono(Clock::now() - state_->start),
                     call::Ending::Grpc(status.error_code()));
    state_->reactor = nullptr;
    Finish(status);
  }

  // Who calls what, for the call's admission and its record; views into `s`.
  static call::Identity Identify(const CallState& s, std::string_view method,
                                 std::string_view target) {
    std::string_view request_id;
    for (const auto& [name, value] : s.forwarded) {
      if (name == "x-request-id") request_id = value;
    }
    return {observe::Front::kGrpc, s.peer,          s.peer_address, method, target,
            s.route.rpc,           s.authorization, request_id};
  }

  std::shared_ptr<CallState> state_;
  bool dispatched_ = false;  // the first message went to a worker
  observe::GaugeHold in_flight_{observe::metrics().in_flight(observe::Front::kGrpc)};
};

// An upload's messages, like a REST request body, have --client-body-timeout in all, plus
// a second for every --client-body-min-rate bytes of file sent: a client that holds its
// stream open without sending cannot pin an upstream connection for ever.
asio::awaitable<absl::StatusOr<bool>> GrpcDownstream::NextFileData() {
  const config::Settings& settings = state_.context.settings;
  const double earned = static_cast<double>(uploaded_) /
                        static_cast<double>(std::max<uint64_t>(settings.client_body_min_rate, 1));
  const absl::Duration left = std::max(
      settings.client_body_timeout + absl::Seconds(earned) - waited_, absl::ZeroDuration());
  state_.reactor->StartRead(&state_.request_buffer);
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
  if (!std::get<0>(result)) co_return absl::CancelledError("the call was cancelled");
  if (!state_.read_ok) co_return false;
  const auto* input = state_.route.method->input_type();
  std::unique_ptr<Message> message(state_.context.messages.GetPrototype(input)->New());
  const absl::Status read =
      ReadMessage(state_.request_buffer, *message, state_.context.max_message_bytes);
  state_.request_buffer.Clear();
  if (!read.ok()) co_return read;
  // Only more bytes of the file may follow the first message.
  const auto& r = *message->GetReflection();
  const google::protobuf::FieldDescriptor& field = *call_.streamed_file;
  Message* file = r.MutableMessage(message.get(), &field);
  const auto* data = file->GetDescriptor()->FindFieldByName("data");
  file_data_ = file->GetReflection()->GetString(*file, data);
  file->GetReflection()->ClearField(file, data);
  const bool only_data = file->ByteSizeLong() == 0;
  r.ClearField(message.get(), &field);
  if (!only_data || message->ByteSizeLong() != 0) {
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

asio::awaitable<bool> GrpcDownstream::Write(const std::string& bytes) {
  CallReactor* reactor = state_.reactor;
  state_.response_buffer = ToBuffer(bytes);
  reactor->StartWrite(&state_.response_buffer);
  const bool done = co_await state_.write_done.Wait();
  co_return done&& state_.write_ok;
}

class FailedReactor final : public OrderedReactor {
 public:
  FailedReactor(grpc::GenericCallbackServerContext* ctx, const call::CallError& error) {
    std::string key;
    for (const auto& [name, value] : ctx->client_metadata()) {
      if (std::string_view(name.data(), name.size()) == "authorization") {
        key.assign(value.data(), value.size());
      }
    }
    const std::string peer = ctx->peer();  // by value: the record only points at it
    const grpc::Status status = ToGrpc(*ctx, error);
    call::RecordCall(
        {observe::Front::kGrpc, peer, PeerAddress(peer), "-", "-", ctx->method(), key, ""},
        absl::ZeroDuration(), call::Ending::Grpc(status.error_code()));
    Finish(status);
  }
  void Done() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* NewCallReactor(grpc::GenericCallbackServerContext* ctx,
                                               const route::Route& route, CallContext& context) {
  return OrderedReactor::Constructed(new CallReactor(ctx, route, context));
}

grpc::ServerGenericBidiReactor* NewFailedReactor(grpc::GenericCallbackServerContext* ctx,
                                                 const call::CallError& error) {
  return OrderedReactor::Constructed(new FailedReactor(ctx, error));
}

}  // namespace oa::grpc_front
