// A byte stream over TCP, with or without TLS, behind one type so that the HTTP code
// (Beast's read/write algorithms) is written once for both. Satisfies Beast's
// AsyncReadStream and AsyncWriteStream.
//
// WriteNow sends without waiting, on a plain stream: the relay tries it first, and a write
// the socket takes at once (nearly every one) then costs one system call and no
// asynchronous operation. Only what it does not take is awaited.
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstddef>
#include <variant>

#include "absl/types/span.h"
#include "net/asio.h"

namespace oa::net {

using tcp = asio::ip::tcp;

class Stream {
 public:
  using executor_type = asio::any_io_executor;
  using TlsStream = asio::ssl::stream<tcp::socket>;

  explicit Stream(tcp::socket socket) : stream_(std::move(socket)) {}
  Stream(tcp::socket socket, asio::ssl::context& tls)
      : stream_(std::in_place_type<TlsStream>, std::move(socket), tls) {}

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // The stream moved from is left closed: Close() and destruction are all it takes.
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = delete;

  executor_type get_executor() { return socket().get_executor(); }

  tcp::socket& socket() {
    if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
    return std::get<tcp::socket>(stream_);
  }
  const tcp::socket& socket() const { return const_cast<Stream*>(this)->socket(); }

  // nullptr for a plain stream.
  TlsStream* tls() { return std::get_if<TlsStream>(&stream_); }
  const TlsStream* tls() const { return std::get_if<TlsStream>(&stream_); }

  // Closes the socket now: pending operations complete with an error. Skips TLS
  // close_notify on purpose; callers close when a connection is abandoned, not drained.
  void Close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  // Sends what the socket takes now of `buffers`, from the front; the count may be short
  // of their size. Errors: would_block when it takes nothing (and always over TLS).
  size_t WriteNow(absl::Span<const asio::const_buffer> buffers, error_code& ec);

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  // Completes once a read would find bytes (or the peer's end, or an error) without
  // taking any: a reader that waits long with nothing to hold, such as a quiet WebSocket,
  // holds no buffer meanwhile. Over TLS it completes at once, since bytes may wait
  // inside the TLS layer where the socket cannot tell: such a reader reads as usual.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) {
          if (tls() != nullptr) {
            asio::post(get_executor(), asio::append(std::move(handler), error_code()));
          } else {
            std::get<tcp::socket>(stream_).async_wait(tcp::socket::wait_read, std::move(handler));
          }
        },
        token);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

 private:
  std::variant<tcp::socket, TlsStream> stream_;
};

}  // namespace oa::net
