#include "upstream/connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <cerrno>

#include "base/strings.h"
#include "net/deadline.h"

namespace oa::upstream {
namespace asio = net::asio;
using net::error_code;
using net::kNoThrow;
using net::tcp;

Connection::IdleState Connection::PeekIdle() const {
  char byte;
  const int fd = const_cast<net::Stream&>(stream).socket().native_handle();
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return IdleState::kSentBytes;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IdleState::kQuiet;
  return IdleState::kClosed;
}

Connection::IdleState Connection::PeekTls() {
  net::Stream::TlsStream* tls = stream.tls();
  if (tls == nullptr) return IdleState::kQuiet;
  SSL* ssl = tls->native_handle();
  // SSL_peek reads only what TLS holds in memory (Asio feeds it through a BIO pair) and
  // leaves application data where the next read finds it.
  ERR_clear_error();
  char byte;
  const int n = SSL_peek(ssl, &byte, 1);
  if (n > 0) return IdleState::kSentBytes;
  const int error = SSL_get_error(ssl, n);
  ERR_clear_error();
  if (error != SSL_ERROR_WANT_READ) return IdleState::kClosed;  // close_notify, or broken
  // Part of a record: what it holds cannot be told yet, so the connection is not used.
  if (SSL_has_pending(ssl) || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) {
    return IdleState::kClosed;
  }
  return IdleState::kQuiet;
}

Connection::IdleState Connection::TakeInTls() {
  net::Stream::TlsStream* tls = stream.tls();
  if (tls == nullptr) return IdleState::kQuiet;
  // A synchronous read, which the socket's non-blocking mode ends with would_block once
  // TLS wants bytes the socket does not have. Unlike an asynchronous read through TLS, it
  // leaves nothing pending on the stream: the connection may be destroyed at any time.
  char byte;
  error_code ec;
  if (tls->read_some(asio::buffer(&byte, 1), ec) > 0) return IdleState::kSentBytes;
  if (ec != asio::error::would_block) return IdleState::kClosed;
  return PeekTls();
}

namespace {

absl::Status Failed(std::string_view step, const BaseUrl& url, const error_code& ec,
                    observe::UpstreamError kind) {
  observe::metrics().upstream_error(kind).Add();
  return absl::UnavailableError(
      StrCat(step, " upstream ", url.host_header, " failed: ", ec.message()));
}

asio::awaitable<absl::Status> Establish(const BaseUrl& url, tcp::resolver& resolver,
                                        Connection& conn) {
  const std::string port = std::to_string(url.port);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(url.host, port, kNoThrow);
  if (resolve_ec) co_return Failed("resolving", url, resolve_ec, observe::UpstreamError::kResolve);
  auto [connect_ec, endpoint] =
      co_await asio::async_connect(conn.stream.socket(), endpoints, kNoThrow);
  if (connect_ec)
    co_return Failed("connecting to", url, connect_ec, observe::UpstreamError::kConnect);
  conn.stream.socket().set_option(tcp::no_delay(true));
  observe::metrics().upstream_connects.Add();

  if (net::Stream::TlsStream* tls = conn.stream.tls()) {
    error_code ec;
    asio::ip::make_address(url.host, ec);
    const bool is_address = !ec;
    // SNI carries names only (RFC 6066); the certificate check covers names and addresses.
    if (!is_address && !SSL_set_tlsext_host_name(tls->native_handle(), url.host.c_str())) {
      co_return absl::InternalError("cannot set TLS SNI");
    }
    tls->set_verify_mode(asio::ssl::verify_peer);
    tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
    auto [hs_ec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hs_ec) co_return Failed("TLS handshake with", url, hs_ec, observe::UpstreamError::kTls);
    // For TakeInTls; the exchanges' asynchronous operations are not affected.
    error_code nb_ec;
    conn.stream.socket().non_blocking(true, nb_ec);
    if (nb_ec) co_return Failed("TLS setup with", url, nb_ec, observe::UpstreamError::kTls);
    observe::metrics().upstream_tls_handshakes.Add();
  }
  co_return absl::OkStatus();
}

}  // namespace

asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Connect(const BaseUrl& url,
                                                                     asio::ssl::context* tls,
                                                                     absl::Duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  auto conn = tls ? std::make_unique<Connection>(tcp::socket(executor), *tls)
                  : std::make_unique<Connection>(tcp::socket(executor));
  tcp::resolver resolver(executor);
  net::Deadline deadline(executor);
  deadline.Expire(timeout);
  auto result = co_await (Establish(url, resolver, *conn) || deadline.Watch([&] {
    resolver.cancel();
    conn->stream.Close();
  }));
  if (deadline.expired() || result.index() == 1) {
    observe::metrics().upstream_error(observe::UpstreamError::kTimeout).Add();
    co_return absl::DeadlineExceededError(StrCat("connecting to upstream ", url.host_header,
                                                 " timed out after ",
                                                 absl::FormatDuration(timeout)));
  }
  if (absl::Status st = std::get<0>(std::move(result)); !st.ok()) co_return st;
  conn->idle_since = net::Clock::now();
  conn->open = observe::GaugeHold(observe::metrics().upstream_connections);
  co_return conn;
}

}  // namespace oa::upstream
