// What the workers (workers.h) and the fronts know of each other. A worker is a thread
// with its own io_context, acceptor, upstream pool and admission; a front translates a
// protocol into calls that run on a worker. A worker reads a new connection's first bytes
// (first_bytes.h) and gives it to the front for its protocol: an HTTP/1 one
// (ConnectionFront), or the HTTP/2 one (Http2Handoff). Fronts do not know each other.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "call/call.h"
#include "net/asio.h"

namespace oa::worker {

// What a call needs from the worker that runs it: its call::Resources, used on the
// worker's thread only, and the executor to post to to get there.
struct WorkerHandle : call::Resources {
  net::asio::any_io_executor executor;
};

// Hands out workers for calls that arrive on other threads (gRPC's).
class WorkerSource {
 public:
  virtual ~WorkerSource() = default;
  // The worker for the next call, taken in turn. Thread-safe.
  virtual WorkerHandle NextWorker() = 0;
};

// Takes over the connection of a gRPC client: one whose first bytes were the HTTP/2
// client preface or, when the port speaks TLS, a ClientHello that offers only HTTP/2.
// It runs its own threads (gRPC's), so it takes the descriptor, not an Asio socket.
class Http2Handoff {
 public:
  virtual ~Http2Handoff() = default;
  // `fd` is now the callee's; `already_read` are the bytes read from it so far (with
  // TLS, the ClientHello: the callee does the handshake). Thread-safe.
  virtual void Adopt(int listener_fd, int fd, std::string_view already_read) = 0;
};

// One worker's part of a front that serves the connections the workers accept. Used on
// the worker's thread, except open_connections().
class ConnectionServer {
 public:
  virtual ~ConnectionServer() = default;
  // Serves a connection the worker's acceptor just took, until it ends. `already_read`
  // are its first bytes, which the worker read to choose the front (with TLS, the
  // ClientHello: the front does the handshake).
  virtual void Serve(net::tcp::socket socket, std::string already_read) = 0;
  // Connections waiting for a request close now, the others after the answer under way.
  virtual void BeginDrain() = 0;
  // Any thread.
  virtual size_t open_connections() const = 0;
};

// A front that serves accepted connections: it makes each worker's part, once, before the
// worker runs. What it returns outlives every call of the worker, and may refer to
// `worker` and `ready` (false once the gateway is shutting down) for as long.
class ConnectionFront {
 public:
  virtual ~ConnectionFront() = default;
  virtual std::unique_ptr<ConnectionServer> ForWorker(const WorkerHandle& worker,
                                                      const std::atomic<bool>& ready) = 0;
};

// Where a worker sends HTTP/2 connections: to a front served on the workers, to another
// server (handed over), or nowhere (a null pointer: the port speaks HTTP/1 only).
using Http2Front = std::variant<ConnectionFront*, Http2Handoff*>;

}  // namespace oa::worker
