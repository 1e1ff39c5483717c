#include "grpc/call_state.h"

#include "base/strings.h"

namespace oa::grpc_front {

// The client knows which; this is what the log and metrics say. The client's clock starts
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

grpc::Status UpstreamErrorStatus(grpc::GenericCallbackServerContext& ctx, int http_status,
                                 const std::string& body) {
  ctx.AddTrailingMetadata("openai-http-status", StrCat(http_status));
  if (!body.empty()) ctx.AddTrailingMetadata("openai-error-bin", body);
  return ToGrpc(ctx, call::UpstreamAnswer(http_status, body));
}

grpc::Status ToGrpc(grpc::GenericCallbackServerContext& ctx, const call::CallError& error) {
  if (error.retry_after_seconds > 0) {
    ctx.AddTrailingMetadata("retry-after", StrCat(error.retry_after_seconds));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(error.grpc_code), error.message);
}

}  // namespace oa::grpc_front
