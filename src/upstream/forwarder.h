// The one way to the upstream (DESIGN.md): forwards one HTTP exchange between a caller
// and the upstream, streaming both bodies in pieces. Both fronts use it; each supplies a
// Downstream, the caller's side of the exchange: the REST front relays a client
// connection byte for byte, the gRPC front a request it transcoded.
//
// Usage:
//   ClientDownstream caller(...);              // implements Downstream
//   Forwarder forwarder(pool, limits, caller_watches);  // all three the worker's
//   ForwardOutcome out = co_await forwarder.Run(caller);
//   if (out.failure) { /* nothing reached the caller: answer with an error of our own */ }
//
// What it guarantees:
// - The request's head and body pieces reach the upstream as the Downstream gives them,
//   and the answer's head and body pieces reach the Downstream as they are read (SSE
//   stays live). A caller that is slow to take a piece stalls the upstream read.
// - A pooled connection that fails before any answer arrived is retried once on a new
//   connection, when every body byte sent so far could be kept for the replay.
// - A connection carries one exchange at a time, and goes back to the pool only when its
//   answer ended cleanly with nothing after it (pool.h says how idle ones are watched).
// - If the caller goes away once its request is sent, the upstream connection is closed
//   at once, or, while the upstream is still within `caller_watches`' delay, when that
//   delay is over (the caller is watched only from then on). If the upstream fails
//   mid-answer, the Downstream is told to Cut().
// - Connect, first-byte and idle timeouts bound every wait on the upstream.
// - A request that asks to switch protocols (a WebSocket upgrade) is an exchange like any
//   other until the upstream's answer; a 101 then hands the connection to the Downstream
//   for the rest of its life.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/asio.h"
#include "net/delay_queue.h"
#include "net/http1_parser.h"
#include "upstream/pool.h"
#include "upstream/wire.h"

namespace oa::upstream {

struct ForwardLimits {
  absl::Duration first_byte_timeout = absl::Seconds(600);
  absl::Duration idle_timeout = absl::Seconds(300);
  // Bodies move in pieces that start small and grow while reads fill them, up to this.
  size_t piece_bytes = size_t{64} * 1024;
  size_t replay_bytes = size_t{1024} * 1024;  // request body kept for one retry
  uint32_t response_header_bytes = 64 * 1024;
};

// The upstream request's body framing, as the Downstream gives it.
struct RequestStart {
  std::optional<uint64_t> content_length;  // a body of this many bytes,
  bool chunked = false;                    // or a body in chunks; neither: no body
  bool head_method = false;                // a HEAD request, whose answer has no body
  // The protocol the caller asks to switch to (an Upgrade value: "websocket"), or empty.
  // The Forwarder sends it with Connection: Upgrade, and accepts a 101 answer only then.
  std::string_view upgrade;
};

// The start of the upstream's answer, as the Downstream needs it to frame its own.
struct ResponseStart {
  const net::MessageHead& head;
  std::optional<uint64_t> content_length;  // declared by the upstream
  bool body_follows = false;               // body bytes are still to be read
  bool request_sent = false;               // the upstream took the whole request
  // Body bytes arrived with the head: the head may wait to go out with the first piece,
  // in one write. Without them the head goes at once (a stream's client sees it early).
  bool body_at_hand = false;
};

// The caller's side of one exchange. Called from one coroutine, on the worker's thread.
class Downstream {
 public:
  virtual ~Downstream() = default;

  // Starts `head` with the upstream request's line (WireHead::RequestLine) and adds its
  // end-to-end headers; the Forwarder then adds Host and the framing returned here.
  virtual RequestStart PrepareRequest(WireHead& head) = 0;
  // Once, before the first attempt (the REST front answers 100-continue here). False:
  // the caller is gone.
  virtual net::asio::awaitable<bool> BeforeSend() = 0;
  virtual bool RequestBodyDone() const = 0;
  // True when the next ReadRequestBody() need not wait for the caller (its bytes are
  // here already). While they are not, the request's head goes to the upstream alone.
  virtual bool RequestBodyAtHand() const = 0;
  // The next piece of the request body, copied into `piece` (at most `size` bytes).
  // Errors: CANCELLED when the caller went away; any other status is the caller's fault
  // (RESOURCE_EXHAUSTED: too large, INVALID_ARGUMENT: broken framing, DEADLINE_EXCEEDED:
  // too slow).
  virtual net::asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece,
                                                                       size_t size) = 0;
  // The answer's head, then its body in pieces (`more` false on the last). False: the
  // caller is gone.
  virtual net::asio::awaitable<bool> WriteHead(const ResponseStart& start) = 0;
  virtual net::asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) = 0;
  // Watches for a caller that goes away while the upstream is awaited: `on_gone` runs
  // once, on the worker's thread, if the caller leaves before StopWatching() is called.
  // Writes to the caller may go on meanwhile. Every StartWatching() is followed by an
  // awaited StopWatching(), after which the watch touches nothing of the caller's.
  virtual void StartWatching(std::function<void()> on_gone) = 0;
  virtual net::asio::awaitable<void> StopWatching() = 0;
  // The answer started but cannot finish: the caller must see a cut, not a clean end.
  virtual void Cut() = 0;
  // The upstream switched protocols (101) as PrepareRequest asked (RequestStart::upgrade;
  // never called otherwise, hence the empty default). The exchange goes on over
  // `upstream`, whose buffer may already hold the new protocol's first bytes, until this
  // returns; the connection is closed then, never pooled, unless the Downstream moved it
  // out to keep it past the call (the REST front's relay does, so that the session holds
  // nothing of the exchange). No deadline of the Forwarder's runs meanwhile: the
  // Downstream bounds its own waits.
  virtual net::asio::awaitable<void> Switched(const ResponseStart& start,
                                              std::unique_ptr<Connection>& upstream);
};

struct ForwardOutcome {
  // Set when the front must answer the caller itself; nothing was written to it yet.
  // The caller's request body was refused (caller_failed): RESOURCE_EXHAUSTED too large
  // (413), INVALID_ARGUMENT broken framing (400), DEADLINE_EXCEEDED too slow (408).
  // Else the way to the upstream failed: UNAVAILABLE (502), DEADLINE_EXCEEDED (504), or
  // RESOURCE_EXHAUSTED when the worker's upstream connections are all in use (503).
  std::optional<absl::Status> failure;
  bool caller_failed = false;
  int status = 0;                                     // the upstream's status, once relayed
  std::string request_id;                             // the upstream's x-request-id
  uint64_t request_body_bytes = 0;                    // taken from the caller
  uint64_t response_body_bytes = 0;                   // given to the caller
  std::optional<absl::Duration> upstream_first_byte;  // request start to response header
  bool client_gone = false;   // the caller left before the answer was complete
  bool upstream_cut = false;  // the upstream failed after the answer had started
  bool retried = false;       // a pooled connection failed and a new one was used
  bool switched = false;      // the upstream switched protocols (Downstream::Switched)
};

// True for a message that broke HTTP's rules, as opposed to a connection that ended
// or failed before the message did.
bool IsMalformedMessage(const net::error_code& ec);

class Forwarder {
 public:
  // `pool` and `caller_watches` belong to the calling worker and outlive the call.
  Forwarder(Pool& pool, const ForwardLimits& limits, net::DelayQueue& caller_watches)
      : pool_(pool), limits_(limits), caller_watches_(caller_watches) {}

  // REQUIRES: runs on the pool's worker; `downstream` outlives the call.
  net::asio::awaitable<ForwardOutcome> Run(Downstream& downstream);

 private:
  Pool& pool_;
  const ForwardLimits& limits_;
  net::DelayQueue& caller_watches_;
};

}  // namespace oa::upstream
