// One call's life on a worker, the same whichever front it came by:
//
//   admit (key, allow-list, limits) -> forward (upstream/forwarder.h) -> record
//
// A front turns its protocol into a Downstream and an Identity, and its answers back
// into its protocol; everything between is here. What happens to a header is decided by
// call/headers.h, what the gateway answers itself by call/errors.h.
//
//   call::Call call(worker, {observe::Front::kRest, peer, address, "POST", target, rpc,
//                            authorization, request_id});
//   if (call.MustAdmit())
//     if (std::optional<CallError> refused = co_await call.Admit()) { answer it; record }
//   upstream::ForwardOutcome out = co_await call.Forward(downstream);
//   call.Record(call::Ending::Http(out.status, 0, &out));
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "call/errors.h"
#include "limits/admission.h"
#include "net/asio.h"
#include "net/delay_queue.h"
#include "observe/access_log.h"
#include "observe/front.h"
#include "upstream/forwarder.h"
#include "upstream/pool.h"

namespace oa::call {

// What a call uses of the worker that runs it (worker/ owns them), on that worker's
// thread only.
struct Resources {
  upstream::Pool& pool;
  const upstream::ForwardLimits& limits;
  net::DelayQueue& caller_watches;  // the Forwarder's
  limits::WorkerAdmission& admission;
  bool websockets = true;  // --websocket: WebSocket sessions may be opened upstream
};

// Who calls what, as the front read it. Views: what they point at outlives the Call,
// unless the Call keeps its own copy (Call::KeepIdentity).
struct Identity {
  observe::Front front = observe::Front::kRest;
  std::string_view client;          // the peer as the access line shows it
  std::string_view client_address;  // its address alone: the limits' "client" scope
  std::string_view method;          // the HTTP method of the call
  std::string_view target;          // its path, the query cut off when logged
  std::string_view rpc;             // "pkg.Service/Method", "unmodelled" or "-"
  std::string_view authorization;   // the caller's Authorization value; only hashed
  std::string_view client_request_id;
  bool websocket = false;  // a WebSocket session: a REST upgrade or a gRPC Connect RPC
};

// How a call ended, for its record.
struct Ending {
  int http_status = 0;             // REST: the status sent; gRPC: the upstream's (0: none)
  std::optional<int> grpc_status;  // gRPC: the status code sent
  uint64_t own_bytes_out = 0;      // the body of an answer the gateway made itself
  const upstream::ForwardOutcome* exchange = nullptr;  // when the call reached the forwarder
  const observe::WebSocketTally* websocket = nullptr;  // when it became a WebSocket session

  // A call answered with an HTTP status: by the upstream through `exchange`, or by the
  // gateway itself with a body of `own_bytes_out`.
  static Ending Http(int status, uint64_t own_bytes_out,
                     const upstream::ForwardOutcome* exchange = nullptr) {
    return {status, std::nullopt, own_bytes_out, exchange, nullptr};
  }
  // A call that ended with gRPC status `code`, the upstream having answered
  // `upstream_status` (0: no answer) through `exchange`.
  static Ending Grpc(int code, int upstream_status = 0,
                     const upstream::ForwardOutcome* exchange = nullptr) {
    return {upstream_status, code, 0, exchange, nullptr};
  }
};

// Counts the call in the metrics and writes its access line (observe/access_log.h).
void RecordCall(const Identity& who, absl::Duration elapsed, const Ending& ending);

class Call {
 public:
  Call(const Resources& on, const Identity& who, net::Clock::time_point start = net::Clock::now())
      : on_(on), who_(who), start_(start) {}

  const Identity& who() const { return who_; }

  // Copies what who()'s views point at into the call, so that it may outlive what its
  // front read and move elsewhere: a WebSocket session's call, once the upgrade is over,
  // lives on in its relay (http/websocket_relay.h).
  void KeepIdentity();

  // False when Admit() would admit the call at once: it has a key, is no WebSocket
  // session, and no allow-list or limit is set (the fast path skips the coroutine).
  bool MustAdmit() const {
    return who_.authorization.empty() || who_.websocket || on_.admission.enabled();
  }

  // --websocket=off for a WebSocket session, then the key, the allow-list and the limits:
  // nullopt when the call may go on, which then holds its places in the limits until the
  // Call ends; else the refusal to answer.
  // REQUIRES: on the worker's thread.
  net::asio::awaitable<std::optional<CallError>> Admit();

  // The exchange with the upstream. Not a coroutine of its own: the forwarder's is the
  // only frame. REQUIRES: admitted; on the worker's thread; `downstream` outlives it.
  net::asio::awaitable<upstream::ForwardOutcome> Forward(upstream::Downstream& downstream) {
    return forwarder_.Run(downstream);
  }

  // Once, when the call's answer is out (or the caller gone). Any thread.
  void Record(const Ending& ending) const {
    RecordCall(who_, absl::FromChrono(net::Clock::now() - start_), ending);
  }

 private:
  const Resources& on_;
  Identity who_;
  std::unique_ptr<char[]> kept_;  // what who_ points at, after KeepIdentity()
  net::Clock::time_point start_;
  limits::Verdict verdict_;  // its lease holds the call's places in the limits
  upstream::Forwarder forwarder_{on_.pool, on_.limits, on_.caller_watches};
};

}  // namespace oa::call
