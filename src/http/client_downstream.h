// The REST front's side of a forwarded call: a client connection whose request header
// has been read. Relays the rest byte for byte (DESIGN.md, invariant 2): the request's
// method, target (re-based onto the upstream URL), end-to-end headers and body framing
// go up unchanged; the answer's status, reason, end-to-end headers and body framing come
// back unchanged. Nothing is parsed beyond HTTP framing.
//
// Usage (in a session):
//   ClientDownstream caller(stream, buffer, parser, deadline, base_url, io_timeout,
//                           connections, cors);
//   ForwardOutcome out = co_await forwarder.Run(caller);
//   bool keep_alive = !out.failure && caller.reusable();
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <functional>
#include <memory>

#include "http/cors.h"
#include "http/session.h"
#include "net/http1_parser.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "upstream/base_url.h"
#include "upstream/forwarder.h"

namespace oa::http {

class ClientDownstream final : public upstream::Downstream {
 public:
  // REQUIRES: `request` holds a complete header whose target starts with /v1; every
  // argument outlives the object. `deadline` is the session's deadline for
  // client I/O: it is set around each read from and write to the client, and left clear
  // while the upstream is awaited.
  // `connections` says whether the worker drains: then the answer ends the connection.
  // `cors` decorates the answer for the request's Origin.
  ClientDownstream(net::Stream& client, boost::beast::flat_buffer& buffer,
                   net::RequestParser& request, net::Watchdog& deadline,
                   const upstream::BaseUrl& upstream, absl::Duration io_timeout,
                   const Connections& connections, const Cors& cors)
      : client_(client),
        buffer_(buffer),
        request_(request),
        deadline_(deadline),
        upstream_(upstream),
        io_timeout_(io_timeout),
        connections_(connections),
        cors_(cors) {}

  ~ClientDownstream() override;

  // The client connection may carry another request once the call is over.
  bool reusable() const { return reusable_; }

  upstream::RequestStart PrepareRequest(upstream::WireHead& head) override;
  net::asio::awaitable<bool> BeforeSend() override;
  bool RequestBodyDone() const override { return request_.is_done(); }
  // Until the body is done, the buffer holds only body bytes.
  bool RequestBodyAtHand() const override { return request_.is_done() || buffer_.size() > 0; }
  net::asio::awaitable<absl::StatusOr<size_t>> ReadRequestBody(char* piece, size_t size) override;
  net::asio::awaitable<bool> WriteHead(const upstream::ResponseStart& start) override;
  net::asio::awaitable<bool> WriteBody(const char* data, size_t size, bool more) override;
  void StartWatching(std::function<void()> on_gone) override;
  net::asio::awaitable<void> StopWatching() override;
  void Cut() override;

 private:
  struct Watch;
  static void Peek(const std::shared_ptr<Watch>& watch);
  static void ReadAhead(const std::shared_ptr<Watch>& watch);
  static void Watched(const std::shared_ptr<Watch>& watch, const net::error_code& ec, size_t n);

  net::Stream& client_;
  boost::beast::flat_buffer& buffer_;
  net::RequestParser& request_;
  net::Watchdog& deadline_;
  const upstream::BaseUrl& upstream_;
  absl::Duration io_timeout_;
  const Connections& connections_;
  const Cors& cors_;

  upstream::WireHead head_;       // the answer's head, once known
  bool head_written_ = false;     // ... and sent
  bool chunked_ = false;          // the answer's body goes in chunks
  std::shared_ptr<Watch> watch_;  // between StartWatching and StopWatching
  bool reusable_ = false;
};

}  // namespace oa::http
