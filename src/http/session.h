// One client connection of the REST front: reads requests one after the other
// (keep-alive, pipelining), answers what the gateway owns itself (/health, /ready,
// /metrics, CORS preflight, its own errors) and forwards every /v1 call to the upstream.
// When its worker drains, it finishes the answer under way and closes. With TLS, it
// terminates TLS (the worker has handed the connections of gRPC clients to their front).
//
// The session is a coroutine whose frame owns the socket and every buffer, so it lives
// exactly as long as its pending operations (the self-owning session of Beast's
// examples, written as a coroutine). A watched deadline bounds every read and write. A
// WebSocket upgrade the upstream accepts hands the socket on to the relay
// (websocket_relay.h), which owns itself for the rest of the session.
#pragma once

#include <atomic>
#include <boost/beast/core/flat_buffer.hpp>
#include <unordered_set>
#include <vector>

#include "config/settings.h"
#include "http/cors.h"
#include "net/stream.h"
#include "route/route_table.h"
#include "worker/front.h"

namespace oa::http {

// A client connection as its worker sees it when draining.
class OpenConnection {
 public:
  virtual ~OpenConnection() = default;
  // Closes the connection now if it waits for a request; otherwise it closes after the
  // answer it is giving (sent with Connection: close).
  virtual void CloseWhenIdle() = 0;
};

// The open client connections of one worker. Used on the worker's thread only, except
// count(), which any thread may read.
class Connections {
 public:
  void Add(OpenConnection* c) {
    open_.insert(c);
    count_.store(open_.size(), std::memory_order_relaxed);
  }
  void Remove(OpenConnection* c) {
    open_.erase(c);
    count_.store(open_.size(), std::memory_order_relaxed);
  }
  size_t count() const { return count_.load(std::memory_order_relaxed); }

  bool draining() const { return draining_; }
  void BeginDrain() {
    draining_ = true;
    const std::vector<OpenConnection*> all(open_.begin(), open_.end());  // may close
    for (OpenConnection* c : all) c->CloseWhenIdle();
  }

 private:
  std::unordered_set<OpenConnection*> open_;
  std::atomic<size_t> count_{0};
  bool draining_ = false;
};

// What every session of one worker shares; owned by the worker, used on its thread only.
struct FrontContext {  // NOLINT(cppcoreguidelines-pro-type-member-init): all given at once
  const config::Settings& settings;
  const route::RouteTable& routes;
  const Cors& cors;
  call::Resources resources;  // the worker's, for each call
  // Outlives every session: they remove themselves when their frames are destroyed,
  // which may happen as the worker's io_context is destroyed.
  Connections& connections;
  const std::atomic<bool>* ready = nullptr;  // false once the gateway is shutting down
  net::asio::ssl::context* tls = nullptr;    // set: the port speaks TLS only
};

// Serves `socket` until the client leaves, a timeout passes or an error ends it.
// `already_read`: its first bytes, read by the worker (worker/front.h).
net::asio::awaitable<void> ServeConnection(net::tcp::socket socket, FrontContext& context,
                                           std::string already_read);

}  // namespace oa::http
