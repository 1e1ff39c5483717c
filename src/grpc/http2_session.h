// One HTTP/2 connection of a gRPC client, served on the worker that accepted it, with
// nghttp2 as the HTTP/2 codec (framing, HPACK, flow control, SETTINGS, PING): no thread
// hop between the connection, its calls and their upstream exchanges. Each request
// stream is a StreamCall (stream_call.h), the transport of one gRPC call.
//
//   socket --read--> nghttp2_session_mem_recv --callbacks--> StreamCall (headers,
//   messages, end, reset) ... StreamCall submits headers, data, trailers --> Flush():
//   nghttp2_session_mem_send --write--> socket
//
// The session owns itself (shared_from_this in its pending read and write), as REST
// sessions do, and owns its streams' StreamCalls until nghttp2 closes each stream. A call
// may outlive its stream (a client's RST_STREAM): the call keeps its StreamCall, which
// then sends nothing.
//
// Bounded: reads are 16 KiB at a time; what a client sends is held within HTTP/2 flow
// control (a stream's window opens only as its call takes messages); outgoing data is
// pulled from the calls only when the socket took the last write; a client whose
// control frames pile up unanswered (it does not read) loses the connection (nghttp2's
// flood guard); PINGs beyond gRPC's keepalive policy end the connection with GOAWAY
// ENHANCE_YOUR_CALM, as gRPC servers do.
#pragma once

#include <nghttp2/nghttp2.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "grpc/call.h"
#include "grpc/local_services.h"
#include "net/server_tls.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "worker/front.h"

namespace oa::grpc_front {

class StreamCall;
class Http2Sessions;

// What a worker's sessions share: read only, except `sessions` (the worker's alone).
struct Http2Context {
  CallContext& calls;
  const LocalServices& local;
  const worker::WorkerHandle& worker;
  Http2Sessions& sessions;
};

class Http2Session final : public std::enable_shared_from_this<Http2Session> {
 public:
  Http2Session(net::Stream stream, Http2Context& context);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Serves the connection, from its first bytes (`already_read`; with TLS, the
  // ClientHello: the handshake comes first).
  void Start(std::string already_read);
  // Sends GOAWAY: streams under way go on, new ones are refused; the connection closes
  // once the last one ends.
  void BeginDrain();
  // Ends the connection now: every call on it is cancelled.
  void Close();

  // Writes what nghttp2 has to send, unless a write is under way (then after it) or
  // nghttp2 is reading (then after that).
  void Flush();

  nghttp2_session* h2() { return h2_; }
  Http2Context& context() { return context_; }
  // As grpc++ writes a peer: "ipv4:10.0.0.7:5000", "ipv6:[::1]:5000".
  const std::string& peer() const { return peer_; }

 private:
  friend struct Http2Callbacks;

  void Serve(std::string_view already_read);
  void Read();
  void OnRead(const net::error_code& ec, size_t n);
  // Hands `n` bytes to nghttp2; false when the connection is to end.
  bool Receive(const uint8_t* data, size_t n);
  void OnWritten(const net::error_code& ec);
  // gRPC's keepalive policy for a client's PING; false when the client broke it.
  bool PingAllowed();

  net::Stream stream_;
  Http2Context& context_;
  std::string peer_;
  nghttp2_session* h2_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<StreamCall>> calls_;
  std::vector<uint8_t> in_;  // what reads fill (kReadBytes, growing)
  std::string out_;          // the write under way
  bool writing_ = false;
  bool receiving_ = false;  // inside nghttp2_session_mem_recv
  bool ending_ = false;     // a GOAWAY with an error is queued: close once it is written
  bool closed_ = false;
  // Keepalive policy: PINGs closer together than kMinPingInterval with no call under way
  // and no data sent are strikes; the third ends the connection.
  net::Clock::time_point last_ping_{};
  int ping_strikes_ = 0;
  net::Watchdog handshake_deadline_;
};

// A worker's sessions, for drain and shutdown. The worker's thread only.
class Http2Sessions {
 public:
  void Add(Http2Session* session);
  void Remove(Http2Session* session);
  void BeginDrain();
  bool draining() const { return draining_; }
  size_t size() const { return size_.load(std::memory_order_relaxed); }  // any thread

 private:
  std::unordered_set<Http2Session*> sessions_;
  std::atomic<size_t> size_{0};
  bool draining_ = false;
};

}  // namespace oa::grpc_front

namespace oa::grpc_front {

// A worker's part of the gRPC front when the workers serve HTTP/2 themselves
// (--grpc-server=workers): the connections the worker's acceptor takes whose first bytes
// are HTTP/2's (or a TLS ClientHello offering only h2; `tls`, when set, is then the
// the certificate). `calls` and `local` outlive it.
std::unique_ptr<worker::ConnectionServer> NewHttp2Server(CallContext& calls,
                                                         const LocalServices& local,
                                                         const worker::WorkerHandle& worker,
                                                         net::ServerTls* tls);

}  // namespace oa::grpc_front
