// net::ReadHeader and net::ReadSome: Beast's parser fed from a real loopback socket, with
// Beast's results at the edges (a head in several reads, the connection's end before,
// inside and as the end of a message).
#include "net/http_read.h"

#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/wait_until.h"

namespace oa::net {
namespace {

namespace bhttp = boost::beast::http;

// A connection over loopback: our end is read, the peer's end is written to.
struct Loopback {
  Loopback() {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer_.connect(acceptor.local_endpoint());
    ours_.emplace(acceptor.accept());
  }

  // Runs `read` on the loop while the peer sends `parts` one write at a time, each once
  // the reader has taken the one before (so each reaches the reader alone), then ends its
  // side of the connection.
  template <class Read>
  void Feed(std::vector<std::string> parts, Read read) {
    std::atomic<bool> done = false;
    const int peer_fd = peer_.native_handle();
    const int our_fd = ours_->socket().native_handle();
    std::thread peer([&] {
      for (const std::string& part : parts) {
        asio::write(peer_, asio::buffer(part));
        // Until the reader has it all, or is done (one that stopped inside it would not
        // take the rest: then the bound ends the wait).
        oa::testing::WaitUntil([&] { return done || ReaderHasAll(peer_fd, our_fd); },
                               std::chrono::seconds(2), std::chrono::milliseconds(1));
      }
      peer_.shutdown(tcp::socket::shutdown_send);
    });
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await read();
          done = true;
        },
        asio::detached);
    io_.run_for(std::chrono::seconds(5));
    peer.join();
    EXPECT_TRUE(done);
  }

  // True once the reader has every byte the peer wrote: the peer has none the kernel did
  // not acknowledge (so all are in our socket, or read), and our socket holds none.
  static bool ReaderHasAll(int peer_fd, int our_fd) {
    int unacknowledged = 0;
    int unread = 0;
    return ::ioctl(peer_fd, SIOCOUTQ, &unacknowledged) == 0 && unacknowledged == 0 &&
           ::ioctl(our_fd, FIONREAD, &unread) == 0 && unread == 0;
  }

  asio::io_context io_;
  tcp::socket peer_{io_};
  std::optional<Stream> ours_;
  boost::beast::flat_buffer buffer_;
};

struct HttpReadTest : ::testing::Test, Loopback {};

// What a reader saw: each read's error and count, and the body bytes it got.
using Trace = std::vector<std::string>;

// Reads a response whole, head then body in 4-byte pieces, with our reads or with
// Beast's, on a fresh connection fed `parts`.
Trace ReadResponse(bool beast, const std::vector<std::string>& parts) {
  Loopback f;
  Trace trace;
  f.Feed(parts, [&]() -> asio::awaitable<void> {
    bhttp::response_parser<bhttp::buffer_body> parser;
    error_code ec;
    size_t n = 0;
    if (beast) {
      std::tie(ec, n) = co_await bhttp::async_read_header(*f.ours_, f.buffer_, parser, kNoThrow);
    } else {
      std::tie(ec, n) = co_await ReadHeader(*f.ours_, f.buffer_, parser);
    }
    trace.push_back("head " + ec.message() + " " + std::to_string(n));
    while (!ec && !parser.is_done()) {
      char piece[4];
      parser.get().body().data = piece;
      parser.get().body().size = sizeof piece;
      if (beast) {
        std::tie(ec, n) = co_await bhttp::async_read_some(*f.ours_, f.buffer_, parser, kNoThrow);
      } else {
        std::tie(ec, n) = co_await ReadSome(*f.ours_, f.buffer_, parser);
      }
      if (ec == bhttp::error::need_buffer) ec = {};
      trace.push_back("body " + ec.message() + " " + std::to_string(n) + " " +
                      std::string(piece, sizeof piece - parser.get().body().size));
    }
  });
  return trace;
}

TEST(HttpRead, GivesWhatBeastsOwnReadsGive) {
  const std::vector<std::vector<std::string>> schedules = {
      {"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 10\r\n\r", "\n0123", "456789"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "cde\r\n0\r\n\r\n"},
      {"HTTP/1.0 200 OK\r\n\r\n", "until ", "the end"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
      {"HTTP/1.1 200 OK\r\nX: 1\r\n"},
      {},
      {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"},
  };
  for (const auto& parts : schedules) {
    const Trace ours = ReadResponse(false, parts);
    EXPECT_EQ(ours, ReadResponse(true, parts)) << ::testing::PrintToString(parts);
    EXPECT_FALSE(ours.empty());
  }
}

TEST_F(HttpReadTest, AHeadInSeveralPiecesIsReadWhole) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n";
  bhttp::response_parser<bhttp::string_body> parser;
  Feed({head.substr(0, 7), head.substr(7, 20), head.substr(27) + "hello"},
       [&]() -> asio::awaitable<void> {
         auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
         EXPECT_FALSE(ec) << ec.message();
         EXPECT_EQ(n, head.size());
         EXPECT_TRUE(parser.is_header_done());
         EXPECT_EQ(parser.get()["X-A"], "1");
         std::tie(ec, n) = co_await ReadSome(*ours_, buffer_, parser);
         EXPECT_FALSE(ec) << ec.message();
         EXPECT_TRUE(parser.is_done());
         EXPECT_EQ(parser.get().body(), "hello");
       });
}

TEST_F(HttpReadTest, AHeadAlreadyReadNeedsNoRead) {
  bhttp::response_parser<bhttp::string_body> parser;
  Feed({"HTTP/1.1 204 No Content\r\n\r\n"}, [&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_FALSE(ec);
    std::tie(ec, n) = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 0u);
  });
}

TEST_F(HttpReadTest, TheEndBeforeAnyByteIsTheEndOfTheStream) {
  bhttp::request_parser<bhttp::string_body> parser;
  Feed({}, [&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_EQ(ec, bhttp::error::end_of_stream);
    EXPECT_EQ(n, 0u);
  });
}

TEST_F(HttpReadTest, TheEndInsideAHeadIsAPartialMessage) {
  bhttp::request_parser<bhttp::string_body> parser;
  Feed({"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"}, [&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_EQ(ec, bhttp::error::partial_message);
  });
}

TEST_F(HttpReadTest, TheEndEndsABodyWithoutLength) {
  bhttp::response_parser<bhttp::buffer_body> parser;
  Feed({"HTTP/1.0 200 OK\r\n\r\n", "all of it"}, [&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_FALSE(ec);
    std::string body;
    char piece[4];
    while (!parser.is_done()) {
      parser.get().body().data = piece;
      parser.get().body().size = sizeof piece;
      std::tie(ec, n) = co_await ReadSome(*ours_, buffer_, parser);
      if (ec == bhttp::error::need_buffer) ec = {};
      EXPECT_FALSE(ec) << ec.message();
      if (ec) break;
      body.append(piece, sizeof piece - parser.get().body().size);
    }
    EXPECT_EQ(body, "all of it");
  });
}

TEST_F(HttpReadTest, BrokenFramingIsTheParsersError) {
  bhttp::response_parser<bhttp::string_body> parser;
  Feed({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
       [&]() -> asio::awaitable<void> {
         auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
         EXPECT_EQ(ec, bhttp::error::multiple_content_length);
       });
}

}  // namespace
}  // namespace oa::net
