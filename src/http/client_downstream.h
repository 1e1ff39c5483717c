// The REST front's side of a forwarded call: a client connection whose request header
// has been read. Relays the rest byte for byte (DESIGN.md, invariant 2): the request's
// method, target (re-based onto the upstream URL), end-to-end headers and body framing
// go up unchanged; the answer's status, reason, end-to-end headers and body framing come
// back unchanged. Nothing is parsed beyond HTTP framing.
//
// A WebSocket upgrade is relayed the same way, with `upgrade` set: the upgrade goes
// upstream, and once the upstream switches protocols its 101 goes to the client, and
// TakeSwitched() gives the upstream connection for the relay (websocket_relay.h).
//
// Usage (in a session):
//   ClientDownstream caller({stream, buffer, deadline, deadline_cancels}, parser, base_url,
//                           settings, connections, cors);
//   ForwardOutcome out = co_await forwarder.Run(caller);
//   bool keep_alive = !out.failure && caller.reusable();
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <functional>
#include <memory>

#include "config/settings.h"
#include "http/cors.h"
#include "http/session.h"
#include "net/http1_parser.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "upstream/base_url.h"
#include "upstream/forwarder.h"

namespace oa::http {

// The client's connection as its session holds it.
struct ClientConnection {
  net::Stream& stream;
  boost::beast::flat_buffer& buffer;  // read from the stream, not yet parsed
  // The session's deadline for client I/O: when it passes it closes the stream, or, while
  // `deadline_cancels` is set, only cancels the read under way (so that an answer can
  // still go out).
  net::Watchdog& deadline;
  bool& deadline_cancels;
};

class ClientDownstream final : public upstream::Downstream {
 public:
  // REQUIRES: `request` holds a complete header whose target starts with /v1; every
  // argument outlives the object. The client's deadline is set around each read from
  // and write to the client, and left clear while the upstream is awaited.
  // `settings` bound the client's reads and writes (--client-io-timeout) and its body
  // (--client-body-timeout, --client-body-min-rate).
  // `connections` says whether the worker drains: then the answer ends the connection.
  // `cors` decorates the answer for the request's Origin.
  // `upgrade`: the request is a WebSocket upgrade, to be relayed as one.
  ClientDownstream(ClientConnection client, net::RequestParser& request,
                   const upstream::BaseUrl& upstream, const config::Settings& settings,
                   const Connections& connections, const Cors& cors, bool upgrade = false)
      : client_(client.stream),
        buffer_(client.buffer),
        request_(request),
        deadline_(client.deadline),
        deadline_cancels_(client.deadline_cancels),
        upstream_(upstream),
        settings_(settings),
        io_timeout_(settings.client_io_timeout),
        connections_(connections),
        cors_(cors),
        upgrade_(upgrade) {}

  ~ClientDownstream() override;

  // The client connection may carry another request once the call is over.
  bool reusable() const { return reusable_; }

  // Once the call is over: the upstream connection of a WebSocket session whose 101
  // reached the client, or null.
  std::unique_ptr<upstream::Connection> TakeSwitched() { return std::move(switched_); }

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
  net::asio::awaitable<void> Switched(const upstream::ResponseStart& start,
                                      std::unique_ptr<upstream::Connection>& upstream) override;

 private:
  struct Watch;
  static void Peek(const std::shared_ptr<Watch>& watch);
  static void ReadAhead(const std::shared_ptr<Watch>& watch);
  static void Watched(const std::shared_ptr<Watch>& watch, const net::error_code& ec, size_t n);

  // How long the body may still take: --client-body-timeout, plus a second for every
  // --client-body-min-rate bytes received, less the time spent waiting for it so far.
  absl::Duration BodyTimeLeft() const;

  net::Stream& client_;
  boost::beast::flat_buffer& buffer_;
  net::RequestParser& request_;
  net::Watchdog& deadline_;
  bool& deadline_cancels_;
  const upstream::BaseUrl& upstream_;
  const config::Settings& settings_;
  absl::Duration io_timeout_;
  absl::Duration body_waited_;  // reading the body, in all
  uint64_t body_received_ = 0;
  const Connections& connections_;
  const Cors& cors_;
  bool upgrade_;

  upstream::WireHead head_;       // the answer's head, once known
  bool head_written_ = false;     // ... and sent
  bool chunked_ = false;          // the answer's body goes in chunks
  std::shared_ptr<Watch> watch_;  // between StartWatching and StopWatching
  bool reusable_ = false;
  std::unique_ptr<upstream::Connection> switched_;  // see TakeSwitched()
};

}  // namespace oa::http
