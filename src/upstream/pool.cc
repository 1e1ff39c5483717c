#include "upstream/pool.h"

namespace oa::upstream {

Pool::Pool(BaseUrl url, net::asio::ssl::context* tls, PoolOptions options)
    : url_(std::move(url)), tls_(tls), options_(options) {}

bool Pool::Usable(const Connection& conn, bool trust_recent) const {
  constexpr auto kRecent = std::chrono::seconds(1);
  const net::Clock::time_point now = net::Clock::now();
  if (conn.idle_since < now - absl::ToChronoNanoseconds(options_.idle_timeout)) return false;
  if (trust_recent && conn.idle_since >= now - kRecent) return true;
  return conn.LooksAlive();
}

std::unique_ptr<Connection> Pool::TakeIdle(bool may_retry) {
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    conn->idle.Release();
    if (Usable(*conn, may_retry)) return conn;
    conn->stream.Close();
  }
  return nullptr;
}

void Pool::Sweep() {
  std::erase_if(idle_, [&](std::unique_ptr<Connection>& conn) {
    if (Usable(*conn, /*trust_recent=*/false)) return false;
    conn->stream.Close();
    return true;
  });
}

net::asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Pool::ConnectNew() {
  return Connect(url_, tls_, options_.connect_timeout);
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  if (options_.max_idle <= 0) {
    conn->stream.Close();
    return;
  }
  if (static_cast<int>(idle_.size()) >= options_.max_idle) {
    // Keep the newest: drop the connection idle the longest.
    idle_.front()->stream.Close();
    idle_.erase(idle_.begin());
  }
  conn->idle_since = net::Clock::now();
  conn->idle = observe::GaugeHold(observe::metrics().upstream_idle);
  idle_.push_back(std::move(conn));
}

}  // namespace oa::upstream
