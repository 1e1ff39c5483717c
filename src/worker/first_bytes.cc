#include "worker/first_bytes.h"

#include "net/client_hello.h"
#include "net/watchdog.h"

namespace oa::worker {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Real ClientHellos take one record of 0.5 to 2 KiB; past a full record, the hello is left
// to OpenSSL, and the connection to the HTTP/1 front.
constexpr size_t kMaxClientHelloBytes = 5 + (1 << 14);

// Enough for a preface or a typical request head; a long TLS hello takes a few reads.
constexpr size_t kReadSize = 1024;

}  // namespace

std::optional<Protocol> SeenProtocol(std::string_view seen, bool tls) {
  if (tls) {
    const net::ClientHello hello = net::ParseClientHello(seen);
    if (hello.state == net::ClientHello::State::kIncomplete && seen.size() < kMaxClientHelloBytes) {
      return std::nullopt;
    }
    const bool grpc =
        hello.state == net::ClientHello::State::kComplete && net::OffersOnlyHttp2(hello.alpn);
    return grpc ? Protocol::kHttp2 : Protocol::kHttp1;
  }
  if (!kPreface.starts_with(seen.substr(0, kPreface.size()))) return Protocol::kHttp1;
  if (seen.size() >= kPreface.size()) return Protocol::kHttp2;
  return std::nullopt;
}

net::asio::awaitable<FirstBytes> ReadFirstBytes(net::asio::ip::tcp::socket& socket, bool tls,
                                                absl::Duration timeout) {
  net::Watchdog deadline(socket.get_executor(), [&socket] {
    net::error_code ignored;
    socket.close(ignored);
  });
  deadline.Expire(timeout);
  FirstBytes first;
  std::optional<Protocol> protocol;
  while (!protocol) {
    const size_t had = first.read.size();
    first.read.resize(had + kReadSize);
    auto [ec, n] = co_await socket.async_read_some(
        net::asio::buffer(first.read.data() + had, kReadSize), net::kNoThrow);
    first.read.resize(had + n);
    // Never read again after an error or EOF.
    protocol = ec ? std::optional(Protocol::kGone) : SeenProtocol(first.read, tls);
  }
  deadline.Clear();
  first.protocol = *protocol;
  co_return first;
}

}  // namespace oa::worker
