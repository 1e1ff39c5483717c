// The keep-alive connections of one worker to the upstream. Owned by the worker and used
// only from its thread, so it takes no lock (DESIGN.md, concurrency model).
//
// It keeps the isolation invariant for the connections it holds: a connection carries
// one exchange at a time (it is in the pool, or in one exchange's hands), and one that
// the upstream sent anything to while idle is never used again. An HTTP/1.1 upstream
// answers requests in order on a connection; a byte that comes when no request is
// outstanding (a late or duplicate answer, a body after an answer to HEAD) would be read
// as the answer to the next request sent on it, which is another caller's. So:
//   - once a connection has been idle for the worker's delay (20 ms), a peek is pending
//     on its socket: when it completes, with bytes, the upstream's close or an error, the
//     connection is closed at once (over TLS, bytes are first taken in through TLS, and
//     a session ticket alone leaves the connection watched). A connection taken again
//     sooner, as under load, costs no watch at all (starting one cost a system call a
//     call);
//   - taking it, TakeIdle() asks once more, since a byte may have arrived after the
//     worker last polled its sockets: in plaintext it peeks at the socket (one system
//     call); over TLS it reads what reached the socket through TLS, without waiting;
//   - the Forwarder closes, rather than releases, a connection whose answer was followed
//     by bytes, read or held by TLS.
// What no HTTP/1.1 client can tell apart is an answer out of turn that arrives after the
// next request was sent: it is taken for that request's answer. So an upstream that has
// sent bytes out of turn once is not trusted with keep-alive for a while (SentOutOfTurn()):
// every exchange then gets a connection of its own, on which no earlier answer can come
// late. Over TLS only application data counts against the upstream: raw bytes that TLS
// has not read may be its close_notify, and they only close the connection.
//
// It also bounds the connections a worker has open (busy or idle): ConnectNew() refuses
// with RESOURCE_EXHAUSTED beyond PoolOptions::max_connections.
#pragma once

#include <atomic>
#include <deque>
#include <memory>

#include "upstream/connection.h"

namespace oa::upstream {

struct PoolOptions {
  int max_idle = 64;
  absl::Duration idle_timeout = absl::Seconds(50);
  absl::Duration connect_timeout = absl::Seconds(10);
  int max_connections = 4096;  // open at once, busy or idle
  // How long an upstream that sent bytes out of turn goes without keep-alive.
  absl::Duration distrust_for = absl::Seconds(60);
};

// Whether the upstream may be trusted with keep-alive, shared by every worker's pool:
// what one worker learnt of the upstream protects the callers of all. Any thread.
class UpstreamTrust {
 public:
  bool trusted(net::Clock::time_point now) const {
    return now.time_since_epoch().count() >= distrusted_until_.load(std::memory_order_relaxed);
  }
  // Distrusts the upstream until `until` (or later, if it already is). True when it was
  // trusted at `now`: a new episode, which the caller logs and counts.
  bool Distrust(net::Clock::time_point now, net::Clock::time_point until) {
    const int64_t to = until.time_since_epoch().count();
    int64_t before = distrusted_until_.load(std::memory_order_relaxed);
    while (before < to &&
           !distrusted_until_.compare_exchange_weak(before, to, std::memory_order_relaxed)) {
    }
    return before <= now.time_since_epoch().count();
  }

 private:
  // A steady clock time, in its ticks.
  std::atomic<int64_t> distrusted_until_{0};
};

class Pool {
 public:
  // `tls` outlives the pool and is set exactly when `url.tls`; so do `trust` and `rest`,
  // the worker's queue of work deferred by a delay: an idle connection is watched once it
  // has waited that long.
  Pool(BaseUrl url, net::asio::ssl::context* tls, PoolOptions options, UpstreamTrust& trust,
       net::DelayQueue& rest);
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The most recently used idle connection that the upstream left quiet, or nullptr.
  // Connections idle too long, or that the upstream wrote to or closed, are closed on
  // the way.
  std::unique_ptr<Connection> TakeIdle();

  // A new connection. RESOURCE_EXHAUSTED when max_connections are open already (then
  // nothing was attempted); else as upstream::Connect.
  net::asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> ConnectNew();

  // Takes back a connection whose last exchange ended cleanly (whole request sent, whole
  // response read, keep-alive on both sides, nothing unread), and watches it; closes it
  // instead while the upstream is distrusted.
  void Release(std::unique_ptr<Connection> conn);

  // The upstream sent bytes out of turn (`what` says which, for the log): counted, and its
  // connections are closed after their exchange, and idle ones now, for
  // PoolOptions::distrust_for.
  void SentOutOfTurn(std::string_view what);

  // Closes the idle connections kept longer than the idle timeout. The worker calls it
  // every second, so that a gateway with no traffic keeps no stale connection.
  void Sweep();

  const BaseUrl& url() const { return url_; }
  int open_connections() const { return *open_; }

 private:
  // Starts the peek that tells of anything the upstream does to an idle connection.
  static void Watch(Connection& conn);
  // Stops it; the connection is the caller's again.
  static void Unwatch(Connection& conn);
  // Closes an idle connection that the upstream wrote to (kSentBytes), closed or broke.
  void Evict(Connection* conn, Connection::IdleState state);
  void CloseIdle();
  bool Expired(const Connection& conn, net::Clock::time_point now) const;

  BaseUrl url_;
  net::asio::ssl::context* tls_;
  PoolOptions options_;
  UpstreamTrust& trust_;
  net::DelayQueue& rest_;
  std::deque<std::unique_ptr<Connection>> idle_;  // most recently released last
  // Connections open now, busy or idle (each holds a place: Connection::counted). Shared
  // with them, since an exchange's connection may outlive the pool at shutdown.
  std::shared_ptr<int> open_ = std::make_shared<int>(0);
};

}  // namespace oa::upstream
