// The REST front's listeners and workers. Each worker is one thread with its own
// io_context, its own acceptor on the shared port (SO_REUSEPORT: the kernel spreads
// connections) and its own upstream pool, so a request's path takes no lock.
//
// Usage:
//   absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(settings, routes);
//   ... (*server)->port() ...
//   (*server)->Stop();   // from any thread
//   (*server)->Join();
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "config/settings.h"
#include "route/route_table.h"

namespace oa::http {

class Server {
 public:
  // Binds every worker's acceptor, then starts their threads. `settings` and `routes`
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const config::Settings& settings,
                                                       const route::RouteTable& routes);
  ~Server();

  uint16_t port() const { return port_; }
  int workers() const { return static_cast<int>(workers_.size()); }

  // Stops accepting and ends every connection. Safe from any thread, including a
  // signal-handling one; returns at once.
  void Stop();
  void Join();

 private:
  struct Worker;
  Server();

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

}  // namespace oa::http
