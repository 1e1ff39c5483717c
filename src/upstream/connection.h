// One HTTP/1.1 connection to the upstream, plain or TLS, and how to open one: resolve,
// connect, then (for https) a TLS handshake with SNI, certificate and host-name checks.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/delay_queue.h"
#include "net/notification.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "observe/metrics.h"
#include "upstream/base_url.h"

namespace oa::upstream {

// A place in a count (a pool's open connections), given back when destroyed.
class CountedPlace {
 public:
  CountedPlace() = default;
  explicit CountedPlace(std::shared_ptr<int> count) : count_(std::move(count)) { ++*count_; }
  CountedPlace(CountedPlace&&) noexcept = default;
  CountedPlace& operator=(CountedPlace&& other) noexcept {
    if (this != &other) {
      Release();
      count_ = std::move(other.count_);
    }
    return *this;
  }
  ~CountedPlace() { Release(); }

 private:
  void Release() {
    if (count_) --*std::exchange(count_, nullptr);
  }
  std::shared_ptr<int> count_;
};

class Pool;
struct Connection;

// A pool's pending peek at one of its idle connections (pool.cc). Shared with that
// peek's handler, which may run after the connection left the pool or was destroyed: it
// holds the peek's buffer, so that nothing of the connection is touched then.
struct IdleWatch {
  Pool* pool = nullptr;
  Connection* conn = nullptr;  // null while the connection is not idle in `pool`
  char peeked = 0;
  uint64_t generation = 0;  // of the pending peek
};

struct Connection {
  explicit Connection(net::tcp::socket socket) : stream(std::move(socket)) {}
  Connection(net::tcp::socket socket, net::asio::ssl::context& tls)
      : stream(std::move(socket), tls) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // What the upstream did to an idle keep-alive connection, as the kernel sees it now
  // (one system call): nothing (it may carry a request), or it sent bytes (stray ones, a
  // TLS alert), or it closed or reset it. Anything but kQuiet means "do not use".
  enum class IdleState { kQuiet, kSentBytes, kClosed };
  IdleState PeekIdle() const;
  // Over TLS, takes in what the upstream sent to the idle connection, without waiting:
  // application data (kSentBytes: the upstream wrote out of turn), its close_notify or
  // part of a record (kClosed), or nothing but what TLS keeps to itself, such as session
  // tickets (kQuiet). One read of the socket when it holds bytes (TLS connections are in
  // non-blocking mode, which their asynchronous operations ignore); none otherwise.
  IdleState TakeInTls();
  // Over TLS, what TLS holds already read from the socket but not yet given to a read,
  // as TakeInTls says it; no system call. kQuiet for a plain connection.
  IdleState PeekTls();

  net::Stream stream;
  boost::beast::flat_buffer buffer;  // bytes read from the upstream, not yet parsed
  // Bounds each wait on the upstream during an exchange; closes the connection when it
  // fires. It lives with the connection so that a pooled one re-arms no timer per call.
  net::Watchdog deadline{stream.get_executor(), [this] { stream.Close(); }};
  net::Clock::time_point idle_since{};
  observe::GaugeHold open;           // in metrics, once established
  observe::GaugeHold idle;           // in metrics, while in a pool
  CountedPlace counted;              // in its pool's count of open connections
  std::shared_ptr<IdleWatch> watch;  // made the first time it goes idle
  net::DelayQueue::Entry rest;       // queued while idle, until its watch starts
};

// `tls` must be set exactly when `url.tls`. Fails with UNAVAILABLE (cannot resolve,
// connect or handshake: the message says which and why) or DEADLINE_EXCEEDED.
net::asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Connect(
    const BaseUrl& url, net::asio::ssl::context* tls, absl::Duration timeout);

}  // namespace oa::upstream
