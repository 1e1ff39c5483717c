#include "http/websocket_relay.h"

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>

#include "base/strings.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace oa::http {
namespace asio = net::asio;
namespace ws = net::ws;
using net::kNoThrow;

namespace {
// How long a side has to answer a Close: the gateway's after the idle timeout, or the
// other side's when that side's connection ended right after it.
constexpr absl::Duration kCloseWait = absl::Seconds(5);
}  // namespace

WebSocketRelay::WebSocketRelay(net::Stream& client, boost::beast::flat_buffer& client_buffer,
                               const config::Settings& settings)
    : settings_(settings),
      idle_(client.get_executor(),
            [this] {
              BeginClose(
                  StrCat("no traffic for ", absl::FormatDuration(settings_.websocket_idle_timeout)),
                  kCloseWait);
            }),
      close_wait_(client.get_executor(), [this] { CloseBoth("gateway"); }),
      wake_(client.get_executor()) {
  up_.from = &client;
  up_.buffer = &client_buffer;
  up_.from_name = "client";
  up_.to_upstream = true;
  down_.to = &client;
  down_.from_name = "upstream";
}

asio::awaitable<void> WebSocketRelay::Run(net::Stream& upstream,
                                          boost::beast::flat_buffer& upstream_buffer) {
  up_.to = &upstream;
  down_.from = &upstream;
  down_.buffer = &upstream_buffer;
  pumps_ = 2;
  Traffic();
  if (going_away_) GoAway();
  const observe::GaugeHold open(observe::metrics().open_websockets(observe::Front::kRest));
  using asio::experimental::awaitable_operators::operator&&;
  // (Nested operators in one co_await line make a temporary that GCC 12 destroys twice.)
  co_await (BothWays() && Closer());
  idle_.Clear();
  close_wait_.Clear();
  tally_.frames_in = up_.frames;
  tally_.frames_out = down_.frames;
  tally_.bytes_in = up_.bytes;
  tally_.bytes_out = down_.bytes;
}

asio::awaitable<void> WebSocketRelay::BothWays() {
  using asio::experimental::awaitable_operators::operator&&;
  co_await (Pump(up_) && Pump(down_));
}

asio::awaitable<void> WebSocketRelay::Pump(Direction& d) {
  for (;;) {
    size_t ready = 0;
    const bool broken = Scan(d, ready);
    if (ready > 0 && !d.close_sent) {
      const auto held = d.buffer->cdata();
      auto [ec, n] = co_await asio::async_write(*d.to, asio::buffer(held.data(), ready), kNoThrow);
      if (ec) {
        CloseBoth(&d == &up_ ? "upstream" : "client");  // `to` is gone
        break;
      }
      d.bytes += n;
      Traffic();
    }
    d.buffer->consume(ready);
    if (broken) {
      OA_LOG(kDebug, "websocket: the %s sent bytes that are not WebSocket frames; closing",
             d.from_name);
      CloseBoth("gateway");
      break;
    }
    if (d.close_due && !d.close_sent && d.remaining == 0) {
      co_await SendClose(d);
    }
    if (d.close_sent) d.buffer->consume(d.buffer->size());  // nothing more goes to `to`
    if (up_.closed && down_.closed) {
      // Each side has sent its Close and what came with it is out: the handshake is
      // over, and the gateway, the client's server, closes the connections first.
      CloseBoth("gateway");
      break;
    }
    // Reads take kSmallPiece, or kPieceBytes after one that brought that much (bulk
    // traffic); a direction that waits with nothing held after a smaller read gives its
    // buffer back, so that a quiet session holds none (sessions are long and
    // mostly quiet: bench/README.md, memory per socket).
    const size_t held = d.buffer->size();
    if (held == 0 && !d.bulk && d.buffer->capacity() > 0) d.buffer->shrink_to_fit();
    const size_t want = (d.bulk ? kPieceBytes : kSmallPiece) - std::min(kSmallPiece / 2, held);
    d.idle_reading = d.remaining == 0 && held == 0;
    auto [ec, n] = co_await d.from->async_read_some(d.buffer->prepare(want), kNoThrow);
    d.idle_reading = false;
    d.bulk = n >= kSmallPiece;
    if (ec) {
      Direction& other = &d == &up_ ? down_ : up_;
      if (d.closed && !other.closed && !other.from_gone) {
        // `from` left after its Close, which the other side has yet to answer (or has
        // answered, its Close still on the way): closing that side now would reset its
        // connection and lose the answer. It has the close's wait to send it.
        d.from_gone = true;
        if (!closing_) close_wait_.Expire(kCloseWait);  // else the gateway's wait runs
      } else {
        CloseBoth(d.from_name);
      }
      break;
    }
    d.buffer->commit(n);
    Traffic();
  }
  if (--pumps_ == 0) wake_.Notify();
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

asio::awaitable<void> WebSocketRelay::SendClose(Direction& d) {
  d.close_sent = true;
  const std::string payload = ws::ClosePayload(ws::kCloseGoingAway, close_reason_);
  d.close_frame = ws::EncodeFrame(ws::Opcode::kClose, true, payload,
                                  d.to_upstream ? std::optional(ws::RandomMask()) : std::nullopt);
  auto [ec, n] = co_await asio::async_write(*d.to, asio::buffer(d.close_frame), kNoThrow);
  if (!ec) d.bytes += n;
}

void WebSocketRelay::BeginClose(std::string_view reason, absl::Duration wait) {
  if (closing_ || pumps_ == 0) return;
  closing_ = true;
  close_reason_ = std::string(reason);
  if (tally_.closed_by == "-") {
    tally_.closed_by = "gateway";
    tally_.close_code = ws::kCloseGoingAway;
  }
  up_.close_due = true;
  down_.close_due = true;
  close_wait_.Expire(wait);
  wake_.Notify();
}

asio::awaitable<void> WebSocketRelay::Closer() {
  while (pumps_ > 0) {
    co_await wake_.Wait();
    if (pumps_ == 0) break;
    // A pump waiting at a boundary for its side to send sends no Close itself.
    for (Direction* d : {&up_, &down_}) {
      if (d->close_due && !d->close_sent && d->idle_reading) co_await SendClose(*d);
    }
    if (up_.close_sent && down_.close_sent && up_.closed && down_.closed) CloseBoth("gateway");
  }
}

void WebSocketRelay::Traffic() {
  if (!closing_) idle_.Expire(settings_.websocket_idle_timeout);
}

void WebSocketRelay::CloseBoth(std::string_view by) {
  if (tally_.closed_by == "-") tally_.closed_by = by;
  up_.from->Close();
  down_.from->Close();
}

}  // namespace oa::http
