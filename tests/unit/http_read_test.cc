// net::ReadHeader and net::ReadSome: Beast's parser fed from a real loopback socket, with
// Beast's results at the edges (a head in several reads, the connection's end before,
// inside and as the end of a message).
#include "net/http_read.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace oa::net {
namespace {

namespace bhttp = boost::beast::http;

class HttpReadTest : public ::testing::Test {
 protected:
  HttpReadTest() {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer_.connect(acceptor.local_endpoint());
    ours_.emplace(acceptor.accept());
  }

  // Sends `parts` from the peer one write at a time, a little apart, then closes it.
  void SendThenClose(std::vector<std::string> parts) {
    for (const std::string& part : parts) {
      asio::write(peer_, asio::buffer(part));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    peer_.shutdown(tcp::socket::shutdown_send);
  }

  // Runs `read` on the loop to its end.
  template <class Read>
  void Run(Read read) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await read();
          done = true;
        },
        asio::detached);
    io_.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(done);
  }

  asio::io_context io_;
  tcp::socket peer_{io_};
  std::optional<Stream> ours_;
  boost::beast::flat_buffer buffer_;
};

TEST_F(HttpReadTest, AHeadInSeveralPiecesIsReadWhole) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n";
  SendThenClose({head.substr(0, 7), head.substr(7, 20), head.substr(27) + "hello"});
  bhttp::response_parser<bhttp::string_body> parser;
  Run([&]() -> asio::awaitable<void> {
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
  SendThenClose({"HTTP/1.1 204 No Content\r\n\r\n"});
  bhttp::response_parser<bhttp::string_body> parser;
  Run([&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_FALSE(ec);
    std::tie(ec, n) = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 0u);
  });
}

TEST_F(HttpReadTest, TheEndBeforeAnyByteIsTheEndOfTheStream) {
  SendThenClose({});
  bhttp::request_parser<bhttp::string_body> parser;
  Run([&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_EQ(ec, bhttp::error::end_of_stream);
    EXPECT_EQ(n, 0u);
  });
}

TEST_F(HttpReadTest, TheEndInsideAHeadIsAPartialMessage) {
  SendThenClose({"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"});
  bhttp::request_parser<bhttp::string_body> parser;
  Run([&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_EQ(ec, bhttp::error::partial_message);
  });
}

TEST_F(HttpReadTest, TheEndEndsABodyWithoutLength) {
  SendThenClose({"HTTP/1.0 200 OK\r\n\r\n", "all of it"});
  bhttp::response_parser<bhttp::buffer_body> parser;
  Run([&]() -> asio::awaitable<void> {
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
  SendThenClose({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"});
  bhttp::response_parser<bhttp::string_body> parser;
  Run([&]() -> asio::awaitable<void> {
    auto [ec, n] = co_await ReadHeader(*ours_, buffer_, parser);
    EXPECT_EQ(ec, bhttp::error::multiple_content_length);
  });
}

}  // namespace
}  // namespace oa::net
