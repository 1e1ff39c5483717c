#include "grpc/call.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>

#include "call/call.h"
#include "call/headers.h"
#include "grpc/byte_buffers.h"
#include "grpc/call_state.h"
#include "grpc/downstream.h"
#include "grpc/message_reader.h"
#include "grpc/websocket_call.h"
#include "observe/metrics.h"
#include "transcode/field_names.h"
#include "transcode/http_call.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
using namespace asio::experimental::awaitable_operators;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using net::Clock;

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
    // A WebSocket session's first message need not carry an event: then the upgrade
    // sends none. (Asked before BuildHttpCall, which makes the body field to set `stream`.)
    const FieldDescriptor* body = route.websocket ? input->FindFieldByName(route.body) : nullptr;
    const bool first_frame = body != nullptr && request->GetReflection()->HasField(*request, body);
    const bool events = route.method->server_streaming() && !route.websocket &&
                        !transcode::IsHttpBody(*route.method->output_type());
    absl::StatusOr<transcode::HttpCall> call = transcode::BuildHttpCall(route, *request, events);
    if (!call.ok()) {
      Refuse(call::InvalidCall(call.status()));
      return;
    }
    if (route.websocket && !first_frame) call->body.clear();
    const uint64_t body_bytes = call->body.size() + call->body_tail.size();
    if (!state_->HoldBuffered(body_bytes)) {
      Refuse(call::BuffersFull(body_bytes, state_->context.settings.grpc_max_buffered_bytes));
      return;
    }
    dispatched_ = true;
    if (route.websocket) {
      asio::co_spawn(state_->worker.executor, RunWebSocket(state_, *std::move(call)),
                     asio::detached);
    } else {
      asio::co_spawn(state_->worker.executor, Run(state_, *std::move(call)), asio::detached);
    }
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
      FinishRefused(s, call, *refused);
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
    OrderedReactor* reactor = s.reactor;
    s.reactor = nullptr;  // from here on the reactor may be gone
    if (status.ok() && caller.final_message()) {
      s.response_buffer = ToBuffer(*caller.final_message());
      reactor->StartWriteAndFinish(&s.response_buffer, grpc::WriteOptions(), status);
    } else {
      reactor->Finish(status);
    }
  }

  // A WebSocket RPC (websocket_call.h): the upgrade, then the session, as one call.
  static asio::awaitable<void> RunWebSocket(std::shared_ptr<CallState> state,
                                            transcode::HttpCall request) {
    CallState& s = *state;
    const std::string target = request.target;
    call::Identity who = Identify(s, "GET", target);
    who.websocket = true;
    call::Call call(s.worker, who, s.start);
    WebSocketCall caller(s, std::move(request));
    const std::optional<call::CallError> refused = co_await call.Admit();
    if (refused) {
      FinishRefused(s, call, *refused);
      co_return;
    }
    const upstream::ForwardOutcome out = co_await call.Forward(caller);
    grpc::Status status;
    if (out.failure) {
      status = ToGrpc(*s.ctx, call::ForwardFailure(out, s.context.settings.max_body_bytes));
    } else if (out.client_gone) {
      status = Gone(*s.ctx);
    } else {
      status = caller.Finish(out);
    }
    call::Ending ending = call::Ending::Grpc(status.error_code(), caller.http_status(), &out);
    ending.websocket = caller.tally();
    call.Record(ending);
    s.ReleaseBuffered();
    std::exchange(s.reactor, nullptr)->Finish(status);
  }

  // Ends a call that admission refused.
  static void FinishRefused(CallState& s, const call::Call& call, const call::CallError& refused) {
    const grpc::Status status = ToGrpc(*s.ctx, refused);
    call.Record(call::Ending::Grpc(status.error_code()));
    s.ReleaseBuffered();
    std::exchange(s.reactor, nullptr)->Finish(status);
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
