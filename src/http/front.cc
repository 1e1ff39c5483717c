#include "http/front.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http/session.h"

namespace oa::http {
namespace {

namespace asio = net::asio;

class WorkerPart final : public worker::ConnectionServer {
 public:
  WorkerPart(const config::Settings& settings, const route::RouteTable& routes, const Cors& cors,
             asio::ssl::context* tls, const worker::WorkerHandle& worker,
             const std::atomic<bool>& ready)
      : executor_(worker.executor),
        context_{settings,     routes, cors, static_cast<const call::Resources&>(worker),
                 connections_, &ready, tls} {}

  void Serve(net::tcp::socket socket, std::string already_read) override {
    asio::co_spawn(executor_, ServeConnection(std::move(socket), context_, std::move(already_read)),
                   asio::detached);
  }
  void BeginDrain() override { connections_.BeginDrain(); }
  size_t open_connections() const override { return connections_.count(); }

 private:
  asio::any_io_executor executor_;
  // Before context_, which refers to it; sessions remove themselves as they end.
  Connections connections_;
  FrontContext context_;
};

}  // namespace

RestFront::RestFront(const config::Settings& settings, const route::RouteTable& routes,
                     net::asio::ssl::context* tls)
    : settings_(settings), routes_(routes), cors_(settings.cors_origins), tls_(tls) {}

std::unique_ptr<worker::ConnectionServer> RestFront::ForWorker(const worker::WorkerHandle& worker,
                                                               const std::atomic<bool>& ready) {
  return std::make_unique<WorkerPart>(settings_, routes_, cors_, tls_, worker, ready);
}

}  // namespace oa::http
