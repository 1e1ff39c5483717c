#include "upstream/forwarder.h"

#include <algorithm>
#include <boost/asio/write.hpp>
#include <optional>

#include "base/strings.h"
#include "net/http_read.h"
#include "net/read_room.h"
#include "observe/metrics.h"

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
using net::Clock;
using net::kNoThrow;

// How one attempt on one upstream connection ended.
enum class Attempt {
  kDone,       // the exchange is over, well or badly; the outcome says which
  kRetryable,  // the connection failed before any answer; a new one may try again
};

// A body of unknown length starts moving in pieces this large (an SSE event is a few
// hundred bytes); the piece grows with the read buffers while reads fill it
// (net::ReadRoom). A body of known length gets a piece its size, up to the limit.
constexpr size_t kFirstPieceBytes = 1024;

// An upstream may send interim answers before its final one (RFC 9110, 15.2); more than
// this many is taken as a broken upstream, not a slow one.
constexpr int kMaxInterim = 8;

// 100 Continue, 102 Processing, 103 Early Hints and the like; not 101, which ends the
// HTTP exchange when it was asked for (RequestStart::upgrade) and is refused otherwise.
bool IsInterim(unsigned status) { return status / 100 == 1 && status != 101; }

// The state of one Forwarder::Run call. Member coroutines capture `this`; the object
// lives in Run's frame, which awaits every one of them.
class Exchange {
 public:
  Exchange(Pool& pool, const ForwardLimits& limits, net::DelayQueue& caller_watches,
           Downstream& caller, ForwardOutcome& out)
      : pool_(pool), limits_(limits), caller_watches_(caller_watches), caller_(caller), out_(out) {}

  asio::awaitable<void> Run() {
    request_ = caller_.PrepareRequest(request_head_);
    request_head_.Add(bhttp::field::host, pool_.url().host_header);
    if (request_.content_length) {
      request_head_.ContentLength(*request_.content_length);
    } else if (request_.chunked) {
      request_head_.Add(bhttp::field::transfer_encoding, "chunked");
    }
    if (!request_.upgrade.empty()) {
      request_head_.Add(bhttp::field::connection, "Upgrade");
      request_head_.Add(bhttp::field::upgrade, request_.upgrade);
    }
    request_head_.End();
    SizePiece(request_.content_length);
    if (!co_await caller_.BeforeSend()) {
      out_.client_gone = true;
      co_return;
    }
    started_ = Clock::now();
    conn_ = pool_.TakeIdle();
    bool reused = conn_ != nullptr;
    for (;;) {
      if (!conn_) {
        absl::StatusOr<std::unique_ptr<Connection>> fresh = co_await pool_.ConnectNew();
        if (!fresh.ok()) {
          out_.failure = fresh.status();
          co_return;
        }
        conn_ = *std::move(fresh);
        reused = false;
      }
      const bool may_retry = reused && !out_.retried;
      connection_reusable_ = false;
      const Attempt attempted = co_await AttemptOn(*conn_, may_retry);
      if (!conn_) co_return;  // the Downstream kept it (Switched)
      const Attempt result = Settle(*conn_, attempted);
      if (result == Attempt::kRetryable) {
        conn_->stream.Close();
        conn_.reset();
        out_.retried = true;
        observe::metrics().upstream_retries.Add();
        continue;
      }
      if (connection_reusable_) {
        pool_.Release(std::move(conn_));
      } else {
        conn_->stream.Close();
      }
      co_return;
    }
  }

 private:
  // How an attempt ended, once its connection's deadline is accounted for. The deadline
  // bounds each wait on the upstream, set by the phases of AttemptOn around it (and only
  // then: time spent on a slow caller is the caller's deadline's business); when it
  // passed, it closed the connection under the operation that waited, and a body already
  // relayed in part was cut there (RelayBody).
  Attempt Settle(Connection& conn, Attempt result) {
    conn.deadline.Clear();
    if (!conn.deadline.expired()) return result;
    connection_reusable_ = false;
    if (!response_started_) {
      observe::metrics().upstream_error(observe::UpstreamError::kTimeout).Add();
      out_.failure = absl::DeadlineExceededError(
          StrCat("no ", waiting_for_, " from the upstream within ",
                 absl::FormatDuration(waiting_for_ == "response" ? limits_.first_byte_timeout
                                                                 : limits_.idle_timeout)));
    }
    return Attempt::kDone;
  }

  // One attempt on one connection: the request, then the answer's head, then the answer.
  // Once the whole request is sent, the caller is watched while the head is awaited: a
  // caller that leaves while the upstream thinks (a long completion) ends the upstream
  // call at once, rather than leaving it to run, and be billed, for no one. (The phases
  // are written out here rather than as coroutines of their own: each costs a frame.)
  asio::awaitable<Attempt> AttemptOn(Connection& conn, bool may_retry) {
    const bool sent = co_await SendRequest(conn);
    // Expired: the upstream took no more of the request in time (Settle says so).
    if (out_.failure || out_.client_gone || conn.deadline.expired()) co_return Attempt::kDone;

    waiting_for_ = "response";
    conn.deadline.Expire(limits_.first_byte_timeout);
    const bool watch = caller_.RequestBodyDone();
    if (watch) WatchCaller(conn);
    // Interim answers (100 Continue, 103 Early Hints) are read and left: the gateway
    // answers a caller's Expect itself, and the final answer follows on this connection.
    std::optional<net::ResponseParser> parser;
    net::error_code ec;
    size_t n = 0;  // bytes parsed
    int interim = 0;
    for (;;) {
      parser.emplace();
      parser->header_limit(limits_.response_header_bytes);
      parser->body_limit(boost::none);
      if (request_.head_method) parser->skip(true);
      const net::ReadRoom room(conn.buffer);
      auto [read_ec, parsed] = co_await net::ReadHeader(conn.stream, conn.buffer, *parser);
      room.GrowIfFilled(conn.buffer, parsed, limits_.piece_bytes);
      ec = read_ec;
      n = parsed;
      if (ec || !IsInterim(parser->head().status()) || ++interim > kMaxInterim) break;
    }
    if (watch && !WithdrawWatch()) co_await caller_.StopWatching();
    conn.deadline.Clear();
    if (out_.client_gone || conn.deadline.expired()) co_return Attempt::kDone;
    if (ec) {
      const bool nothing_arrived = n == 0 && interim == 0 && conn.buffer.size() == 0;
      if (nothing_arrived && may_retry && replay_complete_) co_return Attempt::kRetryable;
      observe::metrics()
          .upstream_error(nothing_arrived ? observe::UpstreamError::kClosed
                                          : observe::UpstreamError::kProtocol)
          .Add();
      out_.failure = absl::UnavailableError(
          nothing_arrived
              ? StrCat("the upstream closed the connection ",
                       sent ? "without answering" : "while receiving the request", " (",
                       ec.message(), ")")
              : StrCat("the upstream's response was not valid HTTP (", ec.message(), ")"));
      co_return Attempt::kDone;
    }
    // Transfer-Encoding is hop-by-hop: an answer in another coding than chunked (gzip,
    // say) would reach the caller with its chunks undone but still gzip, and nothing
    // saying so. The gateway decodes no coding, and relabels none: such an answer is
    // refused.
    if (!net::ChunkedAtMost(parser->head())) {
      observe::metrics().upstream_error(observe::UpstreamError::kProtocol).Add();
      out_.failure = absl::UnavailableError(
          StrCat("the upstream's answer has 'Transfer-Encoding: ",
                 parser->head().Value(bhttp::field::transfer_encoding),
                 "'; the gateway relays chunked answers, and no other transfer coding"));
      co_return Attempt::kDone;
    }
    const unsigned status = parser->head().status();
    if (status / 100 == 1 && (status != 101 || request_.upgrade.empty())) {
      observe::metrics().upstream_error(observe::UpstreamError::kProtocol).Add();
      out_.failure = absl::UnavailableError(
          status == 101
              ? StrCat("the upstream switched protocols (101) on a request that did not ask to")
              : StrCat("the upstream sent more than ", kMaxInterim, " interim (1xx) answers"));
      co_return Attempt::kDone;
    }
    out_.upstream_first_byte = absl::FromChrono(Clock::now() - started_);
    if (status == 101) {
      co_await SwitchProtocols(conn, *parser, sent);
    } else {
      co_await RelayResponse(conn, *parser, sent);
    }
    co_return Attempt::kDone;
  }

  // Writes the request: first what was kept of the body from an earlier attempt, then
  // the rest as the caller gives it. The head goes with the first piece when that is at
  // hand, and the end of a chunked body with the last, so a small request is one write.
  // A body still to come finds the head sent: the upstream sees the request start, not
  // an idle connection it may close. Returns false if the upstream stopped taking the
  // request (it may still have answered: the caller reads on).
  asio::awaitable<bool> SendRequest(Connection& conn) {
    waiting_for_ = "progress";
    std::string_view head = request_head_.text();  // until it is written
    // (No co_await inside && or ?: here or below: GCC 12 miscompiles those.)
    if (!replay_.empty()) {
      if (!co_await WritePiece(conn, head, replay_, /*last=*/false)) co_return false;
      head = {};
    } else if (!caller_.RequestBodyAtHand()) {
      if (!co_await WritePiece(conn, head, {}, /*last=*/false)) co_return false;
      head = {};
    }
    for (;;) {
      std::string_view data;
      if (!caller_.RequestBodyDone()) {
        const absl::StatusOr<size_t> got =
            co_await caller_.ReadRequestBody(piece_.data(), piece_.size());
        if (!TookRequestBody(got)) co_return true;  // out_ says why
        data = std::string_view(piece_.data(), *got);
      }
      const bool last = caller_.RequestBodyDone();
      if (!data.empty() || last) {
        if (!co_await WritePiece(conn, head, data, last)) co_return false;
        head = {};
      }
      if (last) co_return true;
      if (data.size() == piece_.size()) GrowPiece();
    }
  }

  asio::awaitable<bool> WritePiece(Connection& conn, std::string_view head, std::string_view data,
                                   bool last) {
    FramedPiece piece(head, request_.chunked, data, last);
    net::error_code ec;
    piece.Consume(conn.stream.WriteNow(piece.buffers(), ec));
    if (piece.empty()) co_return true;
    if (ec && ec != asio::error::would_block) co_return false;
    conn.deadline.Expire(limits_.idle_timeout);
    std::tie(ec, std::ignore) = co_await asio::async_write(conn.stream, piece.buffers(), kNoThrow);
    conn.deadline.Clear();
    co_return !ec;
  }

  // Accounts for a piece of the request body read into piece_, keeping it for a replay
  // while the whole body fits; false (with out_ saying why) when there was none.
  bool TookRequestBody(const absl::StatusOr<size_t>& got) {
    if (!got.ok()) {
      if (absl::IsCancelled(got.status())) {
        out_.client_gone = true;
      } else {
        out_.failure = got.status();
        out_.caller_failed = true;
      }
      return false;
    }
    out_.request_body_bytes += *got;
    if (replay_complete_ && replay_.size() + *got <= limits_.replay_bytes) {
      replay_.append(piece_.data(), *got);
    } else if (replay_complete_) {
      replay_complete_ = false;
      std::string().swap(replay_);
    }
    return true;
  }

  asio::awaitable<void> RelayResponse(Connection& conn, net::ResponseParser& upstream,
                                      bool request_sent) {
    const net::MessageHead& head = upstream.head();
    out_.status = static_cast<int>(head.status());
    out_.request_id = std::string(head.Value("x-request-id"));

    std::optional<uint64_t> length;
    if (const auto declared = upstream.content_length()) length = *declared;
    const ResponseStart start{.head = head,
                              .content_length = length,
                              .body_follows = !upstream.is_done(),
                              .request_sent = request_sent,
                              .body_at_hand = conn.buffer.size() > 0};
    response_started_ = true;
    std::string().swap(replay_);  // no retry once an answer began: a long stream holds none
    SizePiece(length);
    if (!co_await caller_.WriteHead(start)) {
      out_.client_gone = true;
      co_return;
    }
    if (!upstream.is_done()) {
      observe::GaugeHold stream;
      if (head.Value(bhttp::field::content_type).starts_with("text/event-stream")) {
        stream = observe::GaugeHold(observe::metrics().open_streams);
      }
      // A body already read whole (most JSON answers) leaves nothing to wait for, and so
      // no caller to watch meanwhile.
      const bool watch = !length || *length > conn.buffer.size();
      if (watch) WatchCaller(conn);
      const bool relayed = co_await RelayBody(conn, upstream);
      if (watch && !WithdrawWatch()) co_await caller_.StopWatching();
      if (!relayed || out_.client_gone) co_return;
    }
    // Bytes after a complete answer (a second answer, a body after an answer to HEAD or
    // a 204) answer no request of ours: the connection is closed, never pooled, and an
    // upstream that meant to keep it is not trusted with keep-alive for a while. Over
    // TLS, such bytes may also be held by TLS, read from the socket with the answer's
    // last record.
    const bool keep_alive = request_sent && upstream.keep_alive();
    const Connection::IdleState after =
        conn.buffer.size() > 0 ? Connection::IdleState::kSentBytes : conn.PeekTls();
    if (after == Connection::IdleState::kSentBytes) {
      if (keep_alive) {
        pool_.SentOutOfTurn("bytes after a complete answer");
      } else {
        observe::metrics().upstream_unsolicited.Add();
      }
    }
    connection_reusable_ = keep_alive && after == Connection::IdleState::kQuiet;
  }

  // The upstream agreed to the switch of protocols the request asked for: the connection
  // (conn_) is the Downstream's for the rest of its life (Downstream::Switched), and
  // closed after unless the Downstream kept it.
  asio::awaitable<void> SwitchProtocols(Connection& conn, net::ResponseParser& upstream,
                                        bool request_sent) {
    const net::MessageHead& head = upstream.head();
    out_.status = static_cast<int>(head.status());
    out_.request_id = std::string(head.Value("x-request-id"));
    out_.switched = true;
    response_started_ = true;
    std::string().swap(replay_);
    std::vector<char>().swap(piece_);  // the Downstream moves the bytes from now on
    const ResponseStart start{.head = head,
                              .content_length = std::nullopt,
                              .body_follows = false,
                              .request_sent = request_sent,
                              .body_at_hand = conn.buffer.size() > 0};
    co_await caller_.Switched(start, conn_);
  }

  // Moves the body piece by piece. False if either side failed (out_ says which).
  asio::awaitable<bool> RelayBody(Connection& conn, net::ResponseParser& upstream) {
    waiting_for_ = "data";
    while (!upstream.is_done()) {
      upstream.BodyInto(piece_.data(), piece_.size());
      conn.deadline.Expire(limits_.idle_timeout);
      const net::ReadRoom room(conn.buffer);
      auto [ec, n] = co_await net::ReadSome(conn.stream, conn.buffer, upstream);
      conn.deadline.Clear();
      room.GrowIfFilled(conn.buffer, n, limits_.piece_bytes);
      if (ec && ec != bhttp::error::need_buffer) {
        Cut();
        co_return false;
      }
      const size_t got = piece_.size() - upstream.body_room();
      if (got == 0 && !upstream.is_done()) continue;
      if (!co_await caller_.WriteBody(piece_.data(), got, !upstream.is_done())) {
        out_.client_gone = true;
        co_return false;
      }
      out_.response_body_bytes += got;
      if (got == piece_.size() && !upstream.is_done()) GrowPiece();
    }
    co_return true;
  }

  // While the answer's head is awaited (AttemptOn) and during RelayBody: a caller that
  // leaves ends the upstream call at once (its pending read fails) instead of at the
  // next write. Watching costs the caller's front a system call or two, so it begins
  // only once the upstream has been slow for the queue's delay: a quick call ends
  // before a leaving caller could spare the upstream any work.
  void WatchCaller(Connection& conn) {
    caller_watches_.Add(watch_start_, [this, &conn] {
      caller_.StartWatching([this, &conn] {
        if (!out_.upstream_cut) out_.client_gone = true;  // not just our own cut
        conn.stream.Close();
      });
    });
  }

  // Ends WatchCaller()'s wait. False if the watch began meanwhile: then the caller's
  // StopWatching() is due.
  bool WithdrawWatch() {
    if (!watch_start_.queued()) return false;
    watch_start_.Leave();
    return true;
  }

  // A piece for a body of `length` bytes (nullopt: unknown): the whole body when it fits
  // the limit, so a JSON request or answer moves in one write.
  void SizePiece(std::optional<uint64_t> length) {
    const size_t want = length ? size_t(std::clamp<uint64_t>(*length, 1, limits_.piece_bytes))
                               : std::min(kFirstPieceBytes, limits_.piece_bytes);
    if (want != piece_.size()) std::vector<char>(want).swap(piece_);
  }

  // Doubles the piece, up to the limit, after it came back full: the body is a bulk one.
  void GrowPiece() {
    if (piece_.size() >= limits_.piece_bytes) return;
    piece_.resize(std::min(2 * piece_.size(), limits_.piece_bytes));
  }

  void Cut() {
    if (!out_.client_gone) {
      out_.upstream_cut = true;
      observe::metrics().upstream_error(observe::UpstreamError::kCut).Add();
    }
    caller_.Cut();
  }

  Pool& pool_;
  const ForwardLimits& limits_;
  net::DelayQueue& caller_watches_;
  Downstream& caller_;
  ForwardOutcome& out_;
  net::DelayQueue::Entry watch_start_;  // queued while WatchCaller() waits

  std::vector<char> piece_;  // what moves between the two sides, one piece at a time (SizePiece)
  RequestStart request_;
  WireHead request_head_;
  std::string replay_;                // every request body byte read so far, while it fits
  bool replay_complete_ = true;       // replay_ holds all of them
  std::unique_ptr<Connection> conn_;  // the attempt's
  Clock::time_point started_{};
  std::string_view waiting_for_ = "response";  // names the timeout in messages
  bool response_started_ = false;
  bool connection_reusable_ = false;
};

}  // namespace

asio::awaitable<void> Downstream::Switched(const ResponseStart& /*start*/,
                                           std::unique_ptr<Connection>& /*upstream*/) {
  co_return;
}

asio::awaitable<ForwardOutcome> Forwarder::Run(Downstream& downstream) {
  ForwardOutcome out;
  Exchange exchange(pool_, limits_, caller_watches_, downstream, out);
  co_await exchange.Run();
  co_return out;
}

}  // namespace oa::upstream
