// The keep-alive connections of one worker to the upstream. Owned by the worker and used
// only from its thread, so it takes no lock (DESIGN.md, concurrency model).
#pragma once

#include <memory>
#include <vector>

#include "upstream/connection.h"

namespace oa::upstream {

struct PoolOptions {
  int max_idle = 64;
  absl::Duration idle_timeout = absl::Seconds(50);
  absl::Duration connect_timeout = absl::Seconds(10);
};

class Pool {
 public:
  // `tls` outlives the pool and is set exactly when `url.tls`.
  Pool(BaseUrl url, net::asio::ssl::context* tls, PoolOptions options);

  // The most recently used idle connection that is still alive, or nullptr. Connections
  // idle too long, or closed by the upstream while idle, are dropped on the way.
  // `may_retry`: the caller can replay its request on a new connection should this one
  // fail before answering. Then a connection idle for less than a second is taken
  // without asking the kernel whether the upstream closed it (a system call per
  // request): upstreams close idle connections after seconds, and the retry covers the
  // rare one that did.
  std::unique_ptr<Connection> TakeIdle(bool may_retry);

  net::asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> ConnectNew();

  // Takes back a connection whose last exchange ended cleanly (whole request sent, whole
  // response read, keep-alive on both sides, nothing unread).
  void Release(std::unique_ptr<Connection> conn);

  // Closes the idle connections kept longer than the idle timeout or closed by the
  // upstream meanwhile. The worker calls it every second, so that a gateway with no
  // traffic keeps no stale connection (nor one in CLOSE_WAIT).
  void Sweep();

  const BaseUrl& url() const { return url_; }

 private:
  bool Usable(const Connection& conn, bool trust_recent) const;

  BaseUrl url_;
  net::asio::ssl::context* tls_;
  PoolOptions options_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently released last
};

}  // namespace oa::upstream
