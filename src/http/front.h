// The REST front as the workers see it (worker/front.h): each worker's part serves the
// connections that worker accepts, one session each (session.h), and hands those of gRPC
// clients to the Http2Handoff it was given.
//
// Usage:
//   RestFront rest(settings, routes, tls, grpc_front);  // outlives the workers
//   workers->Run(rest);
#pragma once

#include <memory>

#include "config/settings.h"
#include "http/cors.h"
#include "net/asio.h"
#include "route/route_table.h"
#include "worker/front.h"

namespace oa::http {

class RestFront final : public worker::ConnectionFront {
 public:
  // What is passed in outlives the front. `tls`: set when the port speaks TLS only.
  // `http2` takes the connections of gRPC clients; nullptr: none.
  RestFront(const config::Settings& settings, const route::RouteTable& routes,
            net::asio::ssl::context* tls, worker::Http2Handoff* http2);

  std::unique_ptr<worker::ConnectionServer> ForWorker(const worker::WorkerHandle& worker,
                                                      int listener_fd,
                                                      const std::atomic<bool>& ready) override;

 private:
  const config::Settings& settings_;
  const route::RouteTable& routes_;
  const Cors cors_;
  net::asio::ssl::context* const tls_;
  worker::Http2Handoff* const http2_;
};

}  // namespace oa::http
