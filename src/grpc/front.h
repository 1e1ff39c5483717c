// The gRPC front: every OpenAI method is served by one generic handler (call.h), beside
// gRPC's health service and server reflection over the gateway's own descriptors. Its
// calls run on the workers (worker/). It serves the HTTP/2 connections the workers accept
// on the shared port in one of two ways (--grpc-server):
// - grpc++: a grpc::Server takes them (Http2Handoff) and runs its own threads; it may
//   also listen on a port of its own (--grpc-listen). With --tls-cert, gRPC does the
//   handshake of the connections handed to it.
// - workers: each worker serves them itself (http2_session.h, nghttp2), calls and all.
//
// Usage:
//   auto front = GrpcFront::Start(settings, routes, descriptors, *workers, tls);
//   http::RestFront rest(settings, routes, tls_context);
//   workers->Run(rest, (*front)->http2(), tls);  // HTTP/2 connections now reach gRPC
//   ...
//   (*front)->Drain(absl::Seconds(30));   // on SIGTERM
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>

#include "absl/status/statusor.h"
#include "config/settings.h"
#include "net/server_tls.h"
#include "route/descriptors.h"
#include "route/route_table.h"
#include "worker/front.h"

namespace oa::grpc_front {

class GrpcFront final : public worker::Http2Handoff, public worker::ConnectionFront {
 public:
  // Everything passed in outlives the front. `tls`, when set, is the certificate that
  // the HTTP/2 connections and --grpc-listen use: they then speak TLS only.
  static absl::StatusOr<std::unique_ptr<GrpcFront>> Start(const config::Settings& settings,
                                                          const route::RouteTable& routes,
                                                          const route::Descriptors& descriptors,
                                                          worker::WorkerSource& workers,
                                                          net::ServerTls* tls);
  ~GrpcFront() override;

  // What the workers give HTTP/2 connections to.
  worker::Http2Front http2();

  void Adopt(int listener_fd, int fd, std::string_view already_read) override;
  std::unique_ptr<worker::ConnectionServer> ForWorker(const worker::WorkerHandle& worker,
                                                      const std::atomic<bool>& ready) override;

  // The port of --grpc-listen, or 0 when there is none.
  int port() const { return port_; }

  // What grpc.health.v1.Health answers for every service: SERVING or NOT_SERVING.
  void SetServing(bool serving);

  // Waits until no call is under way (new calls on open connections are still taken)
  // or `timeout` passed, then shuts down: calls left are cancelled, connections closed.
  // Blocks; the workers must still be running, since the calls run on them.
  void Drain(absl::Duration timeout);

 private:
  // Stops taking calls; calls still running after `grace` are cancelled. Blocks until
  // every call has ended, so the workers must still be running. (An idle client
  // connection holds this until `grace` passes: Drain() does not wait for those.)
  void Shutdown(absl::Duration grace);

  class Service;
  GrpcFront();

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<grpc::Server> server_;  // none when the workers serve HTTP/2
  net::ServerTls* tls_ = nullptr;
  int port_ = 0;
};

}  // namespace oa::grpc_front
