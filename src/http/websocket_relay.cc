#include "http/websocket_relay.h"

#include <algorithm>
#include <boost/asio/write.hpp>

#include "base/strings.h"
#include "observe/log.h"

namespace oa::http {
namespace asio = net::asio;
namespace ws = net::ws;

namespace {
// How long a side has to answer a Close: the gateway's after the idle timeout, or the
// other side's when that side's connection ended right after it.
constexpr absl::Duration kCloseWait = absl::Seconds(5);
}  // namespace

void WebSocketRelay::Start(Ends ends, call::Call call, upstream::ForwardOutcome handshake,
                           FrontContext& context) {
  auto relay = std::make_shared<WebSocketRelay>(Key(), std::move(ends), std::move(call),
                                                std::move(handshake), context);
  context.connections.Add(relay.get());
  relay->registered_ = true;
  relay->Traffic();
  // Either side's first frames may have come with the handshake: they pass first.
  relay->Pass(relay->up_);
  relay->Pass(relay->down_);
  if (context.connections.draining()) relay->CloseWhenIdle();
}

WebSocketRelay::WebSocketRelay(Key /*key*/, Ends ends, call::Call call,
                               upstream::ForwardOutcome handshake, FrontContext& context)
    : context_(context),
      client_(std::move(ends.client)),
      client_buffer_(std::move(ends.client_buffer)),
      upstream_(std::move(ends.upstream)),
      call_(std::move(call)),
      handshake_(std::move(handshake)),
      in_flight_(observe::metrics().in_flight(observe::Front::kRest)),
      open_(observe::metrics().open_websockets(observe::Front::kRest)),
      timer_(client_.get_executor(), [this] {
        if (closing_ || answer_wait_) {
          CloseBoth("gateway");  // the sides' answers did not come in time
        } else {
          BeginClose(StrCat("no traffic for ",
                            absl::FormatDuration(context_.settings.websocket_idle_timeout)),
                     kCloseWait);
        }
      }) {
  up_.from = &client_;
  up_.buffer = &client_buffer_;
  up_.to = &upstream_->stream;
  up_.from_name = "client";
  up_.to_upstream = true;
  down_.from = &upstream_->stream;
  down_.buffer = &upstream_->buffer;
  down_.to = &client_;
  down_.from_name = "upstream";
}

WebSocketRelay::~WebSocketRelay() {
  // Finish() has run, unless the worker's io_context went with the session under way.
  if (registered_) context_.connections.Remove(this);
}

// Reads take kSmallPiece, or kPieceBytes after one that brought that much (bulk traffic).
// After a smaller read, a direction with nothing held gives its buffer back and waits for
// bytes before it takes another, so that a quiet session holds none.
void WebSocketRelay::Read(Direction& d) {
  const size_t held = d.buffer->size();
  d.idle_reading = d.remaining == 0 && held == 0;
  const auto read = [this, self = shared_from_this(), &d, held] {
    const size_t want = (d.bulk ? kPieceBytes : kSmallPiece) - std::min(kSmallPiece / 2, held);
    d.from->async_read_some(
        d.buffer->prepare(want),
        [this, self, &d](const net::error_code& ec, size_t n) { Received(d, ec, n); });
  };
  if (held > 0 || d.bulk) {
    read();
    return;
  }
  d.buffer->shrink_to_fit();
  d.from->async_wait_readable([this, read, &d](const net::error_code& ec) {
    if (ec) {
      Received(d, ec, 0);
    } else {
      read();
    }
  });
}

void WebSocketRelay::Received(Direction& d, const net::error_code& ec, size_t n) {
  d.idle_reading = false;
  d.bulk = n >= kSmallPiece;
  if (ec) {
    Direction& other = &d == &up_ ? down_ : up_;
    if (d.closed && !other.closed && !other.from_gone) {
      // `from` left after its Close, which the other side has yet to answer (or has
      // answered, its Close still on the way): closing that side now would reset its
      // connection and lose the answer. It has the close's wait to send it.
      d.from_gone = true;
      if (!closing_) {  // else the gateway's wait runs
        answer_wait_ = true;
        timer_.Expire(kCloseWait);
      }
    } else {
      CloseBoth(d.from_name);
    }
    Stop(d);
    return;
  }
  d.buffer->commit(n);
  Traffic();
  Pass(d);
}

void WebSocketRelay::Pass(Direction& d) {
  size_t ready = 0;
  const bool broken = Scan(d, ready);
  if (ready == 0 || d.close_sent) {
    d.buffer->consume(ready);
    Passed(d, broken);
    return;
  }
  const auto held = d.buffer->cdata();
  asio::async_write(
      *d.to, asio::buffer(held.data(), ready),
      [this, self = shared_from_this(), &d, ready, broken](const net::error_code& ec, size_t n) {
        if (ec) {
          CloseBoth(&d == &up_ ? "upstream" : "client");  // `to` is gone
          Stop(d);
          return;
        }
        d.bytes += n;
        Traffic();
        d.buffer->consume(ready);
        Passed(d, broken);
      });
}

void WebSocketRelay::Passed(Direction& d, bool broken) {
  if (broken) {
    OA_LOG(kDebug, "websocket: the %s sent bytes that are not WebSocket frames; closing",
           d.from_name);
    CloseBoth("gateway");
    Stop(d);
    return;
  }
  if (d.close_due && !d.close_sent && d.remaining == 0) {
    SendClose(d, /*then_read=*/true);
    return;
  }
  if (d.close_sent) d.buffer->consume(d.buffer->size());  // nothing more goes to `to`
  if (up_.closed && down_.closed) {
    // Each side has sent its Close and what came with it is out: the handshake is over,
    // and the gateway, the client's server, closes the connections first.
    CloseBoth("gateway");
    Stop(d);
    return;
  }
  Read(d);
}

void WebSocketRelay::Stop(Direction& d) {
  d.over = true;
  if (up_.over && down_.over) Finish();
}

void WebSocketRelay::Finish() {
  timer_.Clear();
  client_.Close();
  upstream_->stream.Close();
  tally_.frames_in = up_.frames;
  tally_.frames_out = down_.frames;
  tally_.bytes_in = up_.bytes;
  tally_.bytes_out = down_.bytes;
  call::Ending ending = call::Ending::Http(handshake_.status, 0, &handshake_);
  ending.websocket = &tally_;
  call_.Record(ending);
  in_flight_.Release();
  open_.Release();
  context_.connections.Remove(this);
  registered_ = false;
}

bool WebSocketRelay::Scan(Direction& d, size_t& ready) {
  const auto held = d.buffer->cdata();
  const std::string_view bytes(static_cast<const char*>(held.data()), held.size());
  size_t at = 0;
  while (at < bytes.size()) {
    if (d.remaining == 0) {
      if (d.close_due && !d.close_sent) break;  // a boundary: the gateway's Close goes first
      ws::FrameHeader header;
      const ws::HeaderParse parsed = ws::ParseFrameHeader(bytes.substr(at), header);
      if (parsed == ws::HeaderParse::kNeedMore) break;  // held back until it is whole
      if (parsed == ws::HeaderParse::kInvalid) {
        ready = at;
        return true;
      }
      at += header.header_bytes;
      ++d.frames;
      d.remaining = header.payload_bytes;
      if (header.opcode == static_cast<uint8_t>(ws::Opcode::kClose)) {
        d.in_close = true;
        d.close_header = header;
        d.close_offset = 0;
      }
    } else {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(d.remaining, bytes.size() - at));
      for (size_t i = 0; d.in_close && i < take && d.close_offset + i < 2; ++i) {
        auto c = static_cast<uint8_t>(bytes[at + i]);
        if (d.close_header.masked) c ^= d.close_header.mask[(d.close_offset + i) % 4];
        d.close_code[d.close_offset + i] = static_cast<char>(c);
      }
      at += take;
      d.remaining -= take;
      d.close_offset += take;
    }
    if (d.in_close && d.remaining == 0) {
      d.in_close = false;
      d.closed = true;
      if (tally_.closed_by == "-") {
        tally_.closed_by = d.from_name;
        if (d.close_offset >= 2) {
          tally_.close_code = ws::CloseCode(std::string_view(d.close_code, 2));
        }
      }
    }
  }
  ready = at;
  return false;
}

void WebSocketRelay::SendClose(Direction& d, bool then_read) {
  d.close_sent = true;
  const std::string payload = ws::ClosePayload(ws::kCloseGoingAway, close_reason_);
  d.close_frame = ws::EncodeFrame(ws::Opcode::kClose, true, payload,
                                  d.to_upstream ? std::optional(ws::RandomMask()) : std::nullopt);
  asio::async_write(
      *d.to, asio::buffer(d.close_frame),
      [this, self = shared_from_this(), &d, then_read](const net::error_code& ec, size_t n) {
        if (!ec) d.bytes += n;
        if (then_read) {
          Passed(d, /*broken=*/false);
        } else if (up_.close_sent && down_.close_sent && up_.closed && down_.closed) {
          CloseBoth("gateway");
        }
      });
}

void WebSocketRelay::BeginClose(std::string_view reason, absl::Duration wait) {
  if (closing_ || (up_.over && down_.over)) return;
  closing_ = true;
  close_reason_ = std::string(reason);
  if (tally_.closed_by == "-") {
    tally_.closed_by = "gateway";
    tally_.close_code = ws::kCloseGoingAway;
  }
  up_.close_due = true;
  down_.close_due = true;
  timer_.Expire(wait);
  // A direction waiting at a boundary for its side to send gets its Close now; the
  // others get theirs when they reach one (Passed).
  for (Direction* d : {&up_, &down_}) {
    if (!d->over && d->idle_reading) SendClose(*d, /*then_read=*/false);
  }
}

void WebSocketRelay::Traffic() {
  if (!closing_ && !answer_wait_) timer_.Expire(context_.settings.websocket_idle_timeout);
}

void WebSocketRelay::CloseBoth(std::string_view by) {
  if (tally_.closed_by == "-") tally_.closed_by = by;
  client_.Close();
  upstream_->stream.Close();
}

}  // namespace oa::http
