// The mock's server: one io_context on one thread accepts connections, reads each request
// with its body streamed through (counted, SHA-256 hashed, only its ends kept), records it,
// and writes the Plan that mock_replies.cc chose, generating large bodies piece by piece.
// While it answers, a read stays pending on the connection so that a peer that goes away
// is noticed at once, even between the events of a slow stream. A request to upgrade to
// WebSocket is recorded too, then refused or handed to mock_websocket.cc for the rest of
// the connection.

#include "mock_openai.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>

#include "mock_replies.h"
#include "mock_text.h"
#include "mock_websocket.h"
#include "support/wait_until.h"

namespace oa::mock {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;
using Parser = http::request_parser<http::buffer_body>;

constexpr auto kAwait = net::as_tuple(net::use_awaitable);
constexpr size_t kPrefixLimit = 1 << 20;
constexpr size_t kTailLimit = 64 << 10;
constexpr size_t kPieceSize = 64 << 10;
constexpr uint32_t kHeaderLimit = 1 << 20;
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// How long Stop() waits for open WebSockets to finish the closing handshake it started.
constexpr auto kWebSocketCloseWait = std::chrono::seconds(1);
constexpr std::string_view kControlPrefix = "/__mock/";

// ---- request bodies ---------------------------------------------------------------------

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr);
  }
  void Update(std::string_view data) { EVP_DigestUpdate(context_.get(), data.data(), data.size()); }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &size);
    std::string hex;
    for (unsigned char byte : std::span(digest, size)) {
      hex += HexDigit(byte >> 4);
      hex += HexDigit(byte);
    }
    return hex;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> context_;
};

// Takes a request body piece by piece: counts and hashes it, keeps its first 1 MiB and its
// last 64 KiB or more.
class BodyRecorder {
 public:
  void Append(std::string_view piece) {
    bytes_ += piece.size();
    sha_.Update(piece);
    prefix_.append(piece.substr(0, kPrefixLimit - std::min(kPrefixLimit, prefix_.size())));
    tail_.append(piece);
    if (tail_.size() > 2 * kTailLimit) tail_.erase(0, tail_.size() - kTailLimit);
  }
  // Moves the body's summary into `request`; the tail stays here.
  void Finish(RecordedRequest& request) {
    request.body_bytes = bytes_;
    request.body_sha256 = sha_.HexDigest();
    request.body_prefix = std::move(prefix_);
  }
  std::string_view tail() const { return tail_; }

 private:
  uint64_t bytes_ = 0;
  Sha256 sha_;
  std::string prefix_;
  std::string tail_;
};

RecordedRequest Describe(const http::request<http::buffer_body>& request) {
  RecordedRequest recorded;
  recorded.method = std::string(request.method_string());
  recorded.target = std::string(request.target());
  for (const auto& field : request) {
    recorded.headers.emplace_back(field.name_string(), field.value());
  }
  recorded.chunked = request.chunked();
  return recorded;
}

// ---- shared state -----------------------------------------------------------------------

// Connection counts: updated on the server's thread, read from any.
struct Counters {
  std::atomic<int> accepted{0};
  std::atomic<int> open{0};
  std::atomic<int> aborted{0};
  std::atomic<uint64_t> written{0};  // response bytes the sockets took
};

// What the connections of one mock share with each other and with test threads.
class Ledger {
 public:
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }

  std::string NextRequestId() { return Cat("req_mock_", ++responses_); }

  // The answer to `request`, which is recorded unless it is for a control path.
  Plan Answer(RecordedRequest request, std::string_view body_tail) {
    if (request.target.starts_with(kControlPrefix)) return Control(request);
    BodySample body{request.body_prefix, body_tail, request.body_bytes};
    Plan plan = PlanReply(request, body, state_);
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
    return plan;
  }

  // Records `request`, which asks for a WebSocket, and decides how to answer it. Armed
  // overrides apply to it as to any request (x-mock-ws can be armed).
  WebSocketPlan Upgrade(RecordedRequest request) {
    WebSocketPlan plan = PlanWebSocket(state_.overrides.Apply(request));
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
    return plan;
  }

  std::vector<RecordedRequest> Snapshot() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  // The WebSocket sessions' records go too.
  void ClearRequests() {
    {
      std::lock_guard lock(mutex_);
      requests_.clear();
    }
    websockets_.Clear();
  }

  WebSocketBook& websockets() { return websockets_; }
  const WebSocketBook& websockets() const { return websockets_; }

 private:
  // GET /__mock/requests, GET /__mock/websockets, GET /__mock/stats, POST /__mock/reset
  // (recordings, files, objects and overrides forgotten), POST /__mock/override.
  Plan Control(const RecordedRequest& request) {
    std::string_view path = std::string_view(request.target).substr(kControlPrefix.size());
    path = path.substr(0, path.find('?'));
    if (request.method == "GET" && path == "requests") {
      return JsonPlan(RecordedRequestsJson(Snapshot()));
    }
    if (request.method == "GET" && path == "websockets") {
      return JsonPlan(RecordedWebSocketsJson(websockets_.Snapshot()));
    }
    if (request.method == "GET" && path == "stats") {
      return JsonPlan(
          StatsJson(counters_.accepted, counters_.open, counters_.aborted, websockets_.open()));
    }
    if (request.method == "POST" && path == "reset") {
      ClearRequests();
      state_.Clear();
      return JsonPlan(R"({"reset":true})");
    }
    if (request.method == "POST" && path == "override") {
      if (!state_.overrides.Arm(request)) return ErrorPlan(400);
      return JsonPlan(R"({"armed":true})");
    }
    return ErrorPlan(404);
  }

  Counters counters_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;  // guarded by mutex_
  WebSocketBook websockets_;               // thread-safe
  MockState state_;                        // the server's thread only
  uint64_t responses_ = 0;                 // the server's thread only
};

// Counts a connection as open for as long as it lives.
class OpenCount {
 public:
  explicit OpenCount(std::atomic<int>& open) : open_(&open) { ++*open_; }
  OpenCount(OpenCount&& other) noexcept : open_(std::exchange(other.open_, nullptr)) {}
  OpenCount& operator=(OpenCount&&) = delete;
  ~OpenCount() {
    if (open_) --*open_;
  }

 private:
  std::atomic<int>* open_;
};

// ---- connections ------------------------------------------------------------------------

template <class Stream>
constexpr bool kIsTls = !std::is_same_v<Stream, beast::tcp_stream>;

// Serves the requests of one connection, plain (beast::tcp_stream) or TLS
// (ssl::stream<beast::tcp_stream>), until either side closes it.
// Note: GCC 12 miscompiles co_await in an operand of ?:, && or ||, hence plain ifs.
template <class Stream>
class Connection {
 public:
  Connection(Stream stream, OpenCount count, Ledger& ledger, Millis idle_close)
      : count_(std::move(count)),
        stream_(std::move(stream)),
        ledger_(ledger),
        idle_close_(idle_close),
        piece_(kPieceSize) {}

  // Never throws: a connection must not take the server down.
  net::awaitable<void> Serve() {
    try {
      if (co_await Handshake()) {
        while (co_await ServeOne()) {
        }
      }
    } catch (const std::exception&) {
    }
    Close();
  }

 private:
  enum class Outcome { kKeepAlive, kClose, kAborted };

  net::awaitable<bool> Handshake() {
    if constexpr (kIsTls<Stream>) {
      beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kAwait);
      beast::get_lowest_layer(stream_).expires_never();
      co_return !ec;
    }
    co_return true;
  }

  // Reads one request and answers it; false when the connection is done.
  net::awaitable<bool> ServeOne() {
    Parser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    if (!co_await ReadHeader(parser)) co_return false;
    if (!co_await ContinueIfExpected(parser.get())) co_return false;
    BodyRecorder body;
    if (!co_await ReadBody(parser, body)) co_return false;

    RecordedRequest request = Describe(parser.get());
    body.Finish(request);
    request.request_id = ledger_.NextRequestId();
    if (WantsWebSocket(request) && !request.target.starts_with(kControlPrefix)) {
      co_return co_await ServeUpgrade(parser.get(), std::move(request));
    }
    std::string request_id = request.request_id;
    Plan plan = ledger_.Answer(std::move(request), body.tail());

    Outcome outcome = co_await Respond(plan, request_id, parser.get().keep_alive());
    if (outcome == Outcome::kAborted) ++ledger_.counters().aborted;
    co_return outcome == Outcome::kKeepAlive;
  }

  // Refuses the upgrade the request asked to be refused, as plain HTTP, or runs the
  // WebSocket session. Either ends the connection.
  net::awaitable<bool> ServeUpgrade(const UpgradeRequest& upgrade, RecordedRequest request) {
    WebSocketPlan plan = ledger_.Upgrade(request);
    if (plan.refuse != 0) {
      const Plan refusal = ErrorPlan(plan.refuse);
      Outcome outcome = co_await Respond(refusal, request.request_id, false);
      if (outcome == Outcome::kAborted) ++ledger_.counters().aborted;
      co_return false;
    }
    co_await ServeWebSocket(stream_, upgrade, std::move(plan), std::move(request),
                            ledger_.websockets());
    co_return false;
  }

  // Waits for the next request's header, for at most idle_close_ when that is set.
  net::awaitable<bool> ReadHeader(Parser& parser) {
    auto& socket_layer = beast::get_lowest_layer(stream_);
    if (idle_close_.count() > 0) socket_layer.expires_after(idle_close_);
    auto [ec, bytes] = co_await http::async_read_header(stream_, buffer_, parser, kAwait);
    socket_layer.expires_never();
    co_return !ec;
  }

  net::awaitable<bool> ContinueIfExpected(const http::request<http::buffer_body>& request) {
    if (!beast::iequals(request[http::field::expect], "100-continue")) co_return true;
    http::response<http::empty_body> go_on{http::status::continue_, 11};
    auto [ec, bytes] = co_await http::async_write(stream_, go_on, kAwait);
    co_return !ec;
  }

  net::awaitable<bool> ReadBody(Parser& parser, BodyRecorder& body) {
    while (!parser.is_done()) {
      parser.get().body().data = piece_.data();
      parser.get().body().size = piece_.size();
      auto [ec, bytes] = co_await http::async_read(stream_, buffer_, parser, kAwait);
      if (ec && ec != http::error::need_buffer) co_return false;
      body.Append({piece_.data(), piece_.size() - parser.get().body().size});
    }
    co_return true;
  }

  // Delivers `plan` while watching for the peer to hang up, which cuts the delivery short.
  // The delivery runs to its end either way: the response was aborted unless it got out whole.
  net::awaitable<Outcome> Respond(const Plan& plan, const std::string& request_id,
                                  bool keep_alive) {
    auto executor = co_await net::this_coro::executor;
    auto [order, delivery_error, outcome, watch_error] =
        co_await net::experimental::make_parallel_group(
            net::co_spawn(executor, Deliver(plan, request_id, keep_alive), net::deferred),
            net::co_spawn(executor, WatchForHangUp(), net::deferred))
            .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
    if (delivery_error) co_return Outcome::kAborted;
    if (peer_hung_up_ && outcome == Outcome::kKeepAlive) co_return Outcome::kClose;
    co_return outcome;
  }

  // Completes when the peer closes or resets the connection, or cancelled. Bytes it sends
  // meanwhile (a pipelined request) are kept for the next read. A connection is not read
  // again after a hang-up: Asio 1.81 would wait forever for a second end of file.
  net::awaitable<void> WatchForHangUp() {
    auto [ec, bytes] = co_await stream_.async_read_some(buffer_.prepare(kPieceSize), kAwait);
    buffer_.commit(bytes);
    if (ec) {
      peer_hung_up_ = ec != net::error::operation_aborted;
      co_return;
    }
    net::steady_timer forever(co_await net::this_coro::executor,
                              net::steady_timer::time_point::max());
    co_await forever.async_wait(kAwait);
  }

  net::awaitable<Outcome> Deliver(const Plan& plan, const std::string& request_id,
                                  bool keep_alive) {
    if (!co_await Pause(plan.delay)) co_return Outcome::kAborted;
    if (plan.kind == Plan::Kind::kHangUp) co_return Outcome::kClose;
    if (plan.kind == Plan::Kind::kReset) {
      Reset();
      co_return Outcome::kClose;
    }
    if (plan.kind == Plan::Kind::kRaw) {
      bool written = co_await Write(net::buffer(plan.raw));
      co_return written ? Outcome::kClose : Outcome::kAborted;
    }
    for (const unsigned status : plan.interim) {
      // 103 Early Hints carries headers of its own; the others here none.
      const std::string interim = "HTTP/1.1 " + std::to_string(status) + " Interim\r\n" +
                                  (status == 103 ? "Link: </hint.css>; rel=preload\r\n" : "") +
                                  "\r\n";
      if (!co_await Write(net::buffer(interim))) co_return Outcome::kAborted;
    }
    http::response<http::empty_body> head = Head(plan, request_id, keep_alive);
    http::response_serializer<http::empty_body> serializer(head);
    auto [ec, bytes] = co_await http::async_write_header(stream_, serializer, kAwait);
    if (ec) co_return Outcome::kAborted;
    if (!plan.headers_only) {
      // A reset the plan asked for is the end it wanted, not an abort.
      if (!co_await WriteBody(plan)) co_return reset_ ? Outcome::kClose : Outcome::kAborted;
    }
    if (plan.kind == Plan::Kind::kTruncated || !keep_alive) co_return Outcome::kClose;
    co_return Outcome::kKeepAlive;
  }

  static http::response<http::empty_body> Head(const Plan& plan, const std::string& request_id,
                                               bool keep_alive) {
    http::response<http::empty_body> head;
    head.version(11);
    head.result(plan.status);
    head.set("x-request-id", request_id);
    head.set("openai-processing-ms", "1");
    head.set("openai-version", "2020-10-01");
    if (!plan.content_type.empty()) head.set(http::field::content_type, plan.content_type);
    for (const auto& [name, value] : plan.headers) head.insert(name, value);
    if (plan.kind == Plan::Kind::kEventStream || plan.chunked) {
      head.chunked(true);
    } else {
      head.content_length(plan.kind == Plan::Kind::kBody ? plan.body.size() : plan.pattern_bytes);
    }
    head.keep_alive(keep_alive && plan.kind != Plan::Kind::kTruncated);
    return head;
  }

  net::awaitable<bool> WriteBody(const Plan& plan) {
    switch (plan.kind) {
      case Plan::Kind::kEventStream:
        co_return co_await WriteEvents(plan.stream);
      case Plan::Kind::kPattern:
        co_return co_await WritePattern(plan.pattern_bytes, plan.chunked);
      case Plan::Kind::kTruncated:
        co_return co_await WriteTruncated(plan);
      default:  // kBody
        co_return co_await Write(net::buffer(plan.body));
    }
  }

  // Each event is its own chunk and its own write, `interval` after the previous one.
  net::awaitable<bool> WriteEvents(const EventStream& stream) {
    for (int index = 0; index < StreamLength(stream); ++index) {
      if (index > 0) {
        if (!co_await Pause(stream.interval)) co_return false;
      }
      if (index == stream.reset_at) {
        Reset();
        co_return false;
      }
      std::string event = StreamEvent(stream, index);
      if (!co_await WritePiece(net::buffer(event), true)) co_return false;
    }
    co_return co_await Write(http::make_chunk_last());
  }

  // kTruncatedBytesSent of the promised body, then the plan's cut. A stall lasts until
  // the peer leaves, which ends the delivery as aborted.
  // (Plain ifs and a named duration: GCC 12 miscompiles co_await inside a switch's
  // cases when a temporary is built in the co_await expression.)
  net::awaitable<bool> WriteTruncated(const Plan& plan) {
    if (!co_await WritePattern(kTruncatedBytesSent, plan.chunked, false)) co_return false;
    if (plan.cut == Plan::Cut::kReset) {
      Reset();
      co_return false;
    }
    if (plan.cut == Plan::Cut::kStall) {
      const Millis an_hour = std::chrono::hours(1);
      co_return co_await Pause(an_hour);
    }
    co_return true;  // kClose: the caller closes, as after any kTruncated answer
  }

  // Generated content, one piece per write so that a slow reader holds the mock back.
  // A chunked body gets its last chunk when `end` holds.
  net::awaitable<bool> WritePattern(uint64_t size, bool chunked, bool end = true) {
    for (uint64_t offset = 0; offset < size;) {
      std::span<char> piece(piece_.data(), std::min<uint64_t>(piece_.size(), size - offset));
      FillPattern(offset, piece);
      offset += piece.size();
      if (!co_await WritePiece(net::buffer(piece), chunked)) co_return false;
    }
    if (!chunked || !end) co_return true;
    co_return co_await Write(http::make_chunk_last());
  }

  net::awaitable<bool> WritePiece(net::const_buffer piece, bool chunked) {
    if (chunked) co_return co_await Write(http::make_chunk(piece));
    co_return co_await Write(piece);
  }

  template <class Buffers>
  net::awaitable<bool> Write(const Buffers& buffers) {
    auto [ec, bytes] = co_await net::async_write(stream_, buffers, kAwait);
    ledger_.counters().written += bytes;
    co_return !ec;
  }

  // False when the wait was cut short: the peer hung up.
  static net::awaitable<bool> Pause(Millis duration) {
    if (duration.count() <= 0) co_return true;
    net::steady_timer timer(co_await net::this_coro::executor, duration);
    auto [ec] = co_await timer.async_wait(kAwait);
    co_return !ec;
  }

  // Resets the TCP connection: a zero linger makes close() send RST.
  void Reset() {
    beast::error_code ignored;
    tcp::socket& socket = beast::get_lowest_layer(stream_).socket();
    socket.set_option(tcp::socket::linger(true, 0), ignored);
    socket.close(ignored);
    reset_ = true;
  }

  // Closes the TCP connection without a TLS close_notify: the mock hangs up, it does not
  // say goodbye.
  void Close() {
    beast::error_code ignored;
    tcp::socket& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  OpenCount count_;
  Stream stream_;
  Ledger& ledger_;
  Millis idle_close_;
  beast::flat_buffer buffer_;
  bool peer_hung_up_ = false;
  bool reset_ = false;       // Reset() was called
  std::vector<char> piece_;  // body bytes being read, or generated ones being written
};

template <class Stream>
net::awaitable<void> ServeConnection(Stream stream, OpenCount count, Ledger& ledger,
                                     Millis idle_close) {
  Connection<Stream> connection(std::move(stream), std::move(count), ledger, idle_close);
  co_await connection.Serve();
}

ssl::context MakeTlsContext(const MockOptions& options) {
  ssl::context context(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.use_certificate_chain_file(options.tls_cert_file);
  context.use_private_key_file(options.tls_key_file, ssl::context::pem);
  return context;
}

tcp::endpoint ListenEndpoint(net::io_context& io, const MockOptions& options) {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options.host, ec);
  if (!ec) return {address, options.port};
  tcp::resolver resolver(io);
  return resolver.resolve(options.host, std::to_string(options.port)).begin()->endpoint();
}

// A listening socket (with SO_REUSEADDR) on options.host:options.port; throws on failure.
tcp::acceptor Listen(net::io_context& io, const MockOptions& options) {
  return tcp::acceptor(io, ListenEndpoint(io, options));
}

void IgnoreOutcome(const std::exception_ptr&) {}

}  // namespace

// ---- MockOpenAI -------------------------------------------------------------------------

class MockOpenAI::Server {
 public:
  explicit Server(MockOptions options) : options_(std::move(options)) {}
  ~Server() { Stop(); }

  // What can throw comes first, so that a failed Start() leaves the mock as it was.
  void Start() {
    if (io_) return;
    std::optional<ssl::context> tls;
    if (!options_.tls_cert_file.empty() && !options_.tls_key_file.empty()) {
      tls.emplace(MakeTlsContext(options_));
    }
    auto io = std::make_unique<net::io_context>(1);
    tcp::acceptor acceptor = Listen(*io, options_);
    tls_ = std::move(tls);
    io_ = std::move(io);
    acceptor_.emplace(std::move(acceptor));
    port_ = acceptor_->local_endpoint().port();
    net::co_spawn(*io_, Accept(), IgnoreOutcome);
    thread_ = std::thread([this] { io_->run(); });
  }

  // Stopping the io_context and then destroying it destroys every pending coroutine, which
  // closes every connection. Open WebSockets are asked to close first, so that their
  // clients see a closing handshake where they answer it in time.
  void Stop() {
    CloseWebSockets();
    if (io_) io_->stop();
    if (thread_.joinable()) thread_.join();
    acceptor_.reset();
    io_.reset();
  }

  uint16_t port() const { return port_; }
  const MockOptions& options() const { return options_; }
  bool tls() const { return tls_.has_value(); }
  Ledger& ledger() { return ledger_; }
  const Ledger& ledger() const { return ledger_; }

 private:
  net::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(kAwait);
      if (ec == net::error::operation_aborted) co_return;
      if (ec) {  // e.g. out of descriptors: try again a little later
        net::steady_timer backoff(*io_, Millis(10));
        co_await backoff.async_wait(kAwait);
        continue;
      }
      ++ledger_.counters().accepted;
      Spawn(std::move(socket));
    }
  }

  void CloseWebSockets() {
    WebSocketBook& book = ledger_.websockets();
    if (!thread_.joinable() || book.open() == 0) return;
    net::post(*io_, [&book] { book.CloseAll(); });
    oa::testing::WaitUntil([&] { return book.open() == 0; }, kWebSocketCloseWait);
  }

  void Spawn(tcp::socket socket) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    OpenCount count(ledger_.counters().open);
    Millis idle_close(options_.idle_close_ms);
    beast::tcp_stream plain(std::move(socket));
    if (tls_) {
      ssl::stream<beast::tcp_stream> secure(std::move(plain), *tls_);
      net::co_spawn(*io_, ServeConnection(std::move(secure), std::move(count), ledger_, idle_close),
                    IgnoreOutcome);
    } else {
      net::co_spawn(*io_, ServeConnection(std::move(plain), std::move(count), ledger_, idle_close),
                    IgnoreOutcome);
    }
  }

  MockOptions options_;
  Ledger ledger_;
  std::optional<ssl::context> tls_;
  // Declared after what its handlers use, and reset by Stop() before those go away.
  std::unique_ptr<net::io_context> io_;
  std::optional<tcp::acceptor> acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

MockOpenAI::MockOpenAI(MockOptions options)
    : server_(std::make_unique<Server>(std::move(options))) {}

MockOpenAI::~MockOpenAI() = default;

void MockOpenAI::Start() { server_->Start(); }

void MockOpenAI::Stop() { server_->Stop(); }

uint16_t MockOpenAI::port() const { return server_->port(); }

std::string MockOpenAI::base_url() const {
  const std::string& host = server_->options().host;
  bool ipv6 = host.find(':') != std::string::npos;
  return Cat(server_->tls() ? "https://" : "http://", ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":",
             port());
}

std::vector<RecordedRequest> MockOpenAI::requests() const { return server_->ledger().Snapshot(); }

void MockOpenAI::ClearRequests() { server_->ledger().ClearRequests(); }

std::vector<RecordedWebSocket> MockOpenAI::websockets() const {
  return server_->ledger().websockets().Snapshot();
}

int MockOpenAI::open_websockets() const { return server_->ledger().websockets().open(); }

int MockOpenAI::accepted_connections() const { return server_->ledger().counters().accepted; }

int MockOpenAI::open_connections() const { return server_->ledger().counters().open; }

int MockOpenAI::aborted_responses() const { return server_->ledger().counters().aborted; }

uint64_t MockOpenAI::bytes_written() const { return server_->ledger().counters().written; }

bool MockOpenAI::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  return oa::testing::WaitUntil(pred, timeout, Millis(10));
}

}  // namespace oa::mock
