// The REST front as the workers see it (worker/front.h): each worker's part serves the
// HTTP/1 connections that worker accepts, one session each (session.h).
//
// Usage:
//   RestFront rest(settings, routes, tls);  // outlives the workers
//   workers->Run(rest, grpc_front, tls != nullptr);
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
  RestFront(const config::Settings& settings, const route::RouteTable& routes,
            net::asio::ssl::context* tls);

  std::unique_ptr<worker::ConnectionServer> ForWorker(const worker::WorkerHandle& worker,
                                                      const std::atomic<bool>& ready) override;

 private:
  const config::Settings& settings_;
  const route::RouteTable& routes_;
  const Cors cors_;
  net::asio::ssl::context* const tls_;
};

}  // namespace oa::http
