// Relays one HTTP exchange between a front connection and the upstream, streaming both
// bodies in pieces: nothing is held whole, and nothing is parsed beyond HTTP framing
// (DESIGN.md, invariants 2 and 3).
//
// Usage (from a front session that has read a request's header):
//   Relay relay(pool, limits);
//   RelayOutcome out = co_await relay.Run(client, client_buffer, parser, client_deadline,
//                                         [&](auto& fields) { cors.Decorate(origin, fields); });
//   if (out.failure) { /* nothing was sent: answer with an error of the gateway's own */ }
//
// What it guarantees:
// - Request: method, target (re-based onto the upstream URL), end-to-end headers and body
//   bytes arrive unchanged; the body keeps its framing (Content-Length or chunked).
// - Response: status, reason, end-to-end headers and body bytes come back unchanged, each
//   piece written to the client as soon as it is read (SSE stays live; compressed bodies
//   stay compressed). A slow client stalls the upstream read (backpressure).
// - A pooled connection that fails before any answer arrived is retried once on a new
//   connection, when every body byte consumed so far could be kept for the replay.
// - If the client goes away once its request is sent, the upstream connection is closed
//   at once. If the upstream fails mid-answer, the client connection is closed without
//   ending the body properly, so the client sees a cut, never a clean end.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "net/deadline.h"
#include "net/stream.h"
#include "upstream/pool.h"

namespace oa::upstream {

using ClientParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
using HeaderDecorator = absl::FunctionRef<void(boost::beast::http::fields&)>;

struct RelayLimits {
  absl::Duration first_byte_timeout = absl::Seconds(600);
  absl::Duration idle_timeout = absl::Seconds(300);
  absl::Duration client_io_timeout = absl::Seconds(300);
  size_t piece_bytes = 16 * 1024;     // largest piece moved per read
  size_t replay_bytes = 1024 * 1024;  // request body kept for one retry
  uint32_t response_header_bytes = 64 * 1024;
};

struct RelayOutcome {
  // Set when the gateway must answer the client itself; nothing was written to it yet.
  // UNAVAILABLE / DEADLINE_EXCEEDED: the upstream failed (502 / 504).
  // RESOURCE_EXHAUSTED: the request body passed the parser's limit (413).
  // INVALID_ARGUMENT: the request body's framing was broken (400).
  std::optional<absl::Status> failure;
  int status = 0;                                     // the upstream's status, once relayed
  std::string request_id;                             // the upstream's x-request-id
  uint64_t request_body_bytes = 0;                    // read from the client
  uint64_t response_body_bytes = 0;                   // written to the client
  std::optional<absl::Duration> upstream_first_byte;  // request start to response header
  bool client_gone = false;      // the client left before the answer was complete
  bool upstream_cut = false;     // the upstream failed after the answer had started
  bool client_reusable = false;  // the client connection may carry another request
  bool retried = false;          // a pooled connection failed and a new one was used
};

// True for a message that broke HTTP's rules, as opposed to a connection that ended
// or failed before the message did.
bool IsMalformedMessage(const net::error_code& ec);

class Relay {
 public:
  // `pool` belongs to the calling worker and outlives the call.
  Relay(Pool& pool, const RelayLimits& limits) : pool_(pool), limits_(limits) {}

  // REQUIRES: `request` holds a complete header whose target starts with /v1; `client`,
  // `client_buffer`, `request` and `client_deadline` outlive the call. `client_deadline`
  // is the session's watched deadline for client I/O: the relay sets it around each read
  // from and write to the client, and clears it while it waits for the upstream.
  net::asio::awaitable<RelayOutcome> Run(net::Stream& client,
                                         boost::beast::flat_buffer& client_buffer,
                                         ClientParser& request, net::Deadline& client_deadline,
                                         HeaderDecorator decorate);

 private:
  Pool& pool_;
  const RelayLimits& limits_;
};

}  // namespace oa::upstream
