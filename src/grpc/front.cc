#include "grpc/front.h"

#include <google/protobuf/dynamic_message.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <thread>

#include "base/strings.h"
#include "grpc/call.h"
#include "grpc/http2_session.h"
#include "grpc/reflection.h"
#include "grpc/server_reactor.h"
#include "observe/log.h"

namespace oa::grpc_front {

namespace {

// The largest request message, on the wire or inflated: a message is a request body too.
uint64_t MaxMessageBytes(const config::Settings& settings) {
  return std::min(settings.grpc_max_message_bytes, settings.max_body_bytes);
}

}  // namespace

// The generic handler: every method the server does not register itself (health does)
// comes here and is looked up in the route table.
class GrpcFront::Service final : public grpc::CallbackGenericService {
 public:
  Service(const config::Settings& settings, const route::RouteTable& routes,
          const route::Descriptors& descriptors, worker::WorkerSource& workers)
      : descriptors_(descriptors),
        context_{settings, routes, workers, messages_, MaxMessageBytes(settings), {}, {}} {
    for (const route::Route& route : routes.routes()) {
      const std::string& service = route.method->service()->full_name();
      if (services_.empty() || services_.back() != service) services_.push_back(service);
    }
    for (const char* infra : {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                              "grpc.reflection.v1alpha.ServerReflection"}) {
      services_.emplace_back(infra);
    }
    std::sort(services_.begin(), services_.end());
    services_.erase(std::unique(services_.begin(), services_.end()), services_.end());
  }

  int active_calls() const { return context_.active_calls.load(); }
  CallContext& context() { return context_; }
  const LocalServices& local() const { return local_; }
  void SetServing(bool serving) { serving_.store(serving); }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    const std::string& method = ctx->method();
    if (IsReflectionMethod(method)) return NewReflectionReactor(descriptors_, services_);
    const route::Route* route = context_.routes.FindRpc(method);
    if (route == nullptr) {
      return NewFailedReactor(ctx, call::UnknownMethod(method));
    }
    return NewCallReactor(ctx, *route, context_);
  }

 private:
  const route::Descriptors& descriptors_;
  google::protobuf::DynamicMessageFactory messages_{descriptors_.pool};
  CallContext context_;
  std::vector<std::string> services_;
  std::atomic<bool> serving_{true};
  const LocalServices local_{descriptors_, services_, serving_};
};

namespace {

// gRPC's own TLS, with the REST front's certificate, or none. Client certificates are not
// asked for: callers authenticate with their OpenAI key.
std::shared_ptr<grpc::ServerCredentials> Credentials(const net::ServerTls* tls) {
  if (tls == nullptr) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({tls->private_key_pem(), tls->cert_chain_pem()});
  return grpc::SslServerCredentials(options);
}

}  // namespace

GrpcFront::GrpcFront() = default;

GrpcFront::~GrpcFront() {
  if (server_) Shutdown(absl::ZeroDuration());
}

absl::StatusOr<std::unique_ptr<GrpcFront>> GrpcFront::Start(const config::Settings& settings,
                                                            const route::RouteTable& routes,
                                                            const route::Descriptors& descriptors,
                                                            worker::WorkerSource& workers,
                                                            net::ServerTls* tls) {
  std::unique_ptr<GrpcFront> front(new GrpcFront());
  front->service_ = std::make_unique<Service>(settings, routes, descriptors, workers);
  front->tls_ = tls;
  if (settings.grpc_on_workers) return front;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(front->service_.get());
  const std::shared_ptr<grpc::ServerCredentials> credentials = Credentials(tls);
  front->acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
  if (!settings.grpc_listen.empty()) {
    builder.AddListeningPort(settings.grpc_listen, credentials, &front->port_);
  }
  // Messages reach the handler as sent, compressed or not (message_reader.h inflates them
  // within the limit): gRPC's own decompression inflates a whole message before it looks
  // at its size. The receive limit then bounds what gRPC buffers of each message.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(MaxMessageBytes(settings), INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  // Advertised in SETTINGS: clients queue calls beyond it; a client that opens more
  // anyway loses its connection.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, settings.grpc_max_concurrent_streams);
  front->server_ = builder.BuildAndStart();
  if (!front->server_) return absl::UnavailableError("the gRPC server did not start");
  if (!settings.grpc_listen.empty() && front->port_ == 0) {
    return absl::UnavailableError(StrCat("--grpc-listen: cannot listen on ", settings.grpc_listen));
  }
  return front;
}

worker::Http2Front GrpcFront::http2() {
  if (server_) return static_cast<worker::Http2Handoff*>(this);
  return static_cast<worker::ConnectionFront*>(this);
}

std::unique_ptr<worker::ConnectionServer> GrpcFront::ForWorker(const worker::WorkerHandle& worker,
                                                               const std::atomic<bool>& /*ready*/) {
  return NewHttp2Server(service_->context(), service_->local(), worker, tls_);
}

void GrpcFront::Adopt(int listener_fd, int fd, std::string_view already_read) {
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
  p.listener_fd = listener_fd;
  p.fd = fd;
  grpc::Slice slice(already_read.data(), already_read.size());
  p.read_buffer = grpc::ByteBuffer(&slice, 1);
  acceptor_->HandleNewConnection(&p);
}

void GrpcFront::SetServing(bool serving) {
  service_->SetServing(serving);
  if (auto* health = server_ ? server_->GetHealthCheckService() : nullptr) {
    health->SetServingStatus(serving);
  }
}

void GrpcFront::Drain(absl::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (service_->active_calls() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (const int left = service_->active_calls(); left > 0) {
    OA_LOG(kWarn, "drain: %d gRPC call(s) still running after %s; cancelling them", left,
           absl::FormatDuration(timeout));
  }
  Shutdown(absl::ZeroDuration());
}

void GrpcFront::Shutdown(absl::Duration grace) {
  if (!server_) return;
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
  server_.reset();
}

}  // namespace oa::grpc_front
