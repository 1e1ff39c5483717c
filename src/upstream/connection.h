// One HTTP/1.1 connection to the upstream, plain or TLS, and how to open one: resolve,
// connect, then (for https) a TLS handshake with SNI, certificate and host-name checks.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "observe/metrics.h"
#include "upstream/base_url.h"

namespace oa::upstream {

struct Connection {
  explicit Connection(net::tcp::socket socket) : stream(std::move(socket)) {}
  Connection(net::tcp::socket socket, net::asio::ssl::context& tls)
      : stream(std::move(socket), tls) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // True if an idle keep-alive connection has not been closed by the peer: nothing may
  // be readable on it (a FIN, a reset, a TLS alert or stray bytes all mean "do not use").
  bool LooksAlive() const;

  net::Stream stream;
  boost::beast::flat_buffer buffer;  // bytes read from the upstream, not yet parsed
  // Bounds each wait on the upstream during an exchange; closes the connection when it
  // fires. It lives with the connection so that a pooled one re-arms no timer per call.
  net::Watchdog deadline{stream.get_executor(), [this] { stream.Close(); }};
  net::Clock::time_point idle_since{};
  observe::GaugeHold open;  // in metrics, once established
  observe::GaugeHold idle;  // in metrics, while in a pool
};

// `tls` must be set exactly when `url.tls`. Fails with UNAVAILABLE (cannot resolve,
// connect or handshake: the message says which and why) or DEADLINE_EXCEEDED.
net::asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Connect(
    const BaseUrl& url, net::asio::ssl::context* tls, absl::Duration timeout);

}  // namespace oa::upstream
