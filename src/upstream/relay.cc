#include "upstream/relay.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "base/strings.h"
#include "net/deadline.h"
#include "upstream/header_policy.h"

namespace oa::upstream {

bool IsMalformedMessage(const net::error_code& ec) {
  return ec.category() ==
             boost::beast::http::make_error_code(boost::beast::http::error::bad_version)
                 .category() &&
         ec != boost::beast::http::error::end_of_stream &&
         ec != boost::beast::http::error::partial_message;
}

namespace {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace asio::experimental::awaitable_operators;
using net::Clock;
using net::error_code;
using net::kNoThrow;

// How one attempt on one upstream connection ended.
enum class Attempt {
  kDone,       // the exchange is over, well or badly; the outcome says which
  kRetryable,  // the connection failed before any answer; a new one may try again
};

// The state of one Relay::Run call. Member coroutines capture `this`; the object lives in
// Run's frame, which awaits every one of them.
class Exchange {
 public:
  Exchange(Pool& pool, const RelayLimits& limits, net::Stream& client,
           beast::flat_buffer& client_buffer, ClientParser& request, net::Deadline& client_deadline,
           HeaderDecorator decorate, RelayOutcome& out)
      : pool_(pool),
        limits_(limits),
        client_(client),
        client_buffer_(client_buffer),
        request_(request),
        client_deadline_(client_deadline),
        decorate_(decorate),
        out_(out),
        piece_(new char[limits.piece_bytes]) {}

  asio::awaitable<void> Run() {
    BuildUpstreamRequest();
    if (!co_await ContinueIfExpected()) co_return;
    started_ = Clock::now();
    std::unique_ptr<Connection> conn = pool_.TakeIdle();
    bool reused = conn != nullptr;
    for (;;) {
      if (!conn) {
        absl::StatusOr<std::unique_ptr<Connection>> fresh = co_await pool_.ConnectNew();
        if (!fresh.ok()) {
          out_.failure = fresh.status();
          co_return;
        }
        conn = *std::move(fresh);
        reused = false;
      }
      const bool may_retry = reused && !out_.retried;
      const Attempt result = co_await GuardedAttempt(*conn, may_retry);
      if (result == Attempt::kRetryable) {
        conn->stream.Close();
        conn.reset();
        out_.retried = true;
        continue;
      }
      if (connection_reusable_) {
        pool_.Release(std::move(conn));
      } else {
        conn->stream.Close();
      }
      co_return;
    }
  }

 private:
  void BuildUpstreamRequest() {
    const auto& in = request_.get();
    upstream_request_.method_string(in.method_string());
    upstream_request_.target(pool_.url().TargetFor(in.target()));
    upstream_request_.version(11);
    CopyEndToEnd(in.base(), upstream_request_.base());
    upstream_request_.set(bhttp::field::host, pool_.url().host_header);
    if (const auto length = request_.content_length()) {
      upstream_request_.content_length(*length);
    } else if (request_.chunked()) {
      upstream_request_.chunked(true);
    }
  }

  // The gateway answers "Expect: 100-continue" itself; the upstream never sees it.
  asio::awaitable<bool> ContinueIfExpected() {
    const auto expect = request_.get()[bhttp::field::expect];
    if (!EqualsIgnoreCase(expect, "100-continue") || request_.is_done()) co_return true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    client_deadline_.Expire(limits_.client_io_timeout);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
    client_deadline_.Clear();
    if (ec) out_.client_gone = true;
    co_return !ec;
  }

  // One attempt, bounded by the upstream deadline that the phases below keep moving.
  asio::awaitable<Attempt> GuardedAttempt(Connection& conn, bool may_retry) {
    net::Deadline deadline(client_.get_executor());
    upstream_deadline_ = &deadline;
    connection_reusable_ = false;
    auto result =
        co_await (AttemptOn(conn, may_retry) || deadline.Watch([&] { conn.stream.Close(); }));
    upstream_deadline_ = nullptr;
    if (result.index() == 0) co_return std::get<0>(result);
    // The watchdog fired; AttemptOn was cancelled wherever it stood.
    connection_reusable_ = false;
    if (!response_started_) {
      out_.failure = absl::DeadlineExceededError(
          StrCat("no ", waiting_for_, " from the upstream within ",
                 absl::FormatDuration(waiting_for_ == "response" ? limits_.first_byte_timeout
                                                                 : limits_.idle_timeout)));
    } else {
      CutClient();
    }
    co_return Attempt::kDone;
  }

  asio::awaitable<Attempt> AttemptOn(Connection& conn, bool may_retry) {
    const bool sent = co_await SendRequest(conn);
    if (out_.failure || out_.client_gone) co_return Attempt::kDone;

    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.header_limit(limits_.response_header_bytes);
    parser.body_limit(boost::none);
    if (request_.get().method() == bhttp::verb::head) parser.skip(true);

    waiting_for_ = "response";
    upstream_deadline_->Expire(limits_.first_byte_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(conn.stream, conn.buffer, parser, kNoThrow);
    upstream_deadline_->Clear();
    if (ec) {
      const bool nothing_arrived = n == 0 && conn.buffer.size() == 0;
      if (nothing_arrived && may_retry && replay_complete_) co_return Attempt::kRetryable;
      out_.failure = absl::UnavailableError(
          nothing_arrived
              ? StrCat("the upstream closed the connection ",
                       sent ? "without answering" : "while receiving the request", " (",
                       ec.message(), ")")
              : StrCat("the upstream's response was not valid HTTP (", ec.message(), ")"));
      co_return Attempt::kDone;
    }
    out_.upstream_first_byte = absl::FromChrono(Clock::now() - started_);
    co_await RelayResponse(conn, parser, sent);
    co_return Attempt::kDone;
  }

  // Writes the request header, then the body: first what was kept from an earlier
  // attempt, then the rest as it arrives from the client. Returns false if the upstream
  // stopped taking the request (it may still have answered: the caller reads on).
  asio::awaitable<bool> SendRequest(Connection& conn) {
    bhttp::request_serializer<bhttp::buffer_body> serializer(upstream_request_);
    waiting_for_ = "progress";
    if (!co_await WritePiece(conn, serializer, nullptr, 0, /*more=*/true)) co_return false;
    // (No co_await inside && or ?: here or below: GCC 12 miscompiles those.)
    if (!replay_.empty()) {
      const bool sent = co_await WritePiece(conn, serializer, replay_.data(), replay_.size(), true);
      if (!sent) co_return false;
    }
    while (!request_.is_done()) {
      const std::optional<size_t> got = co_await ReadClientBody();
      if (!got) co_return true;  // out_ says why
      if (!co_await WritePiece(conn, serializer, piece_.get(), *got, true)) co_return false;
    }
    co_return co_await WritePiece(conn, serializer, nullptr, 0, /*more=*/false);
  }

  asio::awaitable<bool> WritePiece(Connection& conn,
                                   bhttp::request_serializer<bhttp::buffer_body>& serializer,
                                   const char* data, size_t size, bool more) {
    if (data != nullptr && size == 0) co_return true;
    auto& body = upstream_request_.body();
    body.data = const_cast<char*>(data);
    body.size = size;
    body.more = more;
    upstream_deadline_->Expire(limits_.idle_timeout);
    auto [ec, n] = co_await bhttp::async_write(conn.stream, serializer, kNoThrow);
    upstream_deadline_->Clear();
    co_return !ec || ec == bhttp::error::need_buffer;
  }

  // The next piece of the request body in piece_, or nullopt with out_ saying why.
  asio::awaitable<std::optional<size_t>> ReadClientBody() {
    auto& body = request_.get().body();
    body.data = piece_.get();
    body.size = limits_.piece_bytes;
    client_deadline_.Expire(limits_.client_io_timeout);
    auto [ec, n] = co_await bhttp::async_read_some(client_, client_buffer_, request_, kNoThrow);
    client_deadline_.Clear();
    if (ec && ec != bhttp::error::need_buffer) {
      if (ec == bhttp::error::body_limit) {
        out_.failure = absl::ResourceExhaustedError("request body too large");
      } else if (IsMalformedMessage(ec)) {
        out_.failure = absl::InvalidArgumentError(ec.message());
      } else {
        out_.client_gone = true;
      }
      co_return std::nullopt;
    }
    const size_t got = limits_.piece_bytes - body.size;
    out_.request_body_bytes += got;
    if (replay_complete_ && replay_.size() + got <= limits_.replay_bytes) {
      replay_.append(piece_.get(), got);
    } else if (replay_complete_) {
      replay_complete_ = false;
      std::string().swap(replay_);
    }
    co_return got;
  }

  asio::awaitable<void> RelayResponse(Connection& conn,
                                      bhttp::response_parser<bhttp::buffer_body>& upstream,
                                      bool request_sent) {
    const auto& head = upstream.get();
    out_.status = head.result_int();
    out_.request_id = std::string(head["x-request-id"]);

    bhttp::response<bhttp::buffer_body> response;
    response.version(request_.get().version());
    response.result(head.result_int());
    response.reason(head.reason());
    CopyEndToEnd(head.base(), response.base());
    decorate_(response.base());
    const bool has_body = !upstream.is_done() || upstream.content_length().value_or(0) > 0;
    bool framed = true;
    if (request_.get().method() == bhttp::verb::head || !has_body) {
      // No body follows; a HEAD answer keeps the length the upstream declared.
      if (auto length = head[bhttp::field::content_length]; !length.empty()) {
        response.set(bhttp::field::content_length, length);
      } else if (head.result_int() >= 200 && head.result_int() != 204 && head.result_int() != 304) {
        response.content_length(0);
      }
    } else if (const auto length = upstream.content_length()) {
      response.content_length(*length);
    } else if (request_.get().version() >= 11) {
      response.chunked(true);
    } else {
      framed = false;  // HTTP/1.0 client: the body ends when the connection does
    }
    const bool client_keep_alive =
        framed && request_sent && request_.is_done() && request_.keep_alive();
    response.keep_alive(client_keep_alive);

    response_started_ = true;
    bhttp::response_serializer<bhttp::buffer_body> serializer(response);
    if (!co_await WriteToClient(response, serializer, nullptr, 0, !upstream.is_done())) co_return;

    if (!upstream.is_done()) {
      auto both = co_await (RelayBody(conn, upstream, response, serializer) || WatchClient(conn));
      if (both.index() == 1) co_return;  // WatchClient said why
      if (!std::get<0>(both)) co_return;
    }
    connection_reusable_ = request_sent && upstream.keep_alive() && conn.buffer.size() == 0;
    out_.client_reusable = client_keep_alive;
  }

  // Moves the body piece by piece. False if either side failed (out_ says which).
  asio::awaitable<bool> RelayBody(Connection& conn,
                                  bhttp::response_parser<bhttp::buffer_body>& upstream,
                                  bhttp::response<bhttp::buffer_body>& response,
                                  bhttp::response_serializer<bhttp::buffer_body>& serializer) {
    waiting_for_ = "data";
    while (!upstream.is_done()) {
      auto& in = upstream.get().body();
      in.data = piece_.get();
      in.size = limits_.piece_bytes;
      upstream_deadline_->Expire(limits_.idle_timeout);
      auto [ec, n] = co_await bhttp::async_read_some(conn.stream, conn.buffer, upstream, kNoThrow);
      upstream_deadline_->Clear();
      if (ec && ec != bhttp::error::need_buffer) {
        CutClient();
        co_return false;
      }
      const size_t got = limits_.piece_bytes - in.size;
      if (got == 0 && !upstream.is_done()) continue;
      if (!co_await WriteToClient(response, serializer, piece_.get(), got, !upstream.is_done())) {
        co_return false;
      }
    }
    co_return true;
  }

  asio::awaitable<bool> WriteToClient(bhttp::response<bhttp::buffer_body>& response,
                                      bhttp::response_serializer<bhttp::buffer_body>& serializer,
                                      char* data, size_t size, bool more) {
    auto& body = response.body();
    body.data = data;
    body.size = size;
    body.more = more;
    client_deadline_.Expire(limits_.client_io_timeout);
    auto [ec, n] = co_await bhttp::async_write(client_, serializer, kNoThrow);
    client_deadline_.Clear();
    if (ec && ec != bhttp::error::need_buffer) {
      out_.client_gone = true;
      co_return false;
    }
    out_.response_body_bytes += size;
    co_return true;
  }

  // Runs beside RelayBody while the answer streams: a client that closes its connection
  // ends the upstream call at once instead of at the next write. Bytes a pipelining
  // client sends meanwhile stay in client_buffer_ for the next request.
  asio::awaitable<void> WatchClient(Connection& conn) {
    constexpr size_t kMaxPipelined = 64 * 1024;
    while (client_buffer_.size() < kMaxPipelined) {
      auto [ec, n] = co_await client_.async_read_some(client_buffer_.prepare(4096), kNoThrow);
      // Kept whatever happens next: these bytes may begin the client's next request.
      client_buffer_.commit(n);
      const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
      if (cancelled != asio::cancellation_type::none) co_return;  // the body finished
      if (ec) {
        if (!out_.upstream_cut) out_.client_gone = true;  // not just our own cut
        conn.stream.Close();
        co_return;
      }
    }
    // Enough pipelined bytes are waiting: stop reading and just wait to be cancelled.
    asio::steady_timer forever(co_await asio::this_coro::executor, net::Deadline::kNever);
    co_await forever.async_wait(kNoThrow);
    // Reached only by cancellation, which || treats as the other side having won.
    co_return;
  }

  // The answer started but cannot finish: closing the connection without the final
  // chunk (or short of Content-Length) is how HTTP/1.1 tells the client it was cut.
  void CutClient() {
    if (!out_.client_gone) out_.upstream_cut = true;
    out_.client_reusable = false;
    client_.Close();
  }

  Pool& pool_;
  const RelayLimits& limits_;
  net::Stream& client_;
  beast::flat_buffer& client_buffer_;
  ClientParser& request_;
  net::Deadline& client_deadline_;
  HeaderDecorator decorate_;
  RelayOutcome& out_;

  std::unique_ptr<char[]> piece_;
  bhttp::request<bhttp::buffer_body> upstream_request_;
  std::string replay_;           // every request body byte read so far, while it fits
  bool replay_complete_ = true;  // replay_ holds all of them
  Clock::time_point started_{};
  net::Deadline* upstream_deadline_ = nullptr;  // the current attempt's
  std::string_view waiting_for_ = "response";   // names the timeout in messages
  bool response_started_ = false;
  bool connection_reusable_ = false;
};

}  // namespace

asio::awaitable<RelayOutcome> Relay::Run(net::Stream& client, beast::flat_buffer& client_buffer,
                                         ClientParser& request, net::Deadline& client_deadline,
                                         HeaderDecorator decorate) {
  RelayOutcome out;
  Exchange exchange(pool_, limits_, client, client_buffer, request, client_deadline, decorate, out);
  co_await exchange.Run();
  co_return out;
}

}  // namespace oa::upstream
