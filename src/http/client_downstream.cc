#include "http/client_downstream.h"

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include "base/strings.h"
#include "call/headers.h"
#include "net/http_read.h"
#include "net/notification.h"
#include "net/read_room.h"

namespace oa::http {
namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using net::kNoThrow;

upstream::RequestStart ClientDownstream::PrepareRequest(upstream::WireHead& head) {
  const net::MessageHead& in = request_.head();
  const std::string target = upstream_.TargetFor(in.target());
  head.RequestLine(in.method_string(), target);
  call::ForEachCrossing(
      in, call::Crossing::kRestRequest,
      [&](std::string_view name, std::string_view value) { head.AddParsed(name, value); });
  upstream::RequestStart start;
  start.head_method = in.method() == bhttp::verb::head;
  if (upgrade_) start.upgrade = in.Value(bhttp::field::upgrade);
  if (const auto length = request_.content_length()) {
    start.content_length = *length;
  } else {
    start.chunked = request_.chunked();
  }
  return start;
}

// The gateway answers "Expect: 100-continue" itself; the upstream never sees it. An
// HTTP/1.0 client's expectation is ignored: no 1xx answer may go to it (RFC 9110,
// sections 10.1.1 and 15.2).
asio::awaitable<bool> ClientDownstream::BeforeSend() {
  const std::string_view expect = request_.head().Value(bhttp::field::expect);
  if (!EqualsIgnoreCase(expect, "100-continue") || request_.is_done() ||
      request_.head().version() < 11) {
    co_return true;
  }
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.Expire(io_timeout_);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
  deadline_.Clear();
  co_return !ec;
}

absl::Duration ClientDownstream::BodyTimeLeft() const {
  const double earned = static_cast<double>(body_received_) /
                        static_cast<double>(std::max<uint64_t>(settings_.client_body_min_rate, 1));
  return settings_.client_body_timeout + absl::Seconds(earned) - body_waited_;
}

// A client may stall for --client-io-timeout at a time, and take no longer in all than
// its body's budget (BodyTimeLeft): a slow trickle, which no single read's timeout ends,
// cannot hold a connection (and its upstream connection) for ever. When the budget is
// what ends a read, the read is only cancelled, and the caller gets 408.
asio::awaitable<absl::StatusOr<size_t>> ClientDownstream::ReadRequestBody(char* piece,
                                                                          size_t size) {
  const absl::Duration left = BodyTimeLeft();
  const bool budget_binds = left < io_timeout_;
  request_.BodyInto(piece, size);
  const net::Clock::time_point started = net::Clock::now();
  const net::ReadRoom room(buffer_);
  net::ReadResult result{asio::error::operation_aborted, 0};  // the budget is spent already
  if (left > absl::ZeroDuration()) {
    deadline_cancels_ = budget_binds;
    deadline_.Expire(budget_binds ? left : io_timeout_);
    result = co_await net::ReadSome(client_, buffer_, request_);
  }
  const auto [ec, n] = result;
  deadline_.Clear();
  deadline_cancels_ = false;
  body_waited_ += absl::FromChrono(net::Clock::now() - started);
  room.GrowIfFilled(buffer_, n, size);
  const size_t got = size - request_.body_room();
  body_received_ += got;
  if (ec && ec != bhttp::error::need_buffer) {
    if (ec == asio::error::operation_aborted && budget_binds) {
      co_return absl::DeadlineExceededError(
          StrCat("The request body did not arrive in time: ", body_received_, " bytes in ",
                 absl::FormatDuration(absl::Trunc(body_waited_, absl::Milliseconds(1))),
                 ". The gateway allows ", absl::FormatDuration(settings_.client_body_timeout),
                 " (--client-body-timeout), and a second more for every ",
                 settings_.client_body_min_rate, " bytes received (--client-body-min-rate)."));
    }
    if (ec == bhttp::error::body_limit) {
      co_return absl::ResourceExhaustedError("request body too large");
    }
    if (ec == bhttp::error::header_limit) {
      co_return absl::InvalidArgumentError(
          StrCat("a chunk-size line with its extensions, or the trailer section, is longer "
                 "than ",
                 settings_.max_header_bytes, " bytes (see --max-header-bytes)"));
    }
    if (upstream::IsMalformedMessage(ec)) co_return absl::InvalidArgumentError(ec.message());
    co_return absl::CancelledError("the client went away");
  }
  co_return got;
}

asio::awaitable<bool> ClientDownstream::WriteHead(const upstream::ResponseStart& start) {
  const net::MessageHead& head = start.head;
  const net::MessageHead& request = request_.head();
  const unsigned status = head.status();
  head_.StatusLine(request.version(), status, head.reason());
  call::ForEachCrossing(head, call::Crossing::kRestAnswer,
                        [&](std::string_view name, std::string_view value) {
                          if (!Cors::Replaces(name)) head_.AddParsed(name, value);
                        });
  cors_.Decorate(request.Value(bhttp::field::origin), head_);
  const bool has_body = start.body_follows || start.content_length.value_or(0) > 0;
  bool framed = true;
  const bool head_request = request.method() == bhttp::verb::head;
  if (head_request || !has_body) {
    // No body follows. A HEAD answer keeps the framing the upstream declared for the
    // GET's body: its length, or (to an HTTP/1.1 caller) its chunked coding.
    if (const std::string_view length = head.Value(bhttp::field::content_length); !length.empty()) {
      head_.Add(bhttp::field::content_length, length);
    } else if (head_request && !head.Value(bhttp::field::transfer_encoding).empty()) {
      if (request.version() >= 11) head_.Add(bhttp::field::transfer_encoding, "chunked");
    } else if (status >= 200 && status != 204 && status != 304) {
      head_.ContentLength(0);
    }
  } else if (start.content_length) {
    head_.ContentLength(*start.content_length);
  } else if (request.version() >= 11) {
    head_.Add(bhttp::field::transfer_encoding, "chunked");
    chunked_ = true;
  } else {
    framed = false;  // HTTP/1.0 client: the body ends when the connection does
  }
  const bool keep_alive = framed && start.request_sent && request_.is_done() &&
                          request_.keep_alive() && !connections_.draining();
  // HTTP/1.1 keeps a connection unless told otherwise; HTTP/1.0 only when told to.
  if (request.version() >= 11 && !keep_alive) head_.Add(bhttp::field::connection, "close");
  if (request.version() < 11 && keep_alive) head_.Add(bhttp::field::connection, "keep-alive");
  head_.End();
  // Reusable once the whole answer is out; a failed write clears this.
  reusable_ = keep_alive;
  if (start.body_follows && start.body_at_hand) co_return true;  // goes with the first piece
  co_return co_await WriteBody(nullptr, 0, start.body_follows);
}

// Once per piece of the body, with the head if that has not gone yet: what the socket
// takes at once is sent without waiting; the rest, if any, is awaited here, not in a
// helper coroutine, so a piece costs one coroutine frame.
asio::awaitable<bool> ClientDownstream::WriteBody(const char* data, size_t size, bool more) {
  const std::string_view head = head_written_ ? std::string_view() : head_.text();
  upstream::FramedPiece piece(head, chunked_, std::string_view(data, size), !more);
  head_written_ = true;
  net::error_code ec;
  piece.Consume(client_.WriteNow(piece.buffers(), ec));
  if (!piece.empty() && (!ec || ec == asio::error::would_block)) {
    deadline_.Expire(io_timeout_);
    std::tie(ec, std::ignore) = co_await asio::async_write(client_, piece.buffers(), kNoThrow);
    deadline_.Clear();
  }
  if (ec) reusable_ = false;
  co_return !ec;
}

// The watch for a client that leaves while the upstream is awaited. On a plain
// connection it first peeks: a client waiting for its answer sends nothing, so the
// peek's completion is the news, and it leaves the bytes where the next request's read
// finds them. Only when bytes do arrive (a pipelined request) does it read them into
// `arrived`, and goes on reading for the end of the connection. Over TLS it reads from
// the start: a record (close_notify, say) may already wait inside OpenSSL, where a peek
// at the socket cannot see it.
//
// It is shared with its pending operation, whose handler may run after the watch is
// stopped (a cancelled operation completes later); the handler touches the connection
// only while `on_gone` is set, that is before StopWatching().
struct ClientDownstream::Watch {
  net::Stream* client = nullptr;
  std::function<void()> on_gone;  // empty once stopped, or once it ran
  asio::cancellation_signal cancel;
  bool pending = false;  // an operation is under way
  bool reading = false;  // ... and it is a read into `arrived`, not a peek
  bool gone = false;     // the client went away
  char peeked = 0;
  std::string arrived;  // bytes read meanwhile: the start of the client's next request
  std::optional<net::Notification> settled;  // wakes StopWatching() when `pending` ends
};

ClientDownstream::~ClientDownstream() {
  // The Forwarder stops every watch it starts; should one outlive the call regardless,
  // its handler must find it stopped.
  if (watch_) {
    watch_->on_gone = nullptr;
    watch_->cancel.emit(asio::cancellation_type::terminal);
  }
}

void ClientDownstream::StartWatching(std::function<void()> on_gone) {
  watch_ = std::make_shared<Watch>();
  watch_->client = &client_;
  watch_->on_gone = std::move(on_gone);
  if (client_.tls() != nullptr) {
    ReadAhead(watch_);
  } else {
    Peek(watch_);
  }
}

void ClientDownstream::Peek(const std::shared_ptr<Watch>& watch) {
  watch->pending = true;
  watch->client->socket().async_receive(
      asio::buffer(&watch->peeked, 1), net::tcp::socket::message_peek,
      asio::bind_cancellation_slot(
          watch->cancel.slot(),
          [watch](const net::error_code& ec, size_t n) { Watched(watch, ec, n); }));
}

void ClientDownstream::ReadAhead(const std::shared_ptr<Watch>& watch) {
  // Little ever comes here: small reads keep the connection of a long stream small.
  constexpr size_t kReadBytes = 1024;
  const size_t before = watch->arrived.size();
  watch->arrived.resize(before + kReadBytes);
  watch->pending = true;
  watch->reading = true;
  watch->client->async_read_some(
      asio::buffer(watch->arrived.data() + before, kReadBytes),
      asio::bind_cancellation_slot(watch->cancel.slot(),
                                   [watch, before](const net::error_code& ec, size_t n) {
                                     watch->arrived.resize(before + n);
                                     Watched(watch, ec, n);
                                   }));
}

void ClientDownstream::Watched(const std::shared_ptr<Watch>& watch, const net::error_code& ec,
                               size_t n) {
  constexpr size_t kMaxPipelined = size_t{64} * 1024;
  const bool was_reading = std::exchange(watch->reading, false);
  watch->pending = false;
  if (!watch->on_gone) {  // stopped meanwhile
    if (watch->settled) watch->settled->Notify();
    return;
  }
  // Aborted: the connection was closed under the watch (Cut), which is not the client leaving.
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    watch->gone = true;
    std::exchange(watch->on_gone, nullptr)();
    return;
  }
  // Bytes wait (peeked), or were read: read on, for what follows them, unless enough
  // pipelined bytes wait already; then the watch rests until stopped.
  if ((was_reading || n > 0) && watch->arrived.size() < kMaxPipelined) ReadAhead(watch);
}

asio::awaitable<void> ClientDownstream::StopWatching() {
  const std::shared_ptr<Watch> watch = std::move(watch_);
  watch->on_gone = nullptr;
  if (watch->pending) {
    // A peek's handler only finds the watch stopped. A read's may still fill `arrived`
    // and, over TLS, holds the stream's state: it must end before the stream is used.
    const bool wait = watch->reading;
    if (wait) watch->settled.emplace(co_await asio::this_coro::executor);
    watch->cancel.emit(asio::cancellation_type::terminal);
    if (wait) co_await watch->settled->Wait();
  }
  if (!watch->arrived.empty()) {
    const size_t n =
        asio::buffer_copy(buffer_.prepare(watch->arrived.size()), asio::buffer(watch->arrived));
    buffer_.commit(n);
  }
  if (watch->gone) reusable_ = false;
}

// The upstream's 101 goes to the client as it came, with the hop-by-hop headers that
// make it one (Connection and Upgrade); the upstream connection is kept for the relay.
asio::awaitable<void> ClientDownstream::Switched(const upstream::ResponseStart& start,
                                                 std::unique_ptr<upstream::Connection>& upstream) {
  const net::MessageHead& head = start.head;
  head_.StatusLine(request_.head().version(), head.status(), head.reason());
  call::ForEachCrossing(
      head, call::Crossing::kRestAnswer,
      [&](std::string_view name, std::string_view value) { head_.AddParsed(name, value); });
  head_.Add(bhttp::field::connection, "Upgrade");
  head_.Add(bhttp::field::upgrade, head.Value(bhttp::field::upgrade));
  head_.End();
  head_written_ = true;
  reusable_ = false;
  deadline_.Expire(io_timeout_);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(head_.text()), kNoThrow);
  deadline_.Clear();
  if (!ec) switched_ = std::move(upstream);
}

// Closing the connection without the final chunk (or short of Content-Length) is how
// HTTP/1.1 tells the client its answer was cut.
void ClientDownstream::Cut() {
  // A head held back to go with the first piece goes now, so that the caller sees the
  // answer start and then its cut, as with any cut (what the socket takes at once: over
  // TLS, which cannot write without waiting, the caller sees only the end).
  if (!head_written_ && !head_.text().empty()) {
    net::error_code ignored;
    client_.WriteNow({asio::buffer(head_.text())}, ignored);
    head_written_ = true;
  }
  reusable_ = false;
  client_.Close();
}

}  // namespace oa::http
