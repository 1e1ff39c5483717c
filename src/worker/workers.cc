#include "worker/workers.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <set>

#include "base/strings.h"
#include "observe/log.h"
#include "upstream/base_url.h"
#include "upstream/forwarder.h"
#include "upstream/pool.h"
#include "worker/first_bytes.h"

namespace oa::worker {
namespace asio = net::asio;
using net::kNoThrow;
using net::tcp;

// How long the upstream may take before a call starts watching its caller for leaving
// (upstream::Forwarder): a call that ends sooner costs no watch, one that runs longer
// is cut this much later, at most, after its caller left.
constexpr absl::Duration kCallerWatchDelay = absl::Milliseconds(20);

// What all workers read and nobody changes after start-up.
struct Workers::Shared {
  explicit Shared(upstream::BaseUrl url) : upstream(std::move(url)) {}

  upstream::BaseUrl upstream;
  std::optional<asio::ssl::context> tls;  // the upstream's, when it speaks TLS
  upstream::ForwardLimits forward_limits;
  std::atomic<bool> ready{true};
  upstream::UpstreamTrust upstream_trust;  // every worker's pool's
};

namespace {

// The workers share their port with SO_REUSEPORT, which would also let them join another
// process's listeners on it: the kernel would then split calls between two gateways
// with different settings (an old one and its replacement). So, unless --listen-shared
// says that is meant, a socket without SO_REUSEPORT is bound first: it fails while
// anyone listens on the port.
// Opens `acceptor` on `endpoint`, shared with the other workers' (SO_REUSEPORT). Port 0
// picks a free port: `endpoint` then names it, for the workers after this one.
absl::Status Listen(tcp::acceptor& acceptor, tcp::endpoint& endpoint, std::string_view setting) {
  net::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) {
    using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    acceptor.set_option(ReusePort(true), ec);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(StrCat(setting, ": cannot listen on ",
                                         endpoint.address().to_string(), ":", endpoint.port(), ": ",
                                         ec.message()));
  }
  endpoint = acceptor.local_endpoint(ec);
  return absl::OkStatus();
}

// --grpc-listen's HOST:PORT: an IPv4 address, or an IPv6 one in brackets.
absl::StatusOr<tcp::endpoint> ParseEndpoint(std::string_view text) {
  const size_t colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? "" : text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  net::error_code ec;
  const asio::ip::address address = asio::ip::make_address(std::string(host), ec);
  unsigned number = 0;
  const bool port_ok = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string_view::npos &&
                       (number = static_cast<unsigned>(std::stoul(std::string(port)))) <= 65535;
  if (ec || !port_ok) {
    return absl::InvalidArgumentError(
        StrCat("--grpc-listen: '", text, "' is not HOST:PORT with an IP address as HOST"));
  }
  return tcp::endpoint(address, static_cast<uint16_t>(number));
}

absl::Status PortIsFree(asio::io_context& context, const tcp::endpoint& endpoint) {
  tcp::acceptor probe(context);
  net::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);  // TIME_WAIT is no owner
  if (!ec) probe.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    return absl::UnavailableError(
        StrCat("--listen: port ", endpoint.port(), " on ", endpoint.address().to_string(),
               " is held by another process (another gateway?); stop it, choose another port, "
               "or pass --listen-shared on every process that should share it"));
  }
  return absl::OkStatus();  // other failures are the workers' own to report
}

}  // namespace

struct Workers::Worker {
  Worker(const config::Settings& settings, Shared& shared, limits::Admission& limits)
      : first_bytes_timeout(settings.client_header_timeout),
        websockets(settings.websocket),
        admission(limits),
        context(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
        acceptor(context),
        grpc_acceptor(context),
        caller_watches(context.get_executor(), kCallerWatchDelay),
        pool(shared.upstream, shared.tls ? &*shared.tls : nullptr,
             {.max_idle = settings.upstream_pool_max_idle,
              .idle_timeout = settings.upstream_pool_idle_timeout,
              .connect_timeout = settings.upstream_connect_timeout,
              .max_connections = settings.upstream_max_connections},
             shared.upstream_trust, caller_watches),
        forward_limits(shared.forward_limits) {
    admission.Bind(context.get_executor());
  }
  ~Worker() { admission.Close(); }

  // Takes the connections of `from`: the shared port's, or (`grpc_only`) --grpc-listen's,
  // which all go to the gRPC front served on the worker.
  asio::awaitable<void> Accept(tcp::acceptor& from, bool grpc_only) {
    for (;;) {
      auto [ec, socket] = co_await from.async_accept(kNoThrow);
      if (!from.is_open()) co_return;
      if (ec) {
        // Out of descriptors and the like: say so, back off briefly, keep serving.
        OA_LOG(kWarn, "accept failed: %s", ec.message());
        asio::steady_timer pause(context, std::chrono::milliseconds(50));
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      net::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (grpc_only) {
        http2_front->Serve(std::move(socket), {});
      } else if (http2 == nullptr && http2_front == nullptr) {
        front->Serve(std::move(socket), {});  // one protocol: nothing to tell apart
      } else {
        asio::co_spawn(context, Dispatch(std::move(socket)), asio::detached);
      }
    }
  }

  // Gives `socket` to the front its first bytes call for.
  asio::awaitable<void> Dispatch(tcp::socket socket) {
    const auto arrived = arriving.insert(&socket).first;
    FirstBytes first = co_await ReadFirstBytes(socket, tls, first_bytes_timeout);
    arriving.erase(arrived);
    switch (first.protocol) {
      case Protocol::kGone:
        co_return;
      case Protocol::kHttp1:
        front->Serve(std::move(socket), std::move(first.read));
        co_return;
      case Protocol::kHttp2:
        if (http2_front) {
          http2_front->Serve(std::move(socket), std::move(first.read));
        } else {
          HandOff(socket, first.read);
        }
        co_return;
    }
  }

  void HandOff(tcp::socket& socket, std::string_view read) {
    net::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    const int fd = socket.release(ec);
    if (ec) {
      OA_LOG(kWarn, "cannot hand an HTTP/2 connection to gRPC: %s", ec.message());
      return;
    }
    OA_LOG(kDebug, "HTTP/2 connection from %s handed to the gRPC front",
           peer.address().to_string());
    http2->Adopt(acceptor.native_handle(), fd, read);
  }

  // A drain closes the connections that have not told their protocol yet.
  void BeginDrain() {
    net::error_code ignored;
    acceptor.close(ignored);
    grpc_acceptor.close(ignored);
    for (tcp::socket* socket : arriving) socket->close(ignored);
    if (front) front->BeginDrain();
    if (http2_front) http2_front->BeginDrain();
  }

  // Every second, closes the pool's stale idle connections (Pool::Sweep). Runs until
  // the worker's io_context stops.
  asio::awaitable<void> SweepPool() {
    asio::steady_timer timer(context);
    for (;;) {
      timer.expires_after(std::chrono::seconds(1));
      auto [ec] = co_await timer.async_wait(kNoThrow);
      if (ec) co_return;
      pool.Sweep();
    }
  }

  WorkerHandle handle() {
    return {{pool, forward_limits, caller_watches, admission, websockets}, context.get_executor()};
  }

  const absl::Duration first_bytes_timeout;  // --client-header-timeout
  const bool websockets;                     // --websocket
  // Declared first, destroyed last: the connections that the io_context's destruction
  // destroys still remove themselves from it. Set by Run().
  std::unique_ptr<ConnectionServer> front;
  std::unique_ptr<ConnectionServer> http2_front;  // HTTP/2 served on the worker
  Http2Handoff* http2 = nullptr;                  // or handed to another server
  bool tls = false;
  // Connections whose first bytes are being read (Dispatch); a frame the io_context's
  // destruction destroys leaves its entry, which nothing reads by then.
  std::set<tcp::socket*> arriving;
  // Outlives the calls that the io_context's destruction destroys (they give back their
  // leases), but closes its sockets while the io_context is still there (~Worker).
  limits::WorkerAdmission admission;
  // One thread runs it, and every socket and timer on it is used from that thread alone
  // (other threads only post to it): the reactor needs no lock around each operation.
  asio::io_context context;
  tcp::acceptor acceptor;
  tcp::acceptor grpc_acceptor;  // --grpc-listen, when the workers serve gRPC themselves
  // Work deferred by kCallerWatchDelay: watching a caller whose upstream is slow, and an
  // idle upstream connection (the pool's). Before the pool, which outlives none of it.
  net::DelayQueue caller_watches;
  upstream::Pool pool;
  const upstream::ForwardLimits& forward_limits;
};

Workers::Workers() = default;
Workers::~Workers() {
  Stop();
  Join();
}

absl::StatusOr<std::unique_ptr<Workers>> Workers::Create(const config::Settings& settings,
                                                         limits::Admission& admission) {
  absl::StatusOr<upstream::BaseUrl> upstream = upstream::BaseUrl::Parse(settings.upstream);
  if (!upstream.ok()) return upstream.status();
  net::error_code ec;
  const asio::ip::address address = asio::ip::make_address(settings.listen_host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        StrCat("--listen: '", settings.listen_host, "' is not an IP address"));

  std::unique_ptr<Workers> workers(new Workers());
  workers->shared_ = std::make_unique<Shared>(*std::move(upstream));
  Shared& shared = *workers->shared_;
  shared.forward_limits.first_byte_timeout = settings.upstream_first_byte_timeout;
  shared.forward_limits.idle_timeout = settings.upstream_idle_timeout;
  if (shared.upstream.tls) {
    shared.tls.emplace(asio::ssl::context::tls_client);
    shared.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1);
    if (settings.upstream_ca_file.empty()) {
      shared.tls->set_default_verify_paths(ec);
    } else {
      shared.tls->load_verify_file(settings.upstream_ca_file, ec);
    }
    if (ec) {
      return absl::InvalidArgumentError(StrCat("--upstream-ca-file: cannot load '",
                                               settings.upstream_ca_file, "': ", ec.message()));
    }
  }

  const int count = settings.workers > 0
                        ? settings.workers
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  tcp::endpoint endpoint(address, settings.listen_port);
  // --grpc-listen is the workers' when they serve gRPC themselves; else gRPC's own server
  // listens there.
  std::optional<tcp::endpoint> grpc_endpoint;
  if (settings.grpc_on_workers && !settings.grpc_listen.empty()) {
    absl::StatusOr<tcp::endpoint> parsed = ParseEndpoint(settings.grpc_listen);
    if (!parsed.ok()) return parsed.status();
    grpc_endpoint = *parsed;
  }
  for (int i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>(settings, shared, admission);
    if (i == 0 && endpoint.port() != 0 && !settings.listen_shared) {
      if (absl::Status free = PortIsFree(worker->context, endpoint); !free.ok()) return free;
    }
    if (absl::Status bound = Listen(worker->acceptor, endpoint, "--listen"); !bound.ok()) {
      return bound;
    }
    if (grpc_endpoint) {
      absl::Status bound = Listen(worker->grpc_acceptor, *grpc_endpoint, "--grpc-listen");
      if (!bound.ok()) return bound;
      workers->grpc_port_ = grpc_endpoint->port();
    }
    workers->workers_.push_back(std::move(worker));
  }
  workers->port_ = endpoint.port();
  return workers;
}

void Workers::Run(ConnectionFront& http1, Http2Front http2, bool tls) {
  for (auto& worker : workers_) {
    worker->front = http1.ForWorker(worker->handle(), shared_->ready);
    if (auto* served = std::get_if<ConnectionFront*>(&http2); served && *served) {
      worker->http2_front = (*served)->ForWorker(worker->handle(), shared_->ready);
    } else if (auto* handed = std::get_if<Http2Handoff*>(&http2)) {
      worker->http2 = *handed;
    }
    worker->tls = tls;
    asio::co_spawn(worker->context, worker->Accept(worker->acceptor, false), asio::detached);
    if (worker->http2_front && worker->grpc_acceptor.is_open()) {
      asio::co_spawn(worker->context, worker->Accept(worker->grpc_acceptor, true), asio::detached);
    }
    asio::co_spawn(worker->context, worker->SweepPool(), asio::detached);
    threads_.emplace_back([w = worker.get()] { w->context.run(); });
  }
}

WorkerHandle Workers::NextWorker() {
  return workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->handle();
}

void Workers::SetReady(bool ready) { shared_->ready.store(ready); }

void Workers::Drain(absl::Duration timeout) {
  for (auto& worker : workers_) {
    asio::post(worker->context, [w = worker.get()] { w->BeginDrain(); });
  }
  const auto deadline = net::Clock::now() + absl::ToChronoNanoseconds(timeout);
  for (;;) {
    size_t open = 0;
    for (auto& worker : workers_) {
      if (worker->front) open += worker->front->open_connections();
      if (worker->http2_front) open += worker->http2_front->open_connections();
    }
    if (open == 0) return;
    if (net::Clock::now() >= deadline) {
      OA_LOG(kWarn, "drain: %d connection(s) still open after %s; closing them", open,
             absl::FormatDuration(timeout));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Workers::Stop() {
  for (auto& worker : workers_) {
    asio::post(worker->context, [w = worker.get()] {
      net::error_code ignored;
      w->acceptor.close(ignored);
      w->grpc_acceptor.close(ignored);
      w->context.stop();
    });
  }
}

void Workers::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace oa::worker
