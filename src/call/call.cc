#include "call/call.h"

#include <algorithm>

#include "observe/access_log.h"
#include "observe/fingerprint.h"

namespace oa::call {

void RecordCall(const Identity& who, absl::Duration elapsed, const Ending& ending) {
  observe::AccessRecord record;
  record.front = who.front;
  record.client = who.client;
  record.method = who.method;
  record.target = who.target;
  record.rpc = who.rpc;
  record.status = ending.http_status;
  record.grpc_status = ending.grpc_status;
  record.elapsed = elapsed;
  record.authorization = who.authorization;
  record.client_request_id = who.client_request_id;
  record.bytes_out = ending.own_bytes_out;
  if (const upstream::ForwardOutcome* exchange = ending.exchange) {
    record.bytes_in = exchange->request_body_bytes;
    record.bytes_out += exchange->response_body_bytes;
    record.upstream_request_id = exchange->request_id;
    record.upstream_first_byte = exchange->upstream_first_byte;
    record.retried = exchange->retried;
    record.client_gone = exchange->client_gone;
    record.upstream_cut = exchange->upstream_cut;
  }
  if (const observe::WebSocketTally* websocket = ending.websocket) {
    record.websocket = websocket;
    record.bytes_in += websocket->bytes_in;
    record.bytes_out += websocket->bytes_out;
  }
  observe::RecordCall(record);
}

void Call::KeepIdentity() {
  std::string_view* const views[] = {
      &who_.client, &who_.client_address, &who_.method,           &who_.target,
      &who_.rpc,    &who_.authorization,  &who_.client_request_id};
  size_t size = 0;
  for (const std::string_view* v : views) size += v->size();
  kept_ = std::make_unique<char[]>(size);
  char* at = kept_.get();
  for (std::string_view* v : views) {
    std::copy(v->begin(), v->end(), at);
    *v = std::string_view(at, v->size());
    at += v->size();
  }
}

net::asio::awaitable<std::optional<CallError>> Call::Admit() {
  if (who_.websocket && !on_.websockets) co_return WebSocketsOff();
  if (who_.authorization.empty()) co_return MissingKey();
  if (!on_.admission.enabled()) co_return std::nullopt;
  const std::string fingerprint = observe::KeyFingerprint(who_.authorization);
  const limits::Caller caller{fingerprint, who_.client_address};
  verdict_ = co_await on_.admission.Admit(caller);
  if (verdict_.kind == limits::Verdict::Kind::kAdmitted) co_return std::nullopt;
  co_return Refused(verdict_);
}

}  // namespace oa::call
