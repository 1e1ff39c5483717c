// What one gRPC call's two sides share: the server that carries it (transport.h), and
// the coroutine that runs the call on a worker (call.cc); and the status helpers both use.
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "call/errors.h"
#include "grpc/call.h"
#include "grpc/transport.h"
#include "net/notification.h"

namespace oa::grpc_front {

// What a transport and the code that serves its call on a worker share: the transport,
// and its completions (transport.h). Owned jointly by the transport (which may run on
// another thread: grpc++'s) and the coroutine (the worker), so whichever finishes last
// frees it.
struct CallSignals {
  CallSignals(CallTransport* t, worker::WorkerHandle w)
      : transport(t),
        worker(std::move(w)),
        write_done(worker.executor),
        read_done(worker.executor),
        cancelled(worker.executor, /*sticky=*/true) {}

  CallTransport* transport;  // valid until its Finish is called
  // What keeps the transport alive until then, when its server does not (grpc++ keeps
  // its reactors itself; an HTTP/2 stream may close before its call ends).
  std::shared_ptr<void> transport_keeper;
  worker::WorkerHandle worker;

  bool write_ok = false;
  net::Notification write_done;
  bool read_ok = false;  // a later message arrived (false: no more)
  net::Notification read_done;
  net::Notification cancelled;
  // Runs once when the call is cancelled, while set (GrpcDownstream::StartWatching: the
  // Forwarder's way to end an upstream exchange at once). The worker's thread only.
  std::function<void()> on_cancel;

  // The transport calls this when the client cancels or its deadline passes.
  void Cancel() {
    cancelled.Notify();
    if (on_cancel) std::exchange(on_cancel, nullptr)();
  }

  // Sends `message` and waits until it went, if the transport did not take it at once:
  // false once the call is gone.
  net::asio::awaitable<bool> Write(std::string message);
};

// Everything one call of the route table shares between its transport and the worker.
struct CallState : CallSignals {
  CallState(CallTransport* t, const route::Route& r, CallContext& cc, worker::WorkerHandle w)
      : CallSignals(t, std::move(w)), route(r), context(cc) {}

  const route::Route& route;
  CallContext& context;

  // Read once, from the reactor, before the call moves to the worker.
  std::string authorization;
  std::vector<std::pair<std::string, std::string>> forwarded;
  std::string peer;          // as grpc++ writes it: "ipv4:10.0.0.7:5000"
  std::string peer_address;  // "10.0.0.7"
  net::Clock::time_point start = net::Clock::now();

  // Takes `bytes` of the front's budget for request bodies, until ReleaseBuffered or the
  // end of the call; false (nothing taken) when they would pass it.
  bool HoldBuffered(uint64_t bytes) {
    uint64_t held = context.buffered_bytes.load(std::memory_order_relaxed);
    do {
      if (held + bytes > context.settings.grpc_max_buffered_bytes) return false;
    } while (!context.buffered_bytes.compare_exchange_weak(held, held + bytes,
                                                           std::memory_order_relaxed));
    buffered += bytes;
    return true;
  }
  // Gives the budget back. Called before the status goes, so that a client which has its
  // answer finds the budget as it left it (the state itself lives until gRPC is done).
  void ReleaseBuffered() {
    context.buffered_bytes.fetch_sub(std::exchange(buffered, 0), std::memory_order_relaxed);
  }
  ~CallState() { ReleaseBuffered(); }
  uint64_t buffered = 0;  // of the budget, held by this call
};

// The status of a call its client ended: by its deadline, or by cancelling it.
grpc::Status Gone(const CallTransport& call);

// A status of the gateway's own, code for code.
grpc::Status ToGrpc(const absl::Status& status);

// The upstream's error answer: its status mapped (call/errors.h), and OpenAI's error
// whole, with its HTTP status, as trailing metadata (openai-http-status, openai-error-bin).
grpc::Status UpstreamErrorStatus(CallTransport& call, int http_status, const std::string& body);

// An error of call/errors.h as a status; a caller told when to try again gets Retry-After
// (seconds) as trailing metadata, as a REST caller gets the header.
grpc::Status ToGrpc(CallTransport& call, const call::CallError& error);

}  // namespace oa::grpc_front
