// upstream::Forwarder through a fake Downstream, before an upstream of the test's own: a
// loopback acceptor on the test's io_context that reads each request with Beast and
// answers as the test says. The Forwarder and its upstream::Pool are the real ones, so
// what is checked is what the gateway does: the bytes that reach each side, the outcome's
// fields, which connections go back to the pool and which are closed, and the
// Downstream contract of forwarder.h (every StartWatching() followed by StopWatching()).
//
// Nothing here waits for a timeout: the Forwarder's own are 30 s, and each exchange must
// end within RunUntil's 5 s, so an exchange that would wait for one fails the test.
#include "upstream/forwarder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"
#include "net/delay_queue.h"
#include "observe/metrics.h"
#include "upstream/base_url.h"
#include "upstream/pool.h"

namespace oa::upstream {
namespace {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using net::Clock;
using net::kNoThrow;
using net::tcp;
using Fields = std::vector<std::pair<std::string, std::string>>;

// The value of the first field named `name` (any case), or nullopt.
std::optional<std::string> Find(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (boost::beast::iequals(n, name)) return v;
  }
  return std::nullopt;
}

// Opens once; a coroutine may wait for it before or after it opened.
class Gate {
 public:
  explicit Gate(asio::io_context& io) : timer_(io, asio::steady_timer::time_point::max()) {}
  void Open() {
    open_ = true;
    timer_.cancel();
  }
  asio::awaitable<void> Wait() {
    while (!open_) co_await timer_.async_wait(kNoThrow);
  }

 private:
  asio::steady_timer timer_;
  bool open_ = false;
};

// The caller's side, scripted: a request whose body comes in the pieces given, and an
// answer collected as the Forwarder hands it over, with every call on it counted.
class FakeDownstream final : public Downstream {
 public:
  // A request to `target` with a body of `pieces` (none: no body), framed by its length
  // or, when `chunked`, in chunks.
  FakeDownstream(asio::io_context& io, std::string method, std::string target,
                 std::vector<std::string> pieces = {}, bool chunked = false)
      : io_(io),
        method_(std::move(method)),
        target_(std::move(target)),
        pieces_(std::move(pieces)),
        chunked_(chunked) {}

  RequestStart PrepareRequest(WireHead& head) override {
    head.RequestLine(method_, target_);
    head.Add("Authorization", "Bearer test-forwarder-key");
    head.Add("X-Caller", "fake");
    RequestStart start;
    if (chunked_) {
      start.chunked = true;
    } else if (!pieces_.empty()) {
      uint64_t length = 0;
      for (const std::string& piece : pieces_) length += piece.size();
      start.content_length = length;
    }
    return start;
  }
  asio::awaitable<bool> BeforeSend() override {
    ++before_send;
    co_return !gone_before_send;
  }
  bool RequestBodyDone() const override { return next_ == pieces_.size(); }
  bool RequestBodyAtHand() const override { return body_at_hand; }
  asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece, size_t size) override {
    ++body_reads;
    if (fail && fail->first == next_) co_return fail->second;
    if (!body_at_hand) {
      // A caller whose bytes are still on their way: the Forwarder waits for them, here
      // until the upstream has the request's head when the test asks for that.
      if (body_waits_for) co_await body_waits_for->Wait();
      co_await asio::post(io_, asio::use_awaitable);
    }
    const std::string_view rest = std::string_view(pieces_[next_]).substr(offset_);
    const size_t n = std::min(size, rest.size());
    std::memcpy(piece, rest.data(), n);
    offset_ += n;
    if (offset_ == pieces_[next_].size()) {
      ++next_;
      offset_ = 0;
    }
    co_return n;
  }
  asio::awaitable<bool> WriteHead(const ResponseStart& start) override {
    ++heads;
    status = static_cast<int>(start.head.status());
    for (const net::HeadField field : start.head.fields()) {
      headers.emplace_back(std::string(field.name), std::string(field.value));
    }
    content_length = start.content_length;
    body_follows = start.body_follows;
    request_sent = start.request_sent;
    body_at_hand_with_head = start.body_at_hand;
    co_return !gone_at_head;
  }
  asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) override {
    if (gone_at_body) co_return false;
    body.append(data, size);
    more_flags.push_back(more);
    if (on_body) on_body();
    co_return true;
  }
  void StartWatching(std::function<void()> on_gone) override {
    EXPECT_FALSE(watching_) << "a watch began before the last one's StopWatching()";
    watching_ = true;
    ++watches_started;
    if (leaves_while_watched) {
      asio::post(io_, [this, on_gone = std::move(on_gone), watch = watches_started] {
        if (watching_ && watch == watches_started) on_gone();
      });
    }
  }
  asio::awaitable<void> StopWatching() override {
    EXPECT_TRUE(watching_) << "StopWatching() without a watch";
    watching_ = false;
    ++watches_stopped;
    co_return;
  }
  void Cut() override { ++cuts; }

  // How the caller behaves.
  bool body_at_hand = true;
  Gate* body_waits_for = nullptr;  // with !body_at_hand: the body waits for this gate
  std::optional<std::pair<size_t, absl::Status>> fail;  // reading piece `first` fails so
  bool gone_before_send = false;
  bool gone_at_head = false;
  bool gone_at_body = false;
  bool leaves_while_watched = false;
  std::function<void()> on_body;  // after each piece it took

  // What it saw.
  int before_send = 0;
  int body_reads = 0;
  int heads = 0;
  int status = 0;
  Fields headers;
  std::optional<uint64_t> content_length;
  bool body_follows = false;
  bool request_sent = false;
  bool body_at_hand_with_head = false;
  std::string body;
  std::vector<bool> more_flags;  // of each piece it took
  int watches_started = 0;
  int watches_stopped = 0;
  int cuts = 0;

 private:
  asio::io_context& io_;
  std::string method_;
  std::string target_;
  std::vector<std::string> pieces_;
  bool chunked_;
  size_t next_ = 0;    // the piece the next read gives from
  size_t offset_ = 0;  // in it
  bool watching_ = false;
};

// A request as the upstream read it.
struct Seen {
  int connection = 0;     // the upstream's connections count from 1, in accept order
  int on_connection = 0;  // the requests of one connection count from 1
  std::string method;
  std::string target;
  Fields headers;
  bool chunked = false;
  std::string body;
  bool complete = false;  // read whole; else the connection ended inside it
};

// What an answer of the upstream does; false ends the connection (the upstream closes it).
using Answer = std::function<asio::awaitable<bool>(tcp::socket&, const Seen&)>;

asio::awaitable<bool> Send(tcp::socket& socket, std::string bytes) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), kNoThrow);
  co_return !ec;
}

std::string JsonAnswer(std::string_view json, std::string_view extra_fields = {}) {
  return StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", extra_fields,
                "Content-Length: ", json.size(), "\r\n\r\n", json);
}

constexpr std::string_view kJson = R"({"id":"chatcmpl-1","object":"chat.completion"})";

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderTest() {
    limits_.first_byte_timeout = absl::Seconds(30);
    limits_.idle_timeout = absl::Seconds(30);
    asio::co_spawn(io_, Accept(), asio::detached);
  }

  // Runs one exchange through `pool` to its end.
  ForwardOutcome Forward(FakeDownstream& caller, Pool& pool) {
    std::optional<ForwardOutcome> out;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          Forwarder forwarder(pool, limits_, caller_watches_);
          out = co_await forwarder.Run(caller);
        },
        [](const std::exception_ptr& e) {
          if (e) std::rethrow_exception(e);
        });
    EXPECT_TRUE(RunUntil([&] { return out.has_value(); })) << "the exchange did not end";
    EXPECT_EQ(caller.watches_started, caller.watches_stopped);
    return out.value_or(ForwardOutcome{});
  }
  ForwardOutcome Forward(FakeDownstream& caller) { return Forward(caller, pool_); }

  // Runs the loop until `done` holds, for 5 s at most; whether it holds.
  bool RunUntil(const std::function<bool()>& done) {
    io_.restart();
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(5);
    while (!done()) {
      const Clock::time_point now = Clock::now();
      if (now >= give_up) return false;
      io_.run_one_for(give_up - now);
    }
    return true;
  }

  // Waits until the upstream has seen connection `id` closed by the gateway.
  bool ClosedByGateway(int id) {
    return RunUntil([&] { return std::find(closed_.begin(), closed_.end(), id) != closed_.end(); });
  }

  std::string HostHeader() const { return StrCat("127.0.0.1:", acceptor_.local_endpoint().port()); }
  static uint64_t Cuts() {
    return observe::metrics().upstream_error(observe::UpstreamError::kCut).value();
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  UpstreamTrust trust_;
  net::DelayQueue rest_{io_.get_executor(), absl::Milliseconds(20)};  // the worker's delay
  // Every caller is watched from the start, so that each exchange keeps the watch's
  // contract rather than ending before the watch would begin.
  net::DelayQueue caller_watches_{io_.get_executor(), absl::ZeroDuration()};
  ForwardLimits limits_;
  Pool pool_{*BaseUrl::Parse(StrCat("http://", HostHeader(), "/base/v1")), nullptr,
             PoolOptions{.max_idle = 4, .connect_timeout = absl::Seconds(30)}, trust_, rest_};

  // The upstream: how it answers, what it read, what it saw.
  Answer answer_ = [](tcp::socket& socket, const Seen&) -> asio::awaitable<bool> {
    co_return co_await Send(socket, JsonAnswer(kJson));
  };
  Gate* head_arrived_ = nullptr;  // opened when the upstream has read a request's head
  int accepted_ = 0;
  std::vector<Seen> seen_;
  std::vector<int> closed_;  // connections the upstream saw end before a request did

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io_, Serve(std::move(socket), ++accepted_), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket, int id) {
    boost::beast::flat_buffer buffer;
    for (int index = 1;; ++index) {
      bhttp::request_parser<bhttp::string_body> parser;
      auto [ec, n] = co_await bhttp::async_read_header(socket, buffer, parser, kNoThrow);
      if (!ec) {
        if (head_arrived_ != nullptr) head_arrived_->Open();
        if (!parser.is_done()) {
          std::tie(ec, n) = co_await bhttp::async_read(socket, buffer, parser, kNoThrow);
        }
      }
      if (ec) {
        if (parser.is_header_done()) seen_.push_back(Describe(parser, id, index, false));
        closed_.push_back(id);
        co_return;
      }
      const Seen seen = Describe(parser, id, index, true);
      seen_.push_back(seen);
      if (!co_await answer_(socket, seen)) co_return;  // the socket closes with the frame
    }
  }

  static Seen Describe(bhttp::request_parser<bhttp::string_body>& parser, int id, int index,
                       bool complete) {
    const auto& request = parser.get();
    Seen seen{.connection = id,
              .on_connection = index,
              .method = std::string(request.method_string()),
              .target = std::string(request.target()),
              .headers = {},
              .chunked = parser.chunked(),
              .body = request.body(),
              .complete = complete};
    for (const auto& field : request) {
      seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return seen;
  }
};

TEST_F(ForwarderTest, AJsonAnswerReachesTheCallerWholeWithItsStatusAndRequestId) {
  answer_ = [](tcp::socket& socket, const Seen&) -> asio::awaitable<bool> {
    co_return co_await Send(socket, JsonAnswer(kJson, "x-request-id: req_abc123\r\n"));
  };
  const std::string request = R"({"model":"m","messages":[]})";
  FakeDownstream caller(io_, "POST", "/base/v1/chat/completions", {request});
  const ForwardOutcome out = Forward(caller);

  EXPECT_FALSE(out.failure.has_value()) << out.failure->ToString();
  EXPECT_FALSE(out.caller_failed);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.request_id, "req_abc123");
  EXPECT_EQ(out.request_body_bytes, request.size());
  EXPECT_EQ(out.response_body_bytes, kJson.size());
  EXPECT_TRUE(out.upstream_first_byte.has_value());
  EXPECT_FALSE(out.client_gone);
  EXPECT_FALSE(out.upstream_cut);
  EXPECT_FALSE(out.retried);

  // The caller got the head as the upstream sent it, then the body whole, ended.
  EXPECT_EQ(caller.before_send, 1);
  EXPECT_EQ(caller.heads, 1);
  EXPECT_EQ(caller.status, 200);
  EXPECT_EQ(Find(caller.headers, "x-request-id"), "req_abc123");
  EXPECT_EQ(Find(caller.headers, "content-type"), "application/json");
  EXPECT_EQ(caller.content_length, kJson.size());
  EXPECT_TRUE(caller.body_follows);
  EXPECT_TRUE(caller.request_sent);
  EXPECT_TRUE(caller.body_at_hand_with_head);  // written in one piece, read with the head
  EXPECT_EQ(caller.body, kJson);
  ASSERT_FALSE(caller.more_flags.empty());
  EXPECT_FALSE(caller.more_flags.back());
  EXPECT_EQ(caller.cuts, 0);

  // The upstream got the request as the caller framed it, with the upstream's Host.
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].complete);
  EXPECT_EQ(seen_[0].method, "POST");
  EXPECT_EQ(seen_[0].target, "/base/v1/chat/completions");
  EXPECT_EQ(Find(seen_[0].headers, "host"), HostHeader());
  EXPECT_EQ(Find(seen_[0].headers, "authorization"), "Bearer test-forwarder-key");
  EXPECT_EQ(Find(seen_[0].headers, "x-caller"), "fake");
  EXPECT_EQ(Find(seen_[0].headers, "content-length"), std::to_string(request.size()));
  EXPECT_EQ(seen_[0].body, request);

  // Its connection ended cleanly: kept for the next exchange.
  EXPECT_EQ(pool_.open_connections(), 1);
  EXPECT_TRUE(closed_.empty());
}

TEST_F(ForwarderTest, ARequestBodyGivenInPiecesArrivesWholeWithItsLength) {
  const std::vector<std::string> pieces = {R"({"model":"m",)", R"("input":)",
                                           R"("several pieces"})"};
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", pieces);
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.status, 200);
  const std::string whole = pieces[0] + pieces[1] + pieces[2];
  EXPECT_EQ(out.request_body_bytes, whole.size());
  EXPECT_EQ(caller.body_reads, 3);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].complete);
  EXPECT_FALSE(seen_[0].chunked);
  EXPECT_EQ(Find(seen_[0].headers, "content-length"), std::to_string(whole.size()));
  EXPECT_EQ(seen_[0].body, whole);
}

TEST_F(ForwarderTest, ARequestBodyGivenInPiecesArrivesWholeInChunks) {
  const std::vector<std::string> pieces = {"first,", std::string(3000, 'x'), ",last"};
  FakeDownstream caller(io_, "POST", "/base/v1/uploads", pieces, /*chunked=*/true);
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.status, 200);
  const std::string whole = pieces[0] + pieces[1] + pieces[2];
  EXPECT_EQ(out.request_body_bytes, whole.size());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].complete);
  EXPECT_TRUE(seen_[0].chunked);
  EXPECT_EQ(Find(seen_[0].headers, "transfer-encoding"), "chunked");
  EXPECT_EQ(Find(seen_[0].headers, "content-length"), std::nullopt);
  EXPECT_EQ(seen_[0].body, whole);
}

// A body still to come finds the request's head upstream already: here the caller's body
// waits until the upstream has read the head, so a Forwarder that held the head back for
// the first piece would never end.
TEST_F(ForwarderTest, TheHeadGoesUpstreamBeforeABodyThatIsSlowToCome) {
  Gate head_arrived(io_);
  head_arrived_ = &head_arrived;
  const std::vector<std::string> pieces = {R"({"input":)", R"("late"})"};
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", pieces);
  caller.body_at_hand = false;
  caller.body_waits_for = &head_arrived;
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.status, 200);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].body, pieces[0] + pieces[1]);
}

// Each piece reaches the caller as it arrives (an SSE stream stays live): the upstream
// sends its second chunk only once the caller has the first.
TEST_F(ForwarderTest, AChunkedAnswerReachesTheCallerPieceByPieceAsItArrives) {
  Gate caller_has_first(io_);
  answer_ = [&](tcp::socket& socket, const Seen&) -> asio::awaitable<bool> {
    if (!co_await Send(socket,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       "d\r\ndata: first\n\n\r\n")) {
      co_return false;
    }
    co_await caller_has_first.Wait();
    co_return co_await Send(socket, "e\r\ndata: second\n\n\r\n0\r\n\r\n");
  };
  FakeDownstream caller(io_, "GET", "/base/v1/stream");
  caller.on_body = [&] {
    if (caller.body.find("data: first\n\n") != std::string::npos) caller_has_first.Open();
  };
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.request_id, "");  // the upstream sent none
  EXPECT_EQ(out.response_body_bytes, 27u);
  EXPECT_FALSE(out.upstream_cut);
  EXPECT_EQ(caller.content_length, std::nullopt);
  EXPECT_TRUE(caller.body_follows);
  EXPECT_EQ(caller.body, "data: first\n\ndata: second\n\n");  // the chunks' framing undone
  ASSERT_GE(caller.more_flags.size(), 2u);
  for (size_t i = 0; i + 1 < caller.more_flags.size(); ++i) EXPECT_TRUE(caller.more_flags[i]) << i;
  EXPECT_FALSE(caller.more_flags.back());
  EXPECT_EQ(caller.cuts, 0);
  // A GET has no body: none was framed or read.
  EXPECT_EQ(caller.body_reads, 0);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(Find(seen_[0].headers, "content-length"), std::nullopt);
  EXPECT_EQ(Find(seen_[0].headers, "transfer-encoding"), std::nullopt);
  EXPECT_EQ(pool_.open_connections(), 1);  // the last chunk ended it cleanly: kept
}

TEST_F(ForwarderTest, AnUpstreamThatClosesMidBodyCutsTheAnswer) {
  answer_ = [](tcp::socket& socket, const Seen&) -> asio::awaitable<bool> {
    co_await Send(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    co_return false;  // and closes, 90 bytes short
  };
  const uint64_t cuts_before = Cuts();
  FakeDownstream caller(io_, "GET", "/base/v1/files/f/content");
  const ForwardOutcome out = Forward(caller);
  // The answer had started: no failure for the front to answer, a cut for the caller.
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_TRUE(out.upstream_cut);
  EXPECT_FALSE(out.client_gone);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.response_body_bytes, 10u);
  EXPECT_EQ(caller.heads, 1);
  EXPECT_EQ(caller.content_length, 100u);
  EXPECT_EQ(caller.body, "0123456789");
  EXPECT_EQ(caller.cuts, 1);
  for (const bool more : caller.more_flags) EXPECT_TRUE(more);  // never a clean end
  EXPECT_EQ(Cuts(), cuts_before + 1);
  EXPECT_EQ(pool_.open_connections(), 0);
}

TEST_F(ForwarderTest, AnUpstreamThatCannotBeReachedIsAFailureNotTheCallers) {
  // A port bound but not listening: connecting is refused, and no other process can
  // listen there meanwhile.
  tcp::socket reserved(io_);
  reserved.open(tcp::v4());
  reserved.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string host = StrCat("127.0.0.1:", reserved.local_endpoint().port());
  Pool unreachable(*BaseUrl::Parse(StrCat("http://", host, "/v1")), nullptr,
                   PoolOptions{.connect_timeout = absl::Seconds(30)}, trust_, rest_);
  FakeDownstream caller(io_, "POST", "/v1/chat/completions", {R"({"model":"m"})"});
  const ForwardOutcome out = Forward(caller, unreachable);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.failure->code(), absl::StatusCode::kUnavailable) << out.failure->ToString();
  EXPECT_NE(out.failure->message().find(StrCat("connecting to upstream ", host, " failed")),
            std::string::npos)
      << out.failure->message();
  EXPECT_FALSE(out.caller_failed);
  EXPECT_FALSE(out.client_gone);
  EXPECT_EQ(out.status, 0);
  // Nothing was taken from the caller or written to it: the front answers with its own.
  EXPECT_EQ(caller.body_reads, 0);
  EXPECT_EQ(out.request_body_bytes, 0u);
  EXPECT_EQ(caller.heads, 0);
  EXPECT_EQ(unreachable.open_connections(), 0);
}

TEST_F(ForwarderTest, AWorkerAtItsConnectionCapIsResourceExhaustedWithoutConnecting) {
  Pool capped(*BaseUrl::Parse(StrCat("http://", HostHeader(), "/v1")), nullptr,
              PoolOptions{.max_connections = 0}, trust_, rest_);
  FakeDownstream caller(io_, "GET", "/v1/models");
  const ForwardOutcome out = Forward(caller, capped);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.failure->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(out.caller_failed);
  EXPECT_EQ(caller.heads, 0);
  EXPECT_EQ(accepted_, 0);
}

TEST_F(ForwarderTest, ACallerWhoseBodyFailsIsTheCallersFailure) {
  const std::vector<std::string> pieces = {R"({"input":)", R"("never sent"})"};
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", pieces);
  const absl::Status broken = absl::InvalidArgumentError("broken chunk framing");
  caller.fail = {1, broken};
  const ForwardOutcome out = Forward(caller);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(*out.failure, broken);  // as the Downstream said it, for the front's 400
  EXPECT_TRUE(out.caller_failed);
  EXPECT_FALSE(out.client_gone);
  EXPECT_EQ(out.status, 0);
  EXPECT_EQ(out.request_body_bytes, pieces[0].size());
  EXPECT_EQ(caller.heads, 0);
  // The upstream got the head and the first piece, then the connection's end: a request
  // it cannot take for whole.
  ASSERT_TRUE(ClosedByGateway(1));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_FALSE(seen_[0].complete);
  EXPECT_EQ(seen_[0].body, pieces[0]);
  EXPECT_EQ(pool_.open_connections(), 0);
}

TEST_F(ForwarderTest, ACallerLeavingMidBodyIsGoneNotFailed) {
  const std::vector<std::string> pieces = {R"({"input":)", R"("never sent"})"};
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", pieces);
  caller.fail = {1, absl::CancelledError("the client left")};
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_FALSE(out.caller_failed);
  EXPECT_TRUE(out.client_gone);
  EXPECT_EQ(caller.heads, 0);
  ASSERT_TRUE(ClosedByGateway(1));
  EXPECT_EQ(pool_.open_connections(), 0);
}

TEST_F(ForwarderTest, ACallerGoneBeforeSendingCostsNoConnection) {
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", {"{}"});
  caller.gone_before_send = true;
  const ForwardOutcome out = Forward(caller);
  EXPECT_TRUE(out.client_gone);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(caller.body_reads, 0);
  EXPECT_EQ(accepted_, 0);
}

// The client left while the answer streamed: the exchange stops there, and its connection,
// with the rest of that answer still to come on it, is closed rather than pooled.
TEST_F(ForwarderTest, ACallerGoneMidAnswerStopsTheExchangeAndItsConnectionIsNotKept) {
  answer_ = [](tcp::socket& socket, const Seen& seen) -> asio::awaitable<bool> {
    if (seen.connection > 1) co_return co_await Send(socket, JsonAnswer(kJson));
    co_return co_await Send(socket, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
  };
  const uint64_t cuts_before = Cuts();
  FakeDownstream caller(io_, "GET", "/base/v1/files/f/content");
  caller.gone_at_body = true;
  const ForwardOutcome out = Forward(caller);
  EXPECT_TRUE(out.client_gone);
  EXPECT_FALSE(out.upstream_cut);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.response_body_bytes, 0u);  // the piece it refused is not counted
  EXPECT_EQ(caller.heads, 1);
  EXPECT_EQ(caller.cuts, 0);  // the caller's leaving is no upstream cut
  EXPECT_EQ(Cuts(), cuts_before);
  EXPECT_EQ(pool_.open_connections(), 0);
  ASSERT_TRUE(ClosedByGateway(1));

  // The next exchange gets a connection of its own.
  FakeDownstream next(io_, "GET", "/base/v1/models");
  const ForwardOutcome after = Forward(next);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(next.body, kJson);
  EXPECT_EQ(accepted_, 2);
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].connection, 2);
}

TEST_F(ForwarderTest, ACallerGoneAtTheHeadStopsTheExchangeAndItsConnectionIsNotKept) {
  FakeDownstream caller(io_, "GET", "/base/v1/models");
  caller.gone_at_head = true;
  const ForwardOutcome out = Forward(caller);
  EXPECT_TRUE(out.client_gone);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(out.response_body_bytes, 0u);
  EXPECT_TRUE(caller.body.empty());
  EXPECT_EQ(pool_.open_connections(), 0);
  ASSERT_TRUE(ClosedByGateway(1));
}

// A caller that leaves while the upstream has not answered yet ends the upstream call at
// once, through the watch, rather than at the first-byte timeout (30 s here).
TEST_F(ForwarderTest, ACallerLeavingWhileTheUpstreamThinksClosesTheUpstreamCall) {
  answer_ = [](tcp::socket&, const Seen&) -> asio::awaitable<bool> {
    co_return true;  // no answer: the upstream thinks until the connection ends
  };
  FakeDownstream caller(io_, "POST", "/base/v1/chat/completions", {R"({"model":"m"})"});
  caller.leaves_while_watched = true;
  const ForwardOutcome out = Forward(caller);
  EXPECT_TRUE(out.client_gone);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_FALSE(out.upstream_cut);
  EXPECT_EQ(caller.heads, 0);
  EXPECT_EQ(caller.watches_started, 1);
  ASSERT_TRUE(ClosedByGateway(1));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(seen_[0].complete);  // it had the whole request
  EXPECT_EQ(pool_.open_connections(), 0);
}

TEST_F(ForwarderTest, AConnectionIsReusedForTheNextExchangeAfterACompleteAnswer) {
  FakeDownstream first(io_, "POST", "/base/v1/embeddings", {R"({"input":"one"})"});
  const ForwardOutcome one = Forward(first);
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(pool_.open_connections(), 1);
  FakeDownstream second(io_, "GET", "/base/v1/models");
  const ForwardOutcome two = Forward(second);
  EXPECT_EQ(two.status, 200);
  EXPECT_FALSE(two.retried);
  EXPECT_EQ(second.body, kJson);
  EXPECT_EQ(accepted_, 1);
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].connection, 1);
  EXPECT_EQ(seen_[1].on_connection, 2);
  EXPECT_EQ(pool_.open_connections(), 1);
  EXPECT_TRUE(closed_.empty());
}

TEST_F(ForwarderTest, AnAnswerWithConnectionCloseLeavesNoConnectionToReuse) {
  answer_ = [](tcp::socket& socket, const Seen&) -> asio::awaitable<bool> {
    co_return co_await Send(socket, JsonAnswer(kJson, "Connection: close\r\n"));
  };
  FakeDownstream first(io_, "GET", "/base/v1/models");
  EXPECT_EQ(Forward(first).status, 200);
  EXPECT_EQ(first.body, kJson);
  EXPECT_EQ(pool_.open_connections(), 0);
  ASSERT_TRUE(ClosedByGateway(1));
  FakeDownstream second(io_, "GET", "/base/v1/models");
  EXPECT_EQ(Forward(second).status, 200);
  EXPECT_EQ(accepted_, 2);
}

// A pooled connection that fails before any answer (the upstream read the request, then
// closed it) is retried once on a new connection, with the body kept for the replay.
TEST_F(ForwarderTest, APooledConnectionThatDiesBeforeAnsweringIsRetriedOnANewOne) {
  answer_ = [](tcp::socket& socket, const Seen& seen) -> asio::awaitable<bool> {
    if (seen.connection == 1 && seen.on_connection == 2) co_return false;  // closes, mute
    co_return co_await Send(socket, JsonAnswer(kJson));
  };
  FakeDownstream first(io_, "GET", "/base/v1/models");
  ASSERT_EQ(Forward(first).status, 200);
  const uint64_t retries_before = observe::metrics().upstream_retries.value();
  const std::string body = R"({"input":"replay me"})";
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", {body});
  const ForwardOutcome out = Forward(caller);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_TRUE(out.retried);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.request_body_bytes, body.size());  // read once from the caller
  EXPECT_EQ(caller.body_reads, 1);
  EXPECT_EQ(caller.body, kJson);
  EXPECT_EQ(observe::metrics().upstream_retries.value(), retries_before + 1);
  EXPECT_EQ(accepted_, 2);
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_EQ(seen_[1].connection, 1);
  EXPECT_EQ(seen_[1].body, body);
  EXPECT_EQ(seen_[2].connection, 2);
  EXPECT_EQ(seen_[2].body, body);
}

TEST_F(ForwarderTest, AFreshConnectionThatDiesBeforeAnsweringIsNotRetried) {
  answer_ = [](tcp::socket&, const Seen&) -> asio::awaitable<bool> { co_return false; };
  FakeDownstream caller(io_, "POST", "/base/v1/embeddings", {"{}"});
  const ForwardOutcome out = Forward(caller);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.failure->code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(out.failure->message().find("closed the connection without answering"),
            std::string::npos)
      << out.failure->message();
  EXPECT_FALSE(out.caller_failed);
  EXPECT_FALSE(out.retried);
  EXPECT_EQ(caller.heads, 0);
  EXPECT_EQ(accepted_, 1);
  EXPECT_EQ(seen_.size(), 1u);
}

}  // namespace
}  // namespace oa::upstream
