// The REST front's WebSocket relay: once the upstream has switched protocols (101) and
// its answer is out to the client, the bytes of the session pass both ways unchanged, so
// that ping/pong, fragmentation, permessage-deflate and frame sizes stay end to end. The
// relay reads frame headers only: it counts frames, notes the first Close frame's code,
// and knows where frames begin, so that it can end a session cleanly.
//
//   WebSocketRelay::Start({std::move(client_stream), std::move(client_buffer),
//                          std::move(upstream_connection)},
//                         std::move(call), std::move(handshake_outcome), context);
//
// The relay takes the session's two connections and its call from the front, which is
// then done with the client connection: a session, long and mostly quiet, holds the two
// connections, the relay's state and the call's record, and nothing of the HTTP exchange
// that opened it (bench/README.md, memory per socket). It owns itself, as Beast's
// examples' sessions do: each pending operation holds it, and when the session is over
// it records the call (its access line and metrics) and goes.
//
// What it guarantees:
// - Bounded memory whatever the frame size: each direction moves through one buffer of at
//   most kPieceBytes (plus a frame header held back), read, written, read again, so a side
//   that does not read stalls the other side's reads (backpressure both ways). A quiet
//   direction of a plain connection holds no buffer at all: it waits for bytes before it
//   takes one (over TLS, it holds kSmallPiece).
// - Either side closing or failing closes the other at once.
// - --websocket-idle-timeout with no byte either way, or the worker's drain: a Close
//   1001 goes to each side at its next frame boundary (never inside a frame), whatever
//   either side sends after that is dropped, and the session ends when both sides have
//   answered with their Close, or after --drain-timeout (idle: 5 s).
// - Once both sides have sent a Close (whoever began), the relay closes both connections,
//   as the client's server should. A side that leaves after its Close, before the other
//   answered, leaves the other 5 s to send its answer (closing it at once would reset it).
// - A stream that is not WebSocket (a length no frame can have, a control frame that is
//   fragmented or too long) ends the session: the relay could no longer find boundaries.
// - The session holds its call's places in the limits (--rate-limit-concurrent) until it
//   ends, and counts in the open calls and open sessions gauges.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "call/call.h"
#include "http/session.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "net/websocket.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "upstream/connection.h"
#include "upstream/forwarder.h"

namespace oa::http {

class WebSocketRelay final : public OpenConnection,
                             public std::enable_shared_from_this<WebSocketRelay> {
 public:
  // Each direction's buffer: the most that one side's bytes occupy in the gateway, while
  // they come in bulk; kSmallPiece otherwise, and none while the direction is quiet.
  static constexpr size_t kPieceBytes = size_t{64} * 1024;
  static constexpr size_t kSmallPiece = size_t{4} * 1024;

  // The session's two connections, as the handshake left them.
  struct Ends {
    net::Stream client;
    boost::beast::flat_buffer client_buffer;         // read from the client: its first frames
    std::unique_ptr<upstream::Connection> upstream;  // its buffer likewise
  };

  // Relays the session until it is over, then records `call` with `handshake`, the
  // upgrade's exchange, and the session's tally. REQUIRES: on the worker of `context`,
  // the executor of both connections; `call` was admitted and keeps its identity
  // (call::Call::KeepIdentity).
  static void Start(Ends ends, call::Call call, upstream::ForwardOutcome handshake,
                    FrontContext& context);

  // For Start() only (std::make_shared needs a public constructor).
  struct Key {
    explicit Key() = default;
  };
  WebSocketRelay(Key, Ends ends, call::Call call, upstream::ForwardOutcome handshake,
                 FrontContext& context);
  ~WebSocketRelay() override;

  // The worker drains: the session ends cleanly (see above).
  void CloseWhenIdle() override {
    BeginClose("the gateway is shutting down", context_.settings.drain_timeout);
  }

 private:
  // One direction of the session: bytes read from `from` go to `to`. Each direction is a
  // loop of asynchronous steps, Read -> Received -> Pass -> Passed -> Read, whose handlers
  // hold the relay.
  struct Direction {
    net::Stream* from = nullptr;
    boost::beast::flat_buffer* buffer = nullptr;  // read from `from`, not yet written
    net::Stream* to = nullptr;
    std::string_view from_name;  // "client" or "upstream", for the tally
    bool to_upstream = false;    // frames the gateway writes to `to` must be masked

    uint64_t remaining = 0;     // payload bytes of the current frame still to pass
    uint64_t frames = 0;        // frames whose header passed
    uint64_t bytes = 0;         // bytes written to `to`
    bool idle_reading = false;  // awaiting bytes at a frame boundary, nothing held
    bool bulk = false;          // the last read brought kSmallPiece or more
    bool over = false;          // the loop has ended

    // The Close frame passing now: its mask and the first two bytes of its payload.
    bool in_close = false;
    net::ws::FrameHeader close_header;
    uint64_t close_offset = 0;
    char close_code[2] = {};
    bool closed = false;     // `from` sent its Close
    bool from_gone = false;  // ... and then its connection ended

    bool close_due = false;   // the gateway's Close goes to `to` at the next boundary
    bool close_sent = false;  // ... and has gone (or is going): nothing more goes to `to`
    std::string close_frame;  // ... as written
  };

  void Read(Direction& d);
  void Received(Direction& d, const net::error_code& ec, size_t n);
  void Pass(Direction& d);
  void Passed(Direction& d, bool broken);
  // Ends `d`'s loop; the session is over when both have ended.
  void Stop(Direction& d);
  void Finish();

  // Whether to end the session at once: `from` sent what cannot be WebSocket.
  // `ready` is set to the bytes of the buffer that may go to `to` now.
  bool Scan(Direction& d, size_t& ready);
  // Writes the gateway's Close to `d.to`; then, if `then_read`, `d` reads on.
  void SendClose(Direction& d, bool then_read);
  // The gateway's part in ending the session: Close frames at the boundaries, and the
  // sides' Close answers awaited for at most `wait`.
  void BeginClose(std::string_view reason, absl::Duration wait);
  // Bytes passed: the idle timeout starts again.
  void Traffic();
  // Ends the session now; `by` is who ended it, unless the tally names someone already.
  void CloseBoth(std::string_view by);

  FrontContext& context_;
  net::Stream client_;
  boost::beast::flat_buffer client_buffer_;
  std::unique_ptr<upstream::Connection> upstream_;
  call::Call call_;
  upstream::ForwardOutcome handshake_;
  observe::GaugeHold in_flight_;
  observe::GaugeHold open_;

  Direction up_;    // client to upstream
  Direction down_;  // upstream to client
  // --websocket-idle-timeout; once the session is closing (closing_ or answer_wait_), the
  // wait for the sides' Close answers, which ends the session when it passes.
  net::Watchdog timer_;
  bool closing_ = false;      // BeginClose() ran
  bool answer_wait_ = false;  // a side left after its Close: the other has kCloseWait
  bool registered_ = false;   // in context_.connections
  std::string close_reason_;
  observe::WebSocketTally tally_;
};

}  // namespace oa::http
