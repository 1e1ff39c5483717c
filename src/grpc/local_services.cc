#include "grpc/local_services.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
using namespace asio::experimental::awaitable_operators;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr std::string_view kCheck = "/grpc.health.v1.Health/Check";
constexpr std::string_view kWatch = "/grpc.health.v1.Health/Watch";
// A health request names a service: it is small.
constexpr uint64_t kMaxHealthRequestBytes = uint64_t{4} * 1024;

void End(CallSignals& call, grpc::Status status) {
  std::exchange(call.transport, nullptr)->Finish(std::move(status), nullptr);
  call.transport_keeper.reset();
}

// The next request message into `message`: false when the client sent no more, or the
// call ended (then `status` says how it ends, if it must).
asio::awaitable<bool> Read(CallSignals& call, google::protobuf::Message& message, uint64_t limit,
                           grpc::Status& status) {
  call.transport->StartRead();
  const bool done = co_await call.read_done.Wait();
  if (!done || !call.read_ok) co_return false;
  const absl::Status read = call.transport->TakeRequest(message, limit);
  if (!read.ok()) {
    status = grpc::Status(static_cast<grpc::StatusCode>(read.code()), std::string(read.message()));
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Write(CallSignals& call, const google::protobuf::Message& message) {
  co_return co_await call.Write(message.SerializeAsString());
}

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
}

// SERVING, NOT_SERVING, or nullopt for a service the gateway does not serve.
std::optional<HealthCheckResponse::ServingStatus> HealthOf(const LocalServices& services,
                                                           const std::string& service) {
  if (!service.empty() &&
      !std::binary_search(services.services.begin(), services.services.end(), service)) {
    return std::nullopt;
  }
  return services.serving.load() ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

asio::awaitable<void> Health(std::shared_ptr<CallSignals> state, bool watch,
                             const LocalServices& services) {
  CallSignals& call = *state;
  HealthCheckRequest request;
  grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT, "the call sent no request message");
  const bool got = co_await Read(call, request, kMaxHealthRequestBytes, status);
  if (!got) {
    End(call, call.transport->IsCancelled() ? Cancelled() : status);
    co_return;
  }
  std::optional<HealthCheckResponse::ServingStatus> health = HealthOf(services, request.service());
  if (!health) {
    End(call, grpc::Status(grpc::StatusCode::NOT_FOUND,
                           "no service named '" + request.service() + "' is served here"));
    co_return;
  }
  HealthCheckResponse response;
  response.set_status(*health);
  if (!watch) {
    const std::string last = response.SerializeAsString();
    std::exchange(call.transport, nullptr)->Finish(grpc::Status::OK, &last);
    call.transport_keeper.reset();
    co_return;
  }
  asio::steady_timer tick(call.worker.executor);
  for (;;) {
    const bool written = co_await Write(call, response);
    if (!written) break;
    for (;;) {
      tick.expires_after(std::chrono::seconds(1));
      auto woke = co_await (call.cancelled.Wait() || tick.async_wait(net::kNoThrow));
      if (woke.index() == 0) break;
      if (HealthOf(services, request.service()) != response.status()) break;
    }
    if (call.cancelled.given()) break;
    response.set_status(*HealthOf(services, request.service()));
  }
  End(call, Cancelled());
}

asio::awaitable<void> Reflection(std::shared_ptr<CallSignals> state,
                                 const LocalServices& services) {
  CallSignals& call = *state;
  ReflectionAnswers answers(services.descriptors, services.services);
  grpc::Status status = grpc::Status::OK;  // the client has no more questions
  for (;;) {
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    const bool got = co_await Read(call, request, ReflectionAnswers::kMaxRequestBytes, status);
    if (!got) break;
    const bool written = co_await Write(call, answers.Answer(request));
    if (!written) {
      status = Cancelled();
      break;
    }
  }
  End(call, call.transport->IsCancelled() ? Cancelled() : status);
}

}  // namespace

bool IsLocalMethod(std::string_view method) {
  return method == kCheck || method == kWatch || IsReflectionMethod(method);
}

void StartLocalCall(std::shared_ptr<CallSignals> call, std::string_view method,
                    const LocalServices& services) {
  const asio::any_io_executor executor = call->worker.executor;
  if (IsReflectionMethod(method)) {
    asio::co_spawn(executor, Reflection(std::move(call), services), asio::detached);
  } else {
    asio::co_spawn(executor, Health(std::move(call), method == kWatch, services), asio::detached);
  }
}

}  // namespace oa::grpc_front
