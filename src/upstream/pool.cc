#include "upstream/pool.h"

#include <algorithm>

#include "base/strings.h"
#include "observe/log.h"

namespace oa::upstream {

namespace asio = net::asio;

Pool::Pool(BaseUrl url, asio::ssl::context* tls, PoolOptions options, UpstreamTrust& trust,
           net::DelayQueue& rest)
    : url_(std::move(url)), tls_(tls), options_(options), trust_(trust), rest_(rest) {}

Pool::~Pool() {
  // Peeks still pending on idle connections complete after this: they must find no pool.
  for (const std::unique_ptr<Connection>& conn : idle_) conn->watch->conn = nullptr;
}

bool Pool::Expired(const Connection& conn, net::Clock::time_point now) const {
  return conn.idle_since < now - absl::ToChronoNanoseconds(options_.idle_timeout);
}

std::unique_ptr<Connection> Pool::TakeIdle() {
  const net::Clock::time_point now = net::Clock::now();
  // Another worker may have found the upstream out of turn: its own idle connections
  // would each carry one more exchange.
  if (!idle_.empty() && !trust_.trusted(now)) CloseIdle();
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    Unwatch(*conn);
    if (Expired(*conn, now)) {
      conn->stream.Close();
      continue;
    }
    // The watch saw what arrived before the worker last polled its sockets; this sees the
    // rest, up to now.
    const Connection::IdleState state =
        conn->stream.tls() != nullptr ? conn->TakeInTls() : conn->PeekIdle();
    if (state == Connection::IdleState::kQuiet) return conn;
    if (state == Connection::IdleState::kSentBytes) SentOutOfTurn("bytes to an idle connection");
    conn->stream.Close();
  }
  return nullptr;
}

void Pool::CloseIdle() {
  for (const std::unique_ptr<Connection>& conn : idle_) {
    Unwatch(*conn);
    conn->stream.Close();
  }
  idle_.clear();
}

void Pool::Sweep() {
  const net::Clock::time_point now = net::Clock::now();
  std::erase_if(idle_, [&](std::unique_ptr<Connection>& conn) {
    if (!Expired(*conn, now)) return false;
    Unwatch(*conn);
    conn->stream.Close();
    return true;
  });
}

asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Pool::ConnectNew() {
  if (*open_ >= options_.max_connections) {
    observe::metrics().upstream_connections_exhausted.Add();
    co_return absl::ResourceExhaustedError(
        StrCat("the gateway has ", options_.max_connections,
               " connections to the upstream open on this worker, the most it may (see "
               "--upstream-max-connections)"));
  }
  CountedPlace place(open_);  // held while connecting too
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      co_await Connect(url_, tls_, options_.connect_timeout);
  if (conn.ok()) (*conn)->counted = std::move(place);
  co_return conn;
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  if (options_.max_idle <= 0 || !trust_.trusted(net::Clock::now())) {
    conn->stream.Close();
    return;
  }
  if (static_cast<int>(idle_.size()) >= options_.max_idle) {
    // Keep the newest: drop the connection idle the longest.
    Unwatch(*idle_.front());
    idle_.front()->stream.Close();
    idle_.erase(idle_.begin());
  }
  conn->idle_since = net::Clock::now();
  conn->idle = observe::GaugeHold(observe::metrics().upstream_idle);
  if (!conn->watch) conn->watch = std::make_shared<IdleWatch>();
  conn->watch->pool = this;
  conn->watch->conn = conn.get();
  rest_.Add(conn->rest, [c = conn.get()] { Watch(*c); });
  idle_.push_back(std::move(conn));
}

// A peek of one byte at the socket: it leaves what it sees there, and costs no system
// call to start when Asio's last read drained the socket (it skips its first attempt
// then). Its buffer is the watch's, so the connection may be destroyed under it. Over
// TLS, bytes are then taken in through TLS: session tickets and the like leave the
// connection quiet, and watched again.
void Pool::Watch(Connection& conn) {
  IdleWatch& watch = *conn.watch;
  // A peek this connection's earlier watch left (cancelled, its handler not yet run)
  // must not speak for this one.
  auto on_done = [watch = conn.watch, generation = ++watch.generation](const net::error_code& ec,
                                                                       size_t bytes) {
    if (generation != watch->generation || watch->conn == nullptr ||
        ec == asio::error::operation_aborted) {
      return;
    }
    Connection* idle = watch->conn;
    Connection::IdleState state = Connection::IdleState::kClosed;  // the upstream's end
    if (!ec && bytes > 0) {
      state = idle->stream.tls() != nullptr ? idle->TakeInTls() : Connection::IdleState::kSentBytes;
    }
    if (state == Connection::IdleState::kQuiet) {
      watch->pool->Watch(*idle);
      return;
    }
    watch->conn = nullptr;
    watch->pool->Evict(idle, state);
  };
  conn.stream.socket().async_receive(asio::buffer(&watch.peeked, 1), net::tcp::socket::message_peek,
                                     std::move(on_done));
}

void Pool::Unwatch(Connection& conn) {
  conn.watch->conn = nullptr;
  conn.idle.Release();
  if (conn.rest.queued()) {
    conn.rest.Leave();  // taken before its watch began
    return;
  }
  net::error_code ignored;
  conn.stream.socket().cancel(ignored);  // its handler finds the watch stopped
}

void Pool::Evict(Connection* conn, Connection::IdleState state) {
  const auto it = std::find_if(idle_.begin(), idle_.end(),
                               [conn](const auto& held) { return held.get() == conn; });
  if (it == idle_.end()) return;
  const std::unique_ptr<Connection> evicted = std::move(*it);
  idle_.erase(it);
  evicted->idle.Release();
  evicted->stream.Close();
  // Bytes out of turn (in plaintext, or application data through TLS), as opposed to
  // the upstream closing a connection it kept long enough.
  if (state == Connection::IdleState::kSentBytes) SentOutOfTurn("bytes to an idle connection");
}

void Pool::SentOutOfTurn(std::string_view what) {
  observe::metrics().upstream_unsolicited.Add();
  const net::Clock::time_point now = net::Clock::now();
  if (trust_.Distrust(now, now + absl::ToChronoNanoseconds(options_.distrust_for))) {
    observe::metrics().upstream_distrusted.Add();
    OA_LOG(kWarn,
           "the upstream sent %s, out of turn (they would have been read as the next "
           "caller's answer): its connections are not reused for %s",
           what, absl::FormatDuration(options_.distrust_for));
  }
  CloseIdle();
}

}  // namespace oa::upstream
