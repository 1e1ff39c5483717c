// Which front a new connection is for, told from its first bytes, before any front sees
// it. In plaintext, HTTP/2 clients open with a fixed preface that no HTTP/1 request can
// begin with. With TLS, the ClientHello's ALPN tells: a client that offers h2 but not
// http/1.1 is a gRPC client, and the gRPC front does its TLS (grpc++'s own, or the
// workers' HTTP/2 session's), so TLS is never terminated twice. Every other client (http/1.1
// offered, no ALPN, or no TLS at all) goes to the HTTP/1 front, whose TLS handshake also refuses
// what is not TLS.
//
//   FirstBytes first = co_await ReadFirstBytes(socket, tls, timeout);
//   switch (first.protocol) { ... first.read goes along with the socket ... }
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "net/asio.h"

namespace oa::worker {

enum class Protocol { kHttp1, kHttp2, kGone };

struct FirstBytes {
  Protocol protocol = Protocol::kGone;
  std::string read;  // what was read to tell: the front that takes the socket starts here
};

// The protocol `seen` shows, or nullopt while it does not tell yet.
std::optional<Protocol> SeenProtocol(std::string_view seen, bool tls);

// Reads from `socket` only as far as needed to tell, in `timeout` at most for all the
// reads (a client trickling bytes earns no extra time). kGone when the client left, sent
// nothing in time, or the socket was closed meanwhile (a drain closes it).
net::asio::awaitable<FirstBytes> ReadFirstBytes(net::asio::ip::tcp::socket& socket, bool tls,
                                                absl::Duration timeout);

}  // namespace oa::worker
