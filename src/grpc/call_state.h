// What one gRPC call's two sides share: the reactor, on gRPC's threads, and the
// coroutine that runs the call on a worker (call.cc); and the status helpers both use.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "call/errors.h"
#include "grpc/call.h"
#include "grpc/ordered_reactor.h"
#include "net/notification.h"

namespace oa::grpc_front {

// Everything one call's two sides share. Owned jointly by the reactor (gRPC's threads)
// and the coroutine (the worker), so whichever finishes last frees it.
struct CallState {
  CallState(grpc::GenericCallbackServerContext* c, const route::Route& r, CallContext& cc,
            worker::WorkerHandle w)
      : ctx(c),
        route(r),
        context(cc),
        worker(std::move(w)),
        write_done(worker.executor),
        read_done(worker.executor),
        cancelled(worker.executor, /*sticky=*/true) {}

  grpc::GenericCallbackServerContext* ctx;
  const route::Route& route;
  CallContext& context;
  worker::WorkerHandle worker;
  OrderedReactor* reactor = nullptr;  // valid until Finish is called

  grpc::ByteBuffer request_buffer;
  grpc::ByteBuffer response_buffer;  // the one write in flight
  bool write_ok = false;
  net::Notification write_done;
  bool read_ok = false;  // client-streaming: a later message arrived (false: no more)
  net::Notification read_done;
  net::Notification cancelled;

  // Read once, from the reactor, before the call moves to the worker.
  std::string authorization;
  std::vector<std::pair<std::string, std::string>> forwarded;
  std::string peer;          // as gRPC gives it: "ipv4:10.0.0.7:5000"
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
grpc::Status Gone(const grpc::ServerContextBase& ctx);

// A status of the gateway's own, code for code.
grpc::Status ToGrpc(const absl::Status& status);

// The upstream's error answer: its status mapped (call/errors.h), and OpenAI's error
// whole, with its HTTP status, as trailing metadata (openai-http-status, openai-error-bin).
grpc::Status UpstreamErrorStatus(grpc::GenericCallbackServerContext& ctx, int http_status,
                                 const std::string& body);

// An error of call/errors.h as a status; a caller told when to try again gets Retry-After
// (seconds) as trailing metadata, as a REST caller gets the header.
grpc::Status ToGrpc(grpc::GenericCallbackServerContext& ctx, const call::CallError& error);

}  // namespace oa::grpc_front
