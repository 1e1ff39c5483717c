// One gRPC call on the gRPC front, from request message to status: the generic handler's
// per-call object (DESIGN.md: no per-method C++; the route table and the transcoder know
// every method).
//
//   request bytes --(descriptor)--> message --(http rule)--> HTTP request
//        --(Forwarder, on a worker)--> upstream --> JSON | SSE events | bytes
//        --> response message(s) --> status (HTTP status mapped, OpenAI's error text)
//
// The call is written against its transport (transport.h), whichever server carries it.
// The upstream exchange runs on one of the gateway's workers (worker/: its pool, its
// thread); the transport meets it there through the CallState's notifications.
#pragma once

#include <google/protobuf/dynamic_message.h>

#include <atomic>
#include <memory>
#include <string_view>

#include "call/errors.h"
#include "config/settings.h"
#include "grpc/transport.h"
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

struct CallState;

// Starts the call of `state` once its transport has read the first message (`got`: false
// when the client sent none): transcodes it and runs the call on state->worker, or ends
// the call at once when it cannot be made. Any thread.
void BeginCall(const std::shared_ptr<CallState>& state, bool got);

// The address in a grpc++ peer string: "ipv4:10.0.0.7:5000" -> "10.0.0.7",
// "ipv6:[::1]:5000" (or with the brackets percent-encoded) -> "::1".
std::string PeerAddress(std::string_view peer);

// Ends `transport`'s call to a method the gateway does not serve (`error`), and records it.
void RefuseUnknown(CallTransport& transport, std::string_view peer, std::string_view key,
                   std::string_view method, const call::CallError& error);

}  // namespace oa::grpc_front
