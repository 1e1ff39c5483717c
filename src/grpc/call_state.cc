#include "grpc/call_state.h"

#include "base/strings.h"

namespace oa::grpc_front {

net::asio::awaitable<bool> CallSignals::Write(std::string message) {
  if (transport->StartWrite(std::move(message))) co_return true;
  const bool done = co_await write_done.Wait();
  co_return done&& write_ok;
}

// The client knows which; this is what the log and metrics say. The client's clock starts
// before ours, so its deadline passes a little before the one we were told: a call that
// ends within 100 ms of our deadline counts as ended by it.
grpc::Status Gone(const CallTransport& call) {
  if (call.deadline() <= std::chrono::system_clock::now() + std::chrono::milliseconds(100)) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the call's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status UpstreamErrorStatus(CallTransport& call, int http_status, const std::string& body) {
  call.AddTrailingMetadata("openai-http-status", StrCat(http_status));
  if (!body.empty()) call.AddTrailingMetadata("openai-error-bin", body);
  return ToGrpc(call, call::UpstreamAnswer(http_status, body));
}

grpc::Status ToGrpc(CallTransport& call, const call::CallError& error) {
  if (error.retry_after_seconds > 0) {
    call.AddTrailingMetadata("retry-after", StrCat(error.retry_after_seconds));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(error.grpc_code), error.message);
}

}  // namespace oa::grpc_front
