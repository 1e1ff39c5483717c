#include "http/session.h"

#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "base/strings.h"
#include "call/call.h"
#include "http/client_downstream.h"
#include "http/request_head.h"
#include "http/websocket_relay.h"
#include "net/client_hello.h"
#include "net/http_read.h"
#include "net/watchdog.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace oa::http {
namespace {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using net::Clock;
using net::kNoThrow;

constexpr std::string_view kHealthBody = "OpenAI API Server is running";

// How long a connection ended with request bytes unread goes on taking them (Linger()).
constexpr absl::Duration kLingerTime = absl::Seconds(5);

// A connection's stream: TLS (its handshake still to come) when the front has a certificate.
net::Stream OpenStream(net::tcp::socket socket, asio::ssl::context* tls) {
  if (tls == nullptr) return net::Stream(std::move(socket));
  return net::Stream(std::move(socket), *tls);
}

class Session final : public OpenConnection {
 public:
  Session(net::tcp::socket socket, FrontContext& context, std::string_view already_read)
      : stream_(OpenStream(std::move(socket), context.tls)),
        context_(context),
        deadline_(stream_.get_executor(), [this] { DeadlinePassed(); }) {
    if (!already_read.empty()) {
      const size_t n =
          asio::buffer_copy(buffer_.prepare(already_read.size()), asio::buffer(already_read));
      buffer_.commit(n);
    }
    net::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      peer_address_ = peer.address().to_string();
      peer_ = StrCat(peer_address_, ":", peer.port());
    }
    context_.connections.Add(this);
  }
  ~Session() override { context_.connections.Remove(this); }

  // What deadline_ does when it passes: close the connection, which ends whatever client
  // I/O is under way; or, for a request body that took too long, cancel the read only,
  // so that the 408 can still go out.
  void DeadlinePassed() {
    if (!deadline_cancels_) {
      stream_.Close();
      return;
    }
    net::error_code ignored;
    stream_.socket().cancel(ignored);
  }

  void CloseWhenIdle() override {
    if (idle_) stream_.Close();  // else the loop in Serve() ends after this answer
  }

  asio::awaitable<void> Run() {
    // A deadline that passes closes the stream, which ends whatever client I/O Serve()
    // awaits; it is set only around client I/O.
    co_await Serve();
    if (linger_) co_await Linger();
    stream_.Close();
  }

 private:
  // Note on style: GCC 12 can destroy a temporary twice when it is created inside a
  // co_await expression, so arguments of class type are named locals here, never
  // temporaries in the co_await line.
  asio::awaitable<void> Serve() {
    const config::Settings& settings = context_.settings;
    if (stream_.tls() != nullptr) {
      const bool secured = co_await Handshake();
      if (!secured) co_return;
    }
    for (bool first = true;; first = false) {
      net::RequestParser parser;
      parser.header_limit(settings.max_header_bytes);
      parser.body_limit(settings.max_body_bytes);
      // Between requests a client may idle; once bytes arrive the header must follow.
      deadline_.Expire(first || buffer_.size() > 0 ? settings.client_header_timeout
                                                   : settings.client_idle_timeout);
      idle_ = buffer_.size() == 0;  // nothing of a next request yet: a drain may close it
      auto [ec, n] = co_await net::ReadHeader(stream_, buffer_, parser);
      idle_ = false;
      deadline_.Clear();
      // Beast holds the request line and the fields to the limit each, not together.
      if (!ec && n > settings.max_header_bytes) ec = bhttp::error::header_limit;
      if (ec) {
        if (const std::optional<call::CallError> error = ReadError(ec, parser)) {
          closing_ = true;  // the connection ends with this answer
          co_await Reply(parser, *error);
          linger_ = true;
        }
        co_return;
      }
      if (const std::optional<call::CallError> error = CheckRequestHead(parser.head())) {
        closing_ = true;  // whatever follows such a head is not read as another request
        const Clock::time_point now = Clock::now();
        co_await ReplyLogged(parser, *error, now, "-");
        linger_ = true;
        co_return;
      }
      if (!co_await Handle(parser)) {
        linger_ = !parser.is_done() || buffer_.size() > 0;  // the client may be sending
        co_return;
      }
      if (context_.connections.draining()) co_return;
    }
  }

  // Closing a connection with request bytes unread makes TCP reset it, and a reset can
  // destroy an answer the client has yet to read (many stacks drop what they hold then):
  // a 413 or 401 to an upload would reach its client as "connection reset". So once such
  // a connection's last answer is out, the gateway sends its FIN and reads and drops what
  // still comes, until the client closes too or kLingerTime passes (nginx's lingering
  // close). A drain waits for it as for any open connection.
  asio::awaitable<void> Linger() {
    net::error_code ec;
    stream_.socket().shutdown(net::tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    deadline_.Expire(kLingerTime);
    buffer_.clear();
    const auto space = buffer_.prepare(size_t{16} * 1024);
    for (;;) {
      auto [read_ec, n] = co_await stream_.socket().async_read_some(space, kNoThrow);
      if (read_ec) break;
    }
    deadline_.Clear();
  }

  // The REST front's TLS, starting from the ClientHello the worker read, if it read it
  // (worker/first_bytes.h). False if the client is gone or no TLS could be agreed.
  asio::awaitable<bool> Handshake() {
    deadline_.Expire(context_.settings.client_header_timeout);
    const auto hello = buffer_.cdata();
    auto [ec, used] =
        co_await stream_.tls()->async_handshake(asio::ssl::stream_base::server, hello, kNoThrow);
    deadline_.Clear();
    if (ec) {
      OA_LOG(kDebug, "TLS handshake with %s failed: %s", peer_, ec.message());
      co_return false;
    }
    buffer_.consume(used);
    co_return true;
  }

  // The answer to a request whose header could not be read; nullopt when the client
  // just went away (or timed out), which deserves no answer.
  std::optional<call::CallError> ReadError(const net::error_code& ec,
                                           const net::RequestParser& parser) const {
    // The request line itself did not fit: no line end within the limit. (Beast parses
    // the line only once the whole head is in, so its target tells nothing here.)
    const auto held = buffer_.cdata();
    const std::string_view seen(static_cast<const char*>(held.data()), held.size());
    const bool line_fits = !parser.head().target().empty() ||
                           seen.substr(0, context_.settings.max_header_bytes + 2).find("\r\n") !=
                               std::string_view::npos;
    if (ec == bhttp::error::header_limit && !line_fits) {
      return call::RequestLineTooLong(context_.settings.max_header_bytes);
    }
    if (ec == bhttp::error::header_limit) {
      return call::HeadersTooLarge(context_.settings.max_header_bytes);
    }
    if (ec == bhttp::error::body_limit) return call::BodyTooLarge(context_.settings.max_body_bytes);
    if (upstream::IsMalformedMessage(ec)) return call::BadRequest(ec.message());
    return std::nullopt;
  }

  // What the REST front refuses before the call is admitted, or nullopt.
  std::optional<call::CallError> Refusal(const net::RequestParser& parser,
                                         const std::optional<route::RouteMatch>& match) const {
    const auto& request = parser.head();
    if (!match && context_.settings.reject_unmodelled) {
      return call::UnmodelledUrl(request.method_string(), request.target());
    }
    if (HasBody(parser) && !TakesBody(request.method(), match)) {
      return call::UnexpectedBody(request.method_string(), request.target());
    }
    if (parser.content_length().value_or(0) > context_.settings.max_body_bytes) {
      return call::BodyTooLarge(context_.settings.max_body_bytes);
    }
    return std::nullopt;
  }

  static bool HasBody(const net::RequestParser& parser) {
    return parser.chunked() || parser.content_length().value_or(0) > 0;
  }

  // Whether a call may carry a body. Where OpenAI's API has none, a body is refused: an
  // upstream that does not read it, as many small OpenAI-compatible servers do not for a
  // GET, would take its bytes for the next request on the connection, and its answer
  // would go to another caller. A route of proto/ says whether it has one; for a path it
  // does not describe, only POST, PUT and PATCH (as spelled, case and all) may, the
  // methods whose bodies every server reads. (A WebSocket route's body is its frames.)
  static bool TakesBody(bhttp::verb method, const std::optional<route::RouteMatch>& match) {
    if (match) return !match->route->body.empty() && !match->route->websocket;
    return method == bhttp::verb::post || method == bhttp::verb::put ||
           method == bhttp::verb::patch;
  }

  // What the gateway answers itself, before any route is looked up.
  enum class OwnAnswer { kNone, kPreflight, kHealth, kReady, kMetrics, kUnknownUrl };

  static OwnAnswer OwnAnswerFor(const net::MessageHead& request, std::string_view path) {
    if (request.method() == bhttp::verb::options &&
        request.Count(bhttp::field::access_control_request_method) > 0) {
      return OwnAnswer::kPreflight;
    }
    const bool get = request.method() == bhttp::verb::get || request.method() == bhttp::verb::head;
    if (get && path == "/health") return OwnAnswer::kHealth;
    if (get && path == "/ready") return OwnAnswer::kReady;
    if (get && path == "/metrics") return OwnAnswer::kMetrics;
    if (path != "/v1" && !path.starts_with("/v1/")) return OwnAnswer::kUnknownUrl;
    return OwnAnswer::kNone;
  }

  // Answers one request; true if the connection may carry another.
  //
  // The relay's path is split into coroutines that hold only what each step needs: GCC
  // keeps every local of a coroutine in its frame, and Asio's frame cache takes frames up
  // to 1 KiB; one frame holding all the answers the gateway gives itself cost a malloc
  // and a free per call.
  asio::awaitable<bool> Handle(net::RequestParser& parser) {
    const Clock::time_point start = Clock::now();
    const std::string_view target = parser.head().target();
    const std::string_view path = target.substr(0, target.find('?'));
    const OwnAnswer own = OwnAnswerFor(parser.head(), path);
    if (own != OwnAnswer::kNone) co_return co_await AnswerItself(parser, own, start);

    const observe::GaugeHold in_flight(observe::metrics().in_flight(observe::Front::kRest));
    const std::optional<route::RouteMatch> match =
        context_.routes.MatchHttp(parser.head().method_string(), path);
    const std::string_view rpc = match ? std::string_view(match->route->rpc) : "unmodelled";
    const bool upgrade = IsWebSocketUpgrade(parser.head());
    if (upgrade) websocket_authorization_ = SubprotocolKey(parser.head());
    call_.emplace(context_.resources, Identify(parser, rpc, upgrade), start);
    std::optional<bool> refused;
    if (call_->MustAdmit() || Refusal(parser, match)) {
      refused = co_await Admit(parser, match, upgrade);
    }
    bool keep_alive = false;
    if (refused) {
      keep_alive = *refused;
    } else if (upgrade) {
      keep_alive = co_await RelayWebSocket(parser);
    } else {
      keep_alive = co_await Relay(parser);
    }
    call_.reset();  // gives back the call's places in the limits
    websocket_authorization_.clear();
    co_return keep_alive;
  }

  // Who calls what, for the call's admission and its record. A browser's WebSocket, which
  // cannot send Authorization, may send the key as a subprotocol (SubprotocolKey).
  call::Identity Identify(const net::RequestParser& parser, std::string_view rpc,
                          bool websocket = false) const {
    const net::MessageHead& request = parser.head();
    std::string_view authorization = request.Value(bhttp::field::authorization);
    if (authorization.empty()) authorization = websocket_authorization_;
    return {observe::Front::kRest,
            peer_,
            peer_address_,
            request.method_string(),
            request.target(),
            rpc,
            authorization,
            request.Value("x-request-id"),
            websocket};
  }

  // An upgrade to WebSocket: Upgrade names websocket and Connection names upgrade (RFC
  // 6455, 4.2.1). Whether it is a valid one is BadUpgrade's business.
  static bool IsWebSocketUpgrade(const net::MessageHead& request) {
    const auto names = [&](bhttp::field field, std::string_view token) {
      for (const net::HeadField f : request.fields()) {
        if (f.code != field) continue;
        for (std::string_view item : Split(f.value, ',')) {
          if (EqualsIgnoreCase(TrimAscii(item), token)) return true;
        }
      }
      return false;
    };
    return names(bhttp::field::upgrade, "websocket") && names(bhttp::field::connection, "upgrade");
  }

  // The key a browser sends as the subprotocol "openai-insecure-api-key.<key>", as the
  // Authorization value it stands for ("Bearer <key>"); empty when there is none. It is
  // fingerprinted like Authorization, and goes upstream inside the subprotocol header,
  // unchanged.
  static std::string SubprotocolKey(const net::MessageHead& request) {
    constexpr std::string_view kPrefix = "openai-insecure-api-key.";
    for (const net::HeadField f : request.fields()) {
      if (f.code != bhttp::field::sec_websocket_protocol) continue;
      for (std::string_view item : Split(f.value, ',')) {
        item = TrimAscii(item);
        if (item.size() > kPrefix.size() && item.starts_with(kPrefix)) {
          return StrCat("Bearer ", item.substr(kPrefix.size()));
        }
      }
    }
    return {};
  }

  // Why an upgrade is not a valid WebSocket one, or nullopt. (--websocket=off is the call
  // core's refusal: call::Call::Admit.)
  static std::optional<call::CallError> UpgradeRefusal(const net::MessageHead& request) {
    if (request.method() != bhttp::verb::get) {
      return call::BadUpgrade(StrCat("a WebSocket opens with GET, not ", request.method_string()));
    }
    if (request.version() < 11) return call::BadUpgrade("a WebSocket opens over HTTP/1.1");
    if (request.Value(bhttp::field::sec_websocket_key).empty()) {
      return call::BadUpgrade("Sec-WebSocket-Key is missing");
    }
    if (request.Value(bhttp::field::sec_websocket_version) != "13") {
      return call::BadUpgrade("Sec-WebSocket-Version must be 13");
    }
    return std::nullopt;
  }

  asio::awaitable<bool> AnswerItself(net::RequestParser& parser, OwnAnswer own,
                                     Clock::time_point start) {
    switch (own) {
      case OwnAnswer::kPreflight:
        co_return co_await Preflight(parser);
      case OwnAnswer::kHealth:
        co_return co_await Reply(parser, 200, "text/plain; charset=utf-8", kHealthBody);
      case OwnAnswer::kReady: {
        const bool ready = context_.ready->load() && !context_.connections.draining();
        co_return co_await Reply(parser, ready ? 200 : 503, "text/plain; charset=utf-8",
                                 ready ? "ready" : "shutting down");
      }
      case OwnAnswer::kMetrics: {
        const std::string text = observe::metrics().Render();
        co_return co_await Reply(parser, 200, "text/plain; version=0.0.4; charset=utf-8", text);
      }
      case OwnAnswer::kUnknownUrl:
      case OwnAnswer::kNone:
        break;
    }
    const call::CallError error =
        call::UnknownUrl(parser.head().method_string(), parser.head().target());
    co_return co_await ReplyLogged(parser, error, start, "-");
  }

  // Admits call_ and gives nullopt; or answers the refusal itself and gives whether the
  // connection may carry another request.
  asio::awaitable<std::optional<bool>> Admit(net::RequestParser& parser,
                                             const std::optional<route::RouteMatch>& match,
                                             bool upgrade) {
    std::optional<call::CallError> refusal;
    if (upgrade) {
      closing_ = true;  // whatever comes of an upgrade, the connection ends with it
      refusal = UpgradeRefusal(parser.head());
    }
    if (!refusal) refusal = Refusal(parser, match);
    if (!refusal) refusal = co_await call_->Admit();
    if (!refusal) co_return std::nullopt;
    const bool keep_alive = co_await Reply(parser, *refusal);
    call_->Record(call::Ending::Http(refusal->http_status, own_body_bytes_));
    co_return keep_alive;
  }

  // Relays an admitted request to the upstream and the answer back; true if the
  // connection may carry another request. A coroutine of its own so that Handle's frame,
  // which holds what every answer of the gateway's own needs, stays apart from the
  // relay's: together they passed the 1 KiB that Asio's frame cache keeps, which cost a
  // malloc and a free per call.
  asio::awaitable<bool> Relay(net::RequestParser& parser) {
    ClientDownstream downstream({stream_, buffer_, deadline_, deadline_cancels_}, parser,
                                context_.resources.pool.url(), context_.settings,
                                context_.connections, context_.cors);
    upstream::ForwardOutcome out = co_await call_->Forward(downstream);
    bool keep_alive = !out.failure && downstream.reusable();
    call::Ending ending = call::Ending::Http(out.status, 0, &out);
    if (out.failure) {
      keep_alive = co_await ReplyFailure(parser, out, ending.http_status);
      ending.own_bytes_out = own_body_bytes_;
    }
    call_->Record(ending);
    co_return keep_alive;
  }

  // Relays an admitted WebSocket upgrade; the upstream's refusal goes to the client as it
  // came. If the upstream switches protocols and its 101 reaches the client, the relay
  // takes the two connections and the call, with its places in the limits, for the rest
  // of the session (websocket_relay.h), and this connection's session is over.
  asio::awaitable<bool> RelayWebSocket(net::RequestParser& parser) {
    ClientDownstream downstream({stream_, buffer_, deadline_, deadline_cancels_}, parser,
                                context_.resources.pool.url(), context_.settings,
                                context_.connections, context_.cors, /*upgrade=*/true);
    upstream::ForwardOutcome out = co_await call_->Forward(downstream);
    if (std::unique_ptr<upstream::Connection> upstream = downstream.TakeSwitched()) {
      call_->KeepIdentity();
      WebSocketRelay::Start({std::move(stream_), std::move(buffer_), std::move(upstream)},
                            *std::move(call_), std::move(out), context_);
      co_return false;
    }
    if (out.switched) out.client_gone = true;  // the upstream's 101 did not reach the client
    call::Ending ending = call::Ending::Http(out.status, 0, &out);
    if (out.failure) {
      co_await ReplyFailure(parser, out, ending.http_status);
      ending.own_bytes_out = own_body_bytes_;
    }
    call_->Record(ending);
    co_return false;
  }

  // The gateway's own answer when the relay failed before anything reached the client;
  // `status` is set to its status. (Apart from Relay for the same reason as Relay.)
  asio::awaitable<bool> ReplyFailure(net::RequestParser& parser,
                                     const upstream::ForwardOutcome& out, int& status) {
    const call::CallError error = call::ForwardFailure(out, context_.settings.max_body_bytes);
    status = error.http_status;
    co_return co_await Reply(parser, error);
  }

  asio::awaitable<bool> Preflight(net::RequestParser& parser) {
    bhttp::response<bhttp::string_body> response{bhttp::status::no_content,
                                                 parser.head().version()};
    context_.cors.DecoratePreflight(
        parser.head().Value(bhttp::field::origin),
        parser.head().Value(bhttp::field::access_control_request_headers), response.base());
    co_return co_await Send(parser, response);
  }

  asio::awaitable<bool> Reply(net::RequestParser& parser, const call::CallError& error) {
    const std::string json = error.ToJson();
    const std::string retry_after =
        error.retry_after_seconds > 0 ? StrCat(error.retry_after_seconds) : "";
    co_return co_await Reply(parser, error.http_status, "application/json", json, retry_after);
  }

  asio::awaitable<bool> Reply(net::RequestParser& parser, int status, std::string_view content_type,
                              std::string_view body, std::string_view retry_after = {}) {
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status),
                                                 parser.head().version()};
    response.set(bhttp::field::content_type, content_type);
    if (!retry_after.empty()) response.set(bhttp::field::retry_after, retry_after);
    response.body() = std::string(body);
    context_.cors.Decorate(parser.head().Value(bhttp::field::origin), response.base());
    co_return co_await Send(parser, response);
  }

  // An answer of the gateway's own to a request that never became a call.
  asio::awaitable<bool> ReplyLogged(net::RequestParser& parser, const call::CallError& error,
                                    Clock::time_point start, std::string_view rpc) {
    const bool keep_alive = co_await Reply(parser, error);
    call::RecordCall(Identify(parser, rpc), absl::FromChrono(Clock::now() - start),
                     call::Ending::Http(error.http_status, own_body_bytes_));
    co_return keep_alive;
  }

  // Writes a response of the gateway's own. A request whose body was not read cannot be
  // followed by another on this connection, so such a connection is closed after it.
  asio::awaitable<bool> Send(net::RequestParser& parser,
                             bhttp::response<bhttp::string_body>& response) {
    own_body_bytes_ = 0;
    const bool keep_alive = !closing_ && parser.is_header_done() && parser.is_done() &&
                            parser.keep_alive() && !context_.connections.draining();
    response.keep_alive(keep_alive);
    if (parser.head().method() == bhttp::verb::head) {
      response.content_length(response.body().size());
      response.body().clear();
    } else {
      response.prepare_payload();
    }
    deadline_.Expire(context_.settings.client_io_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream_, response, kNoThrow);
    deadline_.Clear();
    if (!ec) own_body_bytes_ = response.body().size();
    co_return !ec && keep_alive;
  }

  net::Stream stream_;
  FrontContext& context_;
  beast::flat_buffer buffer_;
  net::Watchdog deadline_;
  std::string peer_ = "-";
  std::string peer_address_;
  bool deadline_cancels_ = false;        // see DeadlinePassed()
  bool idle_ = false;                    // waiting for a request of which no byte has arrived
  bool closing_ = false;                 // the answer under way is the connection's last
  bool linger_ = false;                  // ... and the client may still be sending (Linger())
  size_t own_body_bytes_ = 0;            // of the last answer of the gateway's own, once written
  std::optional<call::Call> call_;       // the call under way, from its head to its record
  std::string websocket_authorization_;  // SubprotocolKey() of the upgrade under way
};

}  // namespace

asio::awaitable<void> ServeConnection(net::tcp::socket socket, FrontContext& context,
                                      std::string already_read) {
  Session session(std::move(socket), context, already_read);
  std::string().swap(already_read);  // copied: not held for the connection's life
  co_await session.Run();
}

}  // namespace oa::http
