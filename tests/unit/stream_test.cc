// Stream::WriteNow over a real loopback connection: it sends what the socket takes, from
// the front of the buffers, and says would_block, not an error, when the socket is full.
#include "net/stream.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <string>
#include <vector>

namespace oa::net {
namespace {

// Our end of a loopback connection, and the peer's.
struct Connected : ::testing::Test {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::socket peer = [this] {
    tcp::socket socket(io);
    socket.connect(acceptor.local_endpoint());
    return socket;
  }();
  Stream ours{acceptor.accept()};
};

TEST_F(Connected, WriteNowTakesWhatFitsInOrderAndThenWouldBlock) {
  ours.socket().set_option(tcp::socket::send_buffer_size(4096));
  peer.set_option(tcp::socket::receive_buffer_size(4096));

  // Three parts, 1 MiB in all: more than the two sockets' buffers hold.
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  const std::string_view all(data);
  size_t sent = 0;
  error_code ec;
  while (sent < data.size()) {
    const std::string_view rest = all.substr(sent);
    const std::vector<asio::const_buffer> parts = {
        asio::buffer(rest.substr(0, 10)), asio::buffer(rest.substr(10, 0)),
        asio::buffer(rest.substr(std::min<size_t>(10, rest.size())))};
    const size_t n = ours.WriteNow(parts, ec);
    if (ec) break;
    ASSERT_GT(n, 0u);
    sent += n;
  }
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, data.size());

  std::string got(sent, '\0');
  asio::read(peer, asio::buffer(got));
  EXPECT_EQ(got, all.substr(0, sent));  // in order, nothing lost or doubled
}

TEST_F(Connected, WriteNowToAPeerThatLeftIsAnError) {
  peer.set_option(asio::socket_base::linger(true, 0));
  peer.close();  // a reset, not a clean end
  const std::string data = "x";
  error_code ec;
  for (int i = 0; i < 100 && !ec; ++i) ours.WriteNow({asio::buffer(data)}, ec);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, asio::error::would_block);
}

}  // namespace
}  // namespace oa::net
