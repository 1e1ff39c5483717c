// The REST front's listeners and workers. Each worker is one thread with its own
// io_context, its own acceptor on the shared port (SO_REUSEPORT: the kernel spreads
// connections) and its own upstream pool, so a request's path takes no lock.
//
// The gRPC front runs its calls on these workers too (WorkerSource), and the REST front
// hands it the connections of gRPC clients (Http2Handoff), so both protocols share one
// port, in plaintext or TLS.
//
// Usage:
//   auto server = Server::Create(settings, routes, admission, tls);
//   ... (*server)->port() ...             // bound, not yet serving
//   (*server)->Run(grpc_front);           // serving; grpc_front may be nullptr
//   (*server)->Stop();                    // from any thread
//   (*server)->Join();
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "config/settings.h"
#include "limits/admission.h"
#include "net/asio.h"
#include "net/delay_queue.h"
#include "route/route_table.h"
#include "upstream/forwarder.h"
#include "upstream/pool.h"

namespace oa::http {

// What a call needs from the worker that runs it. Everything here is used on the
// worker's thread only: post to `executor` to get there.
struct WorkerHandle {
  net::asio::any_io_executor executor;
  upstream::Pool& pool;
  const upstream::ForwardLimits& limits;
  net::DelayQueue& caller_watches;
  limits::WorkerAdmission& admission;
};

class WorkerSource {
 public:
  virtual ~WorkerSource() = default;
  // The worker for the next call, taken in turn. Thread-safe.
  virtual WorkerHandle NextWorker() = 0;
};

// Takes over the connection of a gRPC client: one whose first bytes were the HTTP/2
// client preface or, when the port speaks TLS, a ClientHello that offers only HTTP/2.
class Http2Handoff {
 public:
  virtual ~Http2Handoff() = default;
  // `fd` is now the callee's; `already_read` are the bytes read from it so far (with
  // TLS, the ClientHello: the callee does the handshake).
  // Thread-safe.
  virtual void Adopt(int listener_fd, int fd, std::string_view already_read) = 0;
};

class Server final : public WorkerSource {
 public:
  // Binds every worker's acceptor. What is passed in outlives the server; `tls` may be
  // null, and when set the port speaks TLS only.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const config::Settings& settings,
                                                        const route::RouteTable& routes,
                                                        limits::Admission& admission,
                                                        net::asio::ssl::context* tls);
  ~Server() override;

  // Starts the workers' threads. `http2`, when set, outlives the server.
  void Run(Http2Handoff* http2);

  WorkerHandle NextWorker() override;

  uint16_t port() const { return port_; }
  int workers() const { return static_cast<int>(workers_.size()); }

  // What GET /ready answers: 200 while true, 503 once false. Any thread.
  void SetReady(bool ready);

  // Stops accepting; connections waiting for a request close at once, the others after
  // the answer under way (with Connection: close). Returns when none is left or after
  // `timeout`. Any thread; the workers keep running (gRPC calls on them too).
  void Drain(absl::Duration timeout);

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
  std::atomic<size_t> next_worker_{0};
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

}  // namespace oa::http
