#include "grpc/call.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "call/call.h"
#include "grpc/call_state.h"
#include "grpc/downstream.h"
#include "grpc/websocket_call.h"
#include "transcode/field_names.h"
#include "transcode/http_call.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using net::Clock;

// Who calls what, for the call's admission and its record; views into `s`.
call::Identity Identify(const CallState& s, std::string_view method, std::string_view target) {
  std::string_view request_id;
  for (const auto& [name, value] : s.forwarded) {
    if (name == "x-request-id") request_id = value;
  }
  return {observe::Front::kGrpc, s.peer,          s.peer_address, method, target,
          s.route.rpc,           s.authorization, request_id};
}

// Ends `s`'s call with `status`, after `last` if any. From here on the transport may be gone.
void EndCall(CallState& s, const grpc::Status& status, const std::string* last = nullptr) {
  s.ReleaseBuffered();  // the body has gone upstream, or never will
  std::exchange(s.transport, nullptr)->Finish(status, last);
  s.transport_keeper.reset();
}

// Ends a call that admission refused.
void FinishRefused(CallState& s, const call::Call& call, const call::CallError& refused) {
  const grpc::Status status = ToGrpc(*s.transport, refused);
  call.Record(call::Ending::Grpc(status.error_code()));
  EndCall(s, status);
}

// Ends a call the gateway refuses before it reaches a worker.
void Refuse(CallState& s, const grpc::Status& status) {
  call::RecordCall(Identify(s, s.route.http_method, s.route.path_template),
                   absl::FromChrono(Clock::now() - s.start),
                   call::Ending::Grpc(status.error_code()));
  EndCall(s, status);
}
void Refuse(CallState& s, const call::CallError& error) { Refuse(s, ToGrpc(*s.transport, error)); }

asio::awaitable<void> Run(std::shared_ptr<CallState> state, transcode::HttpCall request) {
  CallState& s = *state;
  const std::string method = request.method;
  const std::string target = request.target;
  call::Call call(s.worker, Identify(s, method, target), s.start);
  GrpcDownstream caller(s, std::move(request));
  if (const std::optional<call::CallError> refused = co_await call.Admit()) {
    FinishRefused(s, call, *refused);
    co_return;
  }
  // A cancellation reaches the exchange through the caller's watch (StartWatching), and
  // every wait of the caller's for its client ends on it.
  upstream::ForwardOutcome out = co_await call.Forward(caller);
  s.on_cancel = nullptr;

  grpc::Status status;
  if (s.cancelled.given()) {
    status = Gone(*s.transport);
  } else {
    if (out.failure) {
      status = ToGrpc(*s.transport, call::ForwardFailure(out, s.context.settings.max_body_bytes));
    } else if (out.client_gone && !caller.failed()) {  // not our own refusal to go on
      status = Gone(*s.transport);
    } else {
      status = co_await caller.Finish(out);
    }
  }
  call.Record(call::Ending::Grpc(status.error_code(), caller.http_status(), &out));
  const bool last = status.ok() && caller.final_message();
  EndCall(s, status, last ? &*caller.final_message() : nullptr);
}

// A WebSocket RPC (websocket_call.h): the upgrade, then the session, as one call.
asio::awaitable<void> RunWebSocket(std::shared_ptr<CallState> state, transcode::HttpCall request) {
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
    status = ToGrpc(*s.transport, call::ForwardFailure(out, s.context.settings.max_body_bytes));
  } else if (out.client_gone) {
    status = Gone(*s.transport);
  } else {
    status = caller.Finish(out);
  }
  call::Ending ending = call::Ending::Grpc(status.error_code(), caller.http_status(), &out);
  ending.websocket = caller.tally();
  call.Record(ending);
  EndCall(s, status);
}

}  // namespace

void BeginCall(const std::shared_ptr<CallState>& state, bool got) {
  CallState& s = *state;
  if (!got) {
    if (s.transport->IsCancelled()) {
      Refuse(s, Gone(*s.transport));
    } else {
      Refuse(s, call::BadRequest("the call sent no request message"));
    }
    return;
  }
  const route::Route& route = s.route;
  const auto* input = route.method->input_type();
  std::unique_ptr<Message> request(s.context.messages.GetPrototype(input)->New());
  const absl::Status read = s.transport->TakeRequest(*request, s.context.max_message_bytes);
  if (!read.ok()) {
    Refuse(s, call::InvalidCall(read));
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
    Refuse(s, call::InvalidCall(call.status()));
    return;
  }
  if (route.websocket && !first_frame) call->body.clear();
  const uint64_t body_bytes = call->body.size() + call->body_tail.size();
  if (!s.HoldBuffered(body_bytes)) {
    Refuse(s, call::BuffersFull(body_bytes, s.context.settings.grpc_max_buffered_bytes));
    return;
  }
  if (route.websocket) {
    asio::co_spawn(s.worker.executor, RunWebSocket(state, *std::move(call)), asio::detached);
  } else {
    asio::co_spawn(s.worker.executor, Run(state, *std::move(call)), asio::detached);
  }
}

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

void RefuseUnknown(CallTransport& transport, std::string_view peer, std::string_view key,
                   std::string_view method, const call::CallError& error) {
  const grpc::Status status = ToGrpc(transport, error);
  call::RecordCall({observe::Front::kGrpc, peer, PeerAddress(peer), "-", "-", method, key, ""},
                   absl::ZeroDuration(), call::Ending::Grpc(status.error_code()));
  transport.Finish(status, nullptr);
}

}  // namespace oa::grpc_front
