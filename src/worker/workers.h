// The gateway's workers. Each is one thread with its own io_context, its own acceptor on
// the shared port (SO_REUSEPORT: the kernel spreads connections), its own upstream pool
// and its own share of admission, so a call's path takes no lock. What a worker accepts
// goes to the front for its protocol, told by its first bytes (first_bytes.h): HTTP/1 to
// a ConnectionFront (REST), HTTP/2 to an Http2Handoff (gRPC). Calls that arrive on other
// threads (gRPC's) take a worker in turn (WorkerSource).
//
// Usage:
//   auto workers = Workers::Create(settings, admission);
//   ... (*workers)->port() ...             // bound, not yet serving
//   (*workers)->Run(rest_front, grpc_front, tls);  // serving
//   (*workers)->Stop();                    // from any thread
//   (*workers)->Join();
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/settings.h"
#include "limits/admission.h"
#include "worker/front.h"

namespace oa::worker {

class Workers final : public WorkerSource {
 public:
  // Binds every worker's acceptor. What is passed in outlives the workers.
  static absl::StatusOr<std::unique_ptr<Workers>> Create(const config::Settings& settings,
                                                         limits::Admission& admission);
  ~Workers() override;

  // Starts the workers' threads. What they accept goes to `http1`, or to `http2` if set
  // (then the port speaks HTTP/1 and HTTP/2 alike); both outlive the workers. `tls`: the
  // port speaks TLS only (the first bytes are a ClientHello).
  void Run(ConnectionFront& http1, Http2Front http2, bool tls);

  WorkerHandle NextWorker() override;

  uint16_t port() const { return port_; }
  // The port of --grpc-listen when the workers serve it (--grpc-server=workers), else 0.
  uint16_t grpc_port() const { return grpc_port_; }
  int count() const { return static_cast<int>(workers_.size()); }

  // What the front reads as readiness (REST: GET /ready): true until set false. Any thread.
  void SetReady(bool ready);

  // Stops accepting; the front closes connections waiting for a request at once, the
  // others after the answer under way. Returns when none is left or after `timeout`.
  // Any thread; the workers keep running (gRPC calls on them too).
  void Drain(absl::Duration timeout);

  // Stops accepting and ends every connection. Safe from any thread, including a
  // signal-handling one; returns at once.
  void Stop();
  void Join();

 private:
  struct Worker;
  struct Shared;
  Workers();

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  uint16_t grpc_port_ = 0;
  std::atomic<size_t> next_worker_{0};
  std::unique_ptr<Shared> shared_;
};

}  // namespace oa::worker
