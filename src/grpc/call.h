// One gRPC call on the gRPC front, from request message to status: the generic handler's
// per-call object (DESIGN.md: no per-method C++; the route table and the transcoder know
// every method).
//
//   request bytes --(descriptor)--> message --(http rule)--> HTTP request
//        --(Forwarder, on a worker)--> upstream --> JSON | SSE events | bytes
//        --> response message(s) --> status (HTTP status mapped, OpenAI's error text)
//
// gRPC's threads call the reactor; the upstream exchange runs on one of the gateway's
// workers (worker/: its pool, its thread); the two meet through notifications posted to
// that worker.
#pragma once

#include <google/protobuf/dynamic_message.h>
#include <grpcpp/generic/async_generic_service.h>

#include <atomic>

#include "call/errors.h"
#include "config/settings.h"
#include "route/route_table.h"
#include "worker/front.h"

namespace oa::grpc_front {

// What every call reads; immutable once the front has started.
struct CallContext {
  const config::Settings& settings;
  const route::RouteTable& routes;
  worker::WorkerSource& workers;
  google::protobuf::DynamicMessageFactory& messages;  // thread-safe
  // The largest request message, once inflated: --grpc-max-message-bytes, and no more
  // than a request body may be (--max-body-bytes).
  uint64_t max_message_bytes;
  std::atomic<int> active_calls{0};  // reactors not yet done
  // Bytes of transcoded request bodies held by calls under way (--grpc-max-buffered-bytes):
  // a call holds its body whole, and a message of control characters comes six times its
  // size as JSON, so without a bound a few kilobytes of gzip held gigabytes.
  std::atomic<uint64_t> buffered_bytes{0};
};

// A reactor serving `route` for the call `ctx`. It deletes itself when the call is done.
grpc::ServerGenericBidiReactor* NewCallReactor(grpc::GenericCallbackServerContext* ctx,
                                               const route::Route& route, CallContext& context);

// A reactor that ends the call `ctx` at once with `error` (and logs it).
grpc::ServerGenericBidiReactor* NewFailedReactor(grpc::GenericCallbackServerContext* ctx,
                                                 const call::CallError& error);

}  // namespace oa::grpc_front
