// Fuzzes the upstream side of the relay (upstream::Pool and upstream::Forwarder, in
// process) with arbitrary upstream byte streams, and checks the isolation invariant: no
// byte the upstream sent for one exchange reaches the caller of another, and a connection
// that got bytes out of turn is never used again.
//
// The input is a script of up to eight exchanges, run one after the other through one
// pool. Each record: [flags][length][reply bytes]. Flags: bits 0-1 the method (GET, HEAD,
// POST with a body, DELETE); bit 2: after the exchange, the upstream writes a stray
// answer to the idle connection; bit 3: the upstream closes the connection after its
// reply; bit 4: the reply goes in two writes, with the gateway's loop run in between.
// The upstream, a socket server in the same io_context, answers request i with the
// record's reply bytes, where every '#' becomes exchange i's tag byte (0xf0 + i); bytes
// of the input that are tags already become '.', so only '#' makes them. A reply that is
// not a complete answer (as Beast reads it) is followed by the upstream closing, so that
// nothing waits for a timeout.
//
// What must hold, besides no crash, leak or undefined behaviour:
//   - the head and body that reach exchange i's caller hold no other exchange's tag;
//   - after a reply with bytes past its complete answer, or stray bytes while idle, the
//     next exchange does not go on that connection;
//   - an answer relayed whole is the one Beast reads from the reply: status and body;
//   - no exchange waits for a timeout.
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "fuzz_support.h"
#include "net/delay_queue.h"
#include "observe/log.h"
#include "upstream/base_url.h"
#include "upstream/forwarder.h"
#include "upstream/pool.h"

namespace oa::fuzz {
namespace {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using net::kNoThrow;
using net::tcp;

constexpr int kMaxExchanges = 8;
constexpr unsigned char kTagBase = 0xf0;
constexpr auto kTooLong = std::chrono::seconds(1);
constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "DELETE"};

char Tag(int exchange) { return static_cast<char>(kTagBase + exchange); }
int TagOf(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= kTagBase && byte < kTagBase + kMaxExchanges ? byte - kTagBase : -1;
}

struct Exchange {
  std::string_view method;
  bool stray_after = false;
  bool close_after = false;
  bool split = false;
  std::string reply;  // with exchange's tags in place
};

std::vector<Exchange> ReadScript(std::string_view input) {
  std::vector<Exchange> script;
  while (input.size() >= 2 && script.size() < kMaxExchanges) {
    const auto flags = static_cast<unsigned char>(input[0]);
    const size_t length = std::min<size_t>(static_cast<unsigned char>(input[1]), input.size() - 2);
    Exchange e;
    e.method = kMethods[flags & 3];
    e.stray_after = (flags & 4) != 0;
    e.close_after = (flags & 8) != 0;
    e.split = (flags & 16) != 0;
    for (char c : input.substr(2, length)) {
      if (c == '#') {
        e.reply += Tag(static_cast<int>(script.size()));
      } else {
        e.reply += TagOf(c) >= 0 ? '.' : c;
      }
    }
    input.remove_prefix(2 + length);
    script.push_back(std::move(e));
  }
  return script;
}

// The first final answer Beast reads from `reply` (after any interim ones), and where
// it ends; nullopt when there is none, whole.
struct Parsed {
  int status = 0;
  std::string body;
  size_t end = 0;
};
std::optional<Parsed> ParseReply(std::string_view reply, bool head) {
  size_t pos = 0;
  for (int interim = 0; interim < 16; ++interim) {
    bhttp::response_parser<bhttp::string_body> p;
    p.eager(true);
    p.skip(head);
    p.header_limit(64 * 1024);
    p.body_limit(1 << 20);
    net::error_code ec;
    while (!p.is_done() && pos < reply.size()) {
      const size_t used = p.put(asio::buffer(reply.data() + pos, reply.size() - pos), ec);
      pos += used;
      if (ec || used == 0) break;
    }
    if (!p.is_done()) return std::nullopt;  // cut short, malformed, or ends at close
    const int status = p.get().result_int();
    if (status / 100 == 1 && status != 101) continue;
    return Parsed{status, p.get().body(), pos};
  }
  return std::nullopt;
}

// The caller's side: a request with a unique target, an answer collected whole.
class Caller final : public upstream::Downstream {
 public:
  Caller(int index, std::string_view method) : index_(index), method_(method) {
    if (method_ == "POST") body_ = StrCat(R"({"exchange":)", index_, "}");
  }

  upstream::RequestStart PrepareRequest(upstream::WireHead& head) override {
    head.RequestLine(method_, StrCat("/base/v1/fuzz/", index_));
    head.Add(bhttp::field::authorization, StrCat("Bearer key-", index_));
    upstream::RequestStart start;
    start.head_method = method_ == "HEAD";
    if (!body_.empty()) start.content_length = body_.size();
    return start;
  }
  asio::awaitable<bool> BeforeSend() override { co_return true; }
  bool RequestBodyDone() const override { return sent_ == body_.size(); }
  bool RequestBodyAtHand() const override { return true; }
  asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece, size_t size) override {
    const size_t n = std::min(size, body_.size() - sent_);
    std::memcpy(piece, body_.data() + sent_, n);
    sent_ += n;
    co_return n;
  }
  asio::awaitable<bool> WriteHead(const upstream::ResponseStart& start) override {
    status = static_cast<int>(start.head.status());
    for (const net::HeadField field : start.head.fields()) {
      seen += StrCat(field.name, ": ", field.value, "\n");
    }
    co_return true;
  }
  asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) override {
    body.append(data, size);
    seen.append(data, size);
    complete = !more;
    co_return true;
  }
  void StartWatching(std::function<void()>) override {}
  asio::awaitable<void> StopWatching() override { co_return; }
  void Cut() override { cut = true; }

  int status = 0;
  std::string body;
  std::string seen;  // head fields and body, as the caller got them
  bool complete = false;
  bool cut = false;

 private:
  int index_;
  std::string_view method_;
  std::string body_;
  size_t sent_ = 0;
};

class World {
 public:
  World() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    observe::SetLogLevel(observe::LogLevel::kOff);
    limits_.first_byte_timeout = absl::Seconds(3);
    limits_.idle_timeout = absl::Seconds(3);
    asio::co_spawn(io_, Accept(), asio::detached);
  }

  void Run(std::string_view input) {
    script_ = ReadScript(input);
    if (script_.empty()) return;
    connection_of_.clear();
    upstream::UpstreamTrust trust;
    upstream::Pool pool(*upstream::BaseUrl::Parse(StrCat(
                            "http://127.0.0.1:", acceptor_.local_endpoint().port(), "/base/v1")),
                        nullptr, {.max_idle = 4, .connect_timeout = absl::Seconds(3)}, trust,
                        caller_watches_);
    int last_connection = -1;
    bool last_anomalous = false;
    for (int i = 0; i < static_cast<int>(script_.size()); ++i) {
      const Exchange& e = script_[static_cast<size_t>(i)];
      Caller caller(i, e.method);
      upstream::ForwardOutcome out;
      bool done = false;
      const auto start = std::chrono::steady_clock::now();
      asio::co_spawn(
          io_,
          [&]() -> asio::awaitable<void> {
            upstream::Forwarder forwarder(pool, limits_, caller_watches_);
            out = co_await forwarder.Run(caller);
          },
          [&](std::exception_ptr) { done = true; });
      io_.restart();
      while (!done) io_.run_one();
      io_.poll();
      const auto elapsed = std::chrono::steady_clock::now() - start;
      FUZZ_CHECK(elapsed < kTooLong, "exchange %d took %lld ms: it waited for a timeout", i,
                 static_cast<long long>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));

      // Only this exchange's tags reach its caller.
      for (const char c : caller.seen) {
        const int tag = TagOf(c);
        FUZZ_CHECK(tag < 0 || tag == i, "exchange %d's caller got a byte of exchange %d: '%s'", i,
                   tag, Show(caller.seen).c_str());
      }
      // A connection that got bytes out of turn carries no other exchange.
      const auto on = connection_of_.find(i);
      if (on != connection_of_.end()) {
        FUZZ_CHECK(!(last_anomalous && on->second == last_connection),
                   "exchange %d went on connection %d, which got bytes out of turn", i, on->second);
      }
      // What is relayed whole is what the upstream answered, as Beast reads it.
      const std::optional<Parsed> parsed = ParseReply(e.reply, e.method == "HEAD");
      if (!out.failure && caller.complete && !caller.cut && parsed) {
        FUZZ_CHECK(caller.status == parsed->status && caller.body == parsed->body,
                   "exchange %d relayed %d '%s' for %d '%s'", i, caller.status,
                   Show(caller.body).c_str(), parsed->status, Show(parsed->body).c_str());
      }
      last_anomalous = e.stray_after || (parsed && parsed->end < e.reply.size());
      last_connection = on != connection_of_.end() ? on->second : -1;
      // The stray answer, written while the connection is idle (if it still is).
      if (e.stray_after && stray_to_) {
        const std::string stray = StrCat("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", Tag(i));
        net::error_code ignored;
        asio::write(*stray_to_, asio::buffer(stray), ignored);
      }
      stray_to_ = nullptr;
    }
    io_.restart();
    io_.poll();  // let the pool's watches and the upstream's readers see their ends
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io_, Serve(std::make_shared<tcp::socket>(std::move(socket)), ++connections_),
                     asio::detached);
    }
  }

  // Reads requests one at a time; answers each with its exchange's reply.
  asio::awaitable<void> Serve(std::shared_ptr<tcp::socket> socket, int id) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      auto [ec, n] = co_await bhttp::async_read(*socket, buffer, parser, kNoThrow);
      if (ec) co_return;
      const std::string target(parser.get().target());
      const int index = std::atoi(target.substr(target.rfind('/') + 1).c_str());
      if (index < 0 || index >= static_cast<int>(script_.size())) co_return;
      connection_of_[index] = id;
      const Exchange& e = script_[static_cast<size_t>(index)];
      net::error_code wec;
      if (e.split && e.reply.size() > 1) {
        const size_t half = e.reply.size() / 2;
        co_await asio::async_write(*socket, asio::buffer(e.reply.data(), half), kNoThrow);
        co_await asio::post(io_, asio::use_awaitable);
        std::tie(wec, std::ignore) = co_await asio::async_write(
            *socket, asio::buffer(e.reply.data() + half, e.reply.size() - half), kNoThrow);
      } else {
        std::tie(wec, std::ignore) =
            co_await asio::async_write(*socket, asio::buffer(e.reply), kNoThrow);
      }
      if (wec) co_return;
      // A reply that is no whole answer ends with the connection, so nothing waits.
      if (e.close_after || !ParseReply(e.reply, e.method == "HEAD")) {
        socket->shutdown(tcp::socket::shutdown_send, wec);
        co_return;
      }
      stray_to_ = socket;
    }
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  upstream::ForwardLimits limits_;
  net::DelayQueue caller_watches_{io_.get_executor(), absl::ZeroDuration()};
  std::vector<Exchange> script_;
  std::map<int, int> connection_of_;       // exchange -> the upstream connection it came on
  std::shared_ptr<tcp::socket> stray_to_;  // where the last exchange was answered
  int connections_ = 0;
};

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static oa::fuzz::World* const world = new oa::fuzz::World();
  world->Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
