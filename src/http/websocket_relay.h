// The REST front's WebSocket relay: once the upstream has switched protocols (101), the
// bytes of the session pass both ways unchanged, so that ping/pong, fragmentation,
// permessage-deflate and frame sizes stay end to end. The relay reads frame headers only:
// it counts frames, notes the first Close frame's code, and knows where frames begin, so
// that it can end a session cleanly.
//
//   WebSocketRelay relay(client_stream, client_buffer, settings);
//   co_await relay.Run(upstream_stream, upstream_buffer);   // until the session is over
//   relay.tally();                                          // for the access line
//
// What it guarantees:
// - Bounded memory whatever the frame size: each direction moves through one buffer of at
//   most kPieceBytes (plus a frame header held back), read, written, read again, so a side
//   that does not read stalls the other side's reads (backpressure both ways); a quiet
//   direction holds no buffer at all.
// - Either side closing or failing closes the other at once.
// - --websocket-idle-timeout with no byte either way, or GoAway() (the worker drains):
//   a Close 1001 goes to each side at its next frame boundary (never inside a frame),
//   whatever either side sends after that is dropped, and the session ends when both
//   sides have answered with their Close, or after --drain-timeout (idle: 5 s).
// - Once both sides have sent a Close (whoever began), the relay closes both connections,
//   as the client's server should. A side that leaves after its Close, before the other
//   answered, leaves the other 5 s to send its answer (closing it at once would reset it).
// - A stream that is not WebSocket (a length no frame can have, a control frame that is
//   fragmented or too long) ends the session: the relay could no longer find boundaries.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.h"
#include "net/asio.h"
#include "net/notification.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "net/websocket.h"
#include "observe/access_log.h"

namespace oa::http {

class WebSocketRelay {
 public:
  // Each direction's buffer: the most that one side's bytes occupy in the gateway, while
  // they come in bulk; kSmallPiece otherwise, and none while the direction is quiet.
  static constexpr size_t kPieceBytes = size_t{64} * 1024;
  static constexpr size_t kSmallPiece = size_t{4} * 1024;

  // `client` and `client_buffer` (bytes already read from the client: the start of its
  // first frames) outlive the relay.
  WebSocketRelay(net::Stream& client, boost::beast::flat_buffer& client_buffer,
                 const config::Settings& settings);

  // Relays until the session is over; both streams are closed then.
  // REQUIRES: once; on the executor of both streams.
  net::asio::awaitable<void> Run(net::Stream& upstream, boost::beast::flat_buffer& upstream_buffer);

  // Ends the session cleanly (see above); before Run(), as soon as it runs. Any time, on
  // the streams' executor.
  void GoAway() {
    going_away_ = true;
    BeginClose("the gateway is shutting down", settings_.drain_timeout);
  }

  const observe::WebSocketTally& tally() const { return tally_; }

 private:
  // One direction of the session: bytes read from `from` go to `to`.
  struct Direction {
    net::Stream* from = nullptr;
    boost::beast::flat_buffer* buffer = nullptr;  // read from `from`, not yet written
    net::Stream* to = nullptr;
    std::string_view from_name;  // "client" or "upstream", for the tally
    bool to_upstream = false;    // frames the gateway writes to `to` must be masked

    uint64_t remaining = 0;     // payload bytes of the current frame still to pass
    uint64_t frames = 0;        // frames whose header passed
    uint64_t bytes = 0;         // bytes written to `to`
    bool idle_reading = false;  // awaiting a read at a frame boundary, nothing held
    bool bulk = false;          // the last read brought kSmallPiece or more

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

  net::asio::awaitable<void> BothWays();  // Pump() each way at once
  net::asio::awaitable<void> Pump(Direction& d);
  // Whether to end the session at once: `from` sent what cannot be WebSocket.
  // `ready` is set to the bytes of the buffer that may go to `to` now.
  bool Scan(Direction& d, size_t& ready);
  net::asio::awaitable<void> SendClose(Direction& d);
  // The gateway's part in ending the session: Close frames at the boundaries, and the
  // sides' Close answers awaited for at most `wait`.
  void BeginClose(std::string_view reason, absl::Duration wait);
  // Sends the Close to each direction that waits at a boundary with nothing held (the
  // pumps send the others'). Runs while the pumps do.
  net::asio::awaitable<void> Closer();
  // Bytes passed: the idle timeout starts again.
  void Traffic();
  // Ends the session now; `by` is who ended it, unless the tally names someone already.
  void CloseBoth(std::string_view by);

  const config::Settings& settings_;
  Direction up_;              // client to upstream
  Direction down_;            // upstream to client
  net::Watchdog idle_;        // --websocket-idle-timeout
  net::Watchdog close_wait_;  // the sides' answers to the gateway's Close
  net::Notification wake_;    // for Closer(): a close began, or the pumps ended
  int pumps_ = 0;             // running
  bool going_away_ = false;   // GoAway() was called
  bool closing_ = false;      // BeginClose() ran
  std::string close_reason_;
  observe::WebSocketTally tally_;
};

}  // namespace oa::http
