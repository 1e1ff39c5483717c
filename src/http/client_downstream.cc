#include "http/client_downstream.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "base/strings.h"
#include "net/read_room.h"
#include "upstream/header_policy.h"

namespace oa::http {
namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using net::kNoThrow;

void ClientDownstream::PrepareRequest(upstream::UpstreamRequest& request) {
  const auto& in = request_.get();
  request.method_string(in.method_string());
  request.target(upstream_.TargetFor(in.target()));
  upstream::CopyEndToEnd(in.base(), request.base());
  if (const auto length = request_.content_length()) {
    request.content_length(*length);
  } else if (request_.chunked()) {
    request.chunked(true);
  }
}

// The gateway answers "Expect: 100-continue" itself; the upstream never sees it. An
// HTTP/1.0 client's expectation is ignored: no 1xx answer may go to it (RFC 9110,
// sections 10.1.1 and 15.2).
asio::awaitable<bool> ClientDownstream::BeforeSend() {
  const auto expect = request_.get()[bhttp::field::expect];
  if (!EqualsIgnoreCase(expect, "100-continue") || request_.is_done() ||
      request_.get().version() < 11) {
    co_return true;
  }
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.Expire(io_timeout_);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
  deadline_.Clear();
  co_return !ec;
}

asio::awaitable<absl::StatusOr<size_t>> ClientDownstream::ReadRequestBody(char* piece,
                                                                          size_t size) {
  auto& body = request_.get().body();
  body.data = piece;
  body.size = size;
  deadline_.Expire(io_timeout_);
  const net::ReadRoom room(buffer_);
  auto [ec, n] = co_await bhttp::async_read_some(client_, buffer_, request_, kNoThrow);
  deadline_.Clear();
  room.GrowIfFilled(buffer_, n, size);
  if (ec && ec != bhttp::error::need_buffer) {
    if (ec == bhttp::error::body_limit) {
      co_return absl::ResourceExhaustedError("request body too large");
    }
    if (upstream::IsMalformedMessage(ec)) co_return absl::InvalidArgumentError(ec.message());
    co_return absl::CancelledError("the client went away");
  }
  co_return size - body.size;
}

asio::awaitable<bool> ClientDownstream::WriteHead(const upstream::ResponseStart& start) {
  const upstream::ResponseHead& head = start.head;
  const auto& request = request_.get();
  response_.version(request.version());
  response_.result(head.result_int());
  response_.reason(head.reason());
  upstream::CopyEndToEnd(head, response_.base());
  decorate_(response_.base());
  const bool has_body = start.body_follows || start.content_length.value_or(0) > 0;
  bool framed = true;
  if (request.method() == bhttp::verb::head || !has_body) {
    // No body follows; a HEAD answer keeps the length the upstream declared.
    if (auto length = head[bhttp::field::content_length]; !length.empty()) {
      response_.set(bhttp::field::content_length, length);
    } else if (head.result_int() >= 200 && head.result_int() != 204 && head.result_int() != 304) {
      response_.content_length(0);
    }
  } else if (start.content_length) {
    response_.content_length(*start.content_length);
  } else if (request.version() >= 11) {
    response_.chunked(true);
  } else {
    framed = false;  // HTTP/1.0 client: the body ends when the connection does
  }
  const bool keep_alive = framed && start.request_sent && request_.is_done() &&
                          request_.keep_alive() && !connections_.draining();
  response_.keep_alive(keep_alive);
  serializer_.emplace(response_);
  // Reusable once the whole answer is out; WriteBody clears this if it is not.
  reusable_ = keep_alive;
  if (start.body_follows && start.body_at_hand) co_return true;  // goes with the first piece
  PrepareWrite(nullptr, 0, start.body_follows);
  auto [ec, n] = co_await bhttp::async_write(client_, *serializer_, kNoThrow);
  deadline_.Clear();
  const bool written = !ec || ec == bhttp::error::need_buffer;
  if (!written) reusable_ = false;
  co_return written;
}

// Once per piece of the body: the write is awaited here, not in a helper coroutine, so
// a piece costs one coroutine frame.
asio::awaitable<bool> ClientDownstream::WriteBody(const char* data, size_t size, bool more) {
  PrepareWrite(data, size, more);
  auto [ec, n] = co_await bhttp::async_write(client_, *serializer_, kNoThrow);
  deadline_.Clear();
  const bool written = !ec || ec == bhttp::error::need_buffer;
  if (!written) reusable_ = false;
  co_return written;
}

void ClientDownstream::PrepareWrite(const char* data, size_t size, bool more) {
  auto& body = response_.body();
  // No buffer for an empty piece: Beast would frame it as a chunk of size 0, which ends a
  // chunked body, and then end the body again after it.
  body.data = size > 0 ? const_cast<char*>(data) : nullptr;
  body.size = size;
  body.more = more;
  deadline_.Expire(io_timeout_);
}

// Reads the client while the answer streams, so a client that closes its connection is
// noticed at once. Bytes a pipelining client sends meanwhile stay in the buffer for its
// next request.
asio::awaitable<void> ClientDownstream::WatchGone() {
  constexpr size_t kMaxPipelined = 64 * 1024;
  while (buffer_.size() < kMaxPipelined) {
    // Little ever comes here (an EOF, a pipelined request): a small read keeps the
    // buffer of a connection that holds a long stream small.
    auto [ec, n] = co_await client_.async_read_some(buffer_.prepare(1024), kNoThrow);
    // Kept whatever happens next: these bytes may begin the client's next request.
    buffer_.commit(n);
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) co_return;  // the body finished
    if (ec) {
      reusable_ = false;
      co_return;
    }
  }
  // Enough pipelined bytes are waiting: stop reading and just wait to be cancelled.
  asio::steady_timer forever(co_await asio::this_coro::executor, net::Deadline::kNever);
  co_await forever.async_wait(kNoThrow);
}

// Closing the connection without the final chunk (or short of Content-Length) is how
// HTTP/1.1 tells the client its answer was cut.
void ClientDownstream::Cut() {
  reusable_ = false;
  client_.Close();
}

}  // namespace oa::http
