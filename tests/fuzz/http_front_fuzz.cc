// Fuzzes the REST front's request handling through the real code a worker runs for a
// new connection (worker/first_bytes.h, which tells HTTP/2 from HTTP/1, then
// http/session.h: ServeConnection, with client_downstream, the forwarder, the pool,
// CORS and the gateway's own answers), in process. The input is
// what a client writes on a new plaintext connection, pipelined requests and all.
//
// Each input gets a socket pair: one end is the session's socket, the other the
// client's, which writes the whole input, reads the answers, and half-closes once the
// answers to every complete request it sent have come (so a request left unfinished ends
// at once instead of at a timeout). The upstream is a mock in the same io_context, on a
// loopback port: it parses every request the gateway sends with Beast's strict parser
// and answers 200 with a small JSON body, or an SSE stream when asked for one. Nothing
// else runs; one input takes well under a millisecond of gateway work.
//
// A reference parse of the input with Beast's request parser (the gateway's limits)
// says which requests the client sent. What must hold, besides no crash, leak,
// undefined behaviour or exception out of the session:
//   - the client receives a sequence of complete, valid HTTP/1.x responses (interim
//     100s allowed, to HTTP/1.1 requests only) and nothing else, at most one final
//     answer per request sent, and the connection closes; the gateway's own errors
//     (4xx/5xx) are OpenAI's error JSON;
//   - a relayed 200 arrives with the mock's body, unchanged;
//   - every request the gateway sends upstream is valid HTTP/1.1 (complete, unless the
//     client left in its body), one of the client's requests in order, with the same
//     method, the target re-based onto the upstream URL, the same Authorization and the
//     same body bytes, Host set to the upstream's, and no hop-by-hop header;
//   - the caller's key (an Authorization value that looks like one: see KeyOf) never
//     appears in an answer but /metrics unless the client wrote it somewhere else too;
//   - a connection hands off to HTTP/2 exactly when it starts with the HTTP/2 preface;
//   - no input makes the gateway wait for a timeout (the client and the mock never
//     leave it waiting, so a timeout means the two sides disagreed about framing).
// Three front configurations take turns by the input's length: the defaults,
// --reject-unmodelled with a CORS origin list, and a head limit of 96 bytes, which short
// inputs reach: with it, every read loop's contract that a parser asking for more holds
// no more than the head limit (net/http_read.cc, checked in this build) meets chunk-size
// lines, extensions and trailers longer than the limit.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "call/headers.h"
#include "config/settings.h"
#include "fuzz_support.h"
#include "http/cors.h"
#include "http/session.h"
#include "limits/admission.h"
#include "net/delay_queue.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "upstream/base_url.h"
#include "upstream/pool.h"
#include "worker/first_bytes.h"

namespace oa::fuzz {
namespace {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
using net::kNoThrow;
using net::tcp;
using local = asio::local::stream_protocol;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kJsonAnswer = R"({"id":"fuzz","object":"list","data":[]})";
constexpr std::string_view kSseAnswer =
    "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
constexpr auto kTimeout = std::chrono::seconds(5);

// The path a target names on this server. RFC 9112 has servers accept absolute-form
// ("http://any-host/v1/models?x") as the origin-form after its authority; the authority
// is ignored, since the upstream is configured.
std::string OriginTarget(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size() ||
        !EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      continue;
    }
    const std::string_view rest = target.substr(scheme.size());
    const size_t path = rest.find_first_of("/?");
    if (path == std::string_view::npos) return "/";
    return StrCat(rest[path] == '?' ? "/" : "", rest.substr(path));
  }
  return std::string(target);
}

// What the client sent, as Beast's parser reads it with the gateway's limits.
struct ClientRequest {
  std::string method;
  std::string target;  // in origin-form
  std::string authorization;
  std::string body;
  bool complete = false;
  bool is_head = false;
  unsigned version = 11;
};

struct ReferenceParse {
  std::vector<ClientRequest> requests;  // complete ones, then the one that stopped, if any
  size_t complete = 0;
};

ReferenceParse ParseRequests(std::string_view input, const config::Settings& settings) {
  ReferenceParse out;
  size_t pos = 0;
  while (pos < input.size()) {
    bhttp::request_parser<bhttp::string_body> p;
    p.header_limit(settings.max_header_bytes);
    p.body_limit(settings.max_body_bytes);
    net::error_code ec;
    size_t header_bytes = 0;
    while (!p.is_header_done()) {
      const size_t used = p.put(asio::buffer(input.data() + pos, input.size() - pos), ec);
      pos += used;
      header_bytes += used;
      if (ec || used == 0) break;
    }
    // The gateway's limit is on the whole header (Beast's alone lets a little more by).
    if (!ec && header_bytes > settings.max_header_bytes) ec = bhttp::error::header_limit;
    p.eager(true);
    while (!ec && !p.is_done()) {
      const size_t used = p.put(asio::buffer(input.data() + pos, input.size() - pos), ec);
      pos += used;
      if (ec || used == 0) break;
    }
    ClientRequest r;
    if (p.is_header_done() || p.get().method() != bhttp::verb::unknown) {
      r.method = std::string(p.get().method_string());
      r.target = OriginTarget(p.get().target());
      r.authorization = std::string(p.get()[bhttp::field::authorization]);
      r.is_head = p.get().method() == bhttp::verb::head;
      r.version = p.get().version();
    }
    r.complete = !ec && p.is_done();
    if (r.complete) r.body = p.get().body();
    out.requests.push_back(std::move(r));
    if (!out.requests.back().complete) break;
    ++out.complete;
  }
  return out;
}

// The client's view of what came back.
struct Responses {
  size_t finals = 0;
  std::vector<int> statuses;  // of the final answers
  std::vector<std::string> bodies;
  std::vector<std::string> content_types;
  std::vector<std::string> raw;     // each final answer as it came, head and body
  std::vector<size_t> interim_for;  // the request each 1xx answer came for
  bool clean = true;                // every byte belongs to a complete response
  std::string error;
};

Responses ParseResponses(std::string_view bytes, const ReferenceParse& sent, bool at_eof) {
  Responses out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t start = pos;
    bhttp::response_parser<bhttp::string_body> p;
    p.eager(true);
    p.header_limit(1 << 20);
    p.body_limit(1 << 24);
    if (out.finals < sent.requests.size() && sent.requests[out.finals].is_head) p.skip(true);
    net::error_code ec;
    while (!p.is_done()) {
      const size_t used = p.put(asio::buffer(bytes.data() + pos, bytes.size() - pos), ec);
      pos += used;
      if (ec || used == 0) break;
    }
    if (at_eof && p.is_header_done() && !p.is_done() && (!ec || ec == bhttp::error::need_more)) {
      ec = {};
      p.put_eof(ec);  // a body that ends with the connection (HTTP/1.0 client)
    }
    if (!p.is_done()) {
      out.clean = false;
      out.error = ec ? ec.message() : "incomplete";
      return out;
    }
    const int status = p.get().result_int();
    if (status >= 100 && status < 200) {  // interim (100 Continue)
      out.interim_for.push_back(out.finals);
      continue;
    }
    ++out.finals;
    out.statuses.push_back(status);
    out.bodies.push_back(p.get().body());
    out.content_types.push_back(std::string(p.get()[bhttp::field::content_type]));
    out.raw.emplace_back(bytes.substr(start, pos - start));
  }
  return out;
}

// What the mock upstream received.
struct UpstreamRequest {
  std::string method;
  std::string target;
  std::string host;
  std::string authorization;
  std::string body;
  std::vector<std::string> header_names;
  std::vector<std::string> connection_tokens;
  std::string transfer_encoding;
  bool complete = false;
};

// What the worker did with the connection before any front: handed it to gRPC, with the
// bytes it had read.
struct Handoff {
  bool adopted = false;
  std::string read;
};

// The connection's way through a worker (worker/workers.cc): its first bytes tell the
// front; HTTP/2 is recorded as handed off, HTTP/1 served by the REST front.
asio::awaitable<void> Accepted(tcp::socket socket, http::FrontContext& context, Handoff& handoff,
                               absl::Duration timeout) {
  worker::FirstBytes first = co_await worker::ReadFirstBytes(socket, false, timeout);
  if (first.protocol == worker::Protocol::kHttp2) {
    handoff.adopted = true;
    handoff.read = std::move(first.read);
  } else if (first.protocol == worker::Protocol::kHttp1) {
    co_await http::ServeConnection(std::move(socket), context, std::move(first.read));
  }
}

// One configuration of the front: its settings, CORS policy and session context.
struct Front {
  Front(const config::Settings& s, upstream::Pool& pool, net::DelayQueue& caller_watches,
        const upstream::ForwardLimits& limits, http::Connections& connections,
        limits::WorkerAdmission& admission, const std::atomic<bool>* ready)
      : settings(s), cors(s.cors_origins), context{settings,
                                                   Table(),
                                                   cors,
                                                   {pool, limits, caller_watches, admission},
                                                   connections,
                                                   ready,
                                                   nullptr} {}

  config::Settings settings;
  http::Cors cors;
  http::FrontContext context;
};

// The key of an Authorization value when it looks like one ("Bearer sk-..."): a token
// of 12 or more letters, digits, '-' and '_', with a letter and a digit. Shorter or
// plainer values can occur in the gateway's own texts, so they are not looked for.
std::string_view KeyOf(std::string_view authorization) {
  std::string_view key = authorization;
  if (StartsWithIgnoreCase(key, "Bearer ")) key.remove_prefix(7);
  bool letter = false, digit = false;
  for (char c : key) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      letter = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '-' && c != '_') {
      return {};
    }
  }
  return key.size() >= 12 && letter && digit ? key : std::string_view();
}

// The targets the front relays (or refuses itself): "/v1" and "/v1/...", any query.
bool IsApiTarget(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == "/v1" || path.starts_with("/v1/");
}

// Everything that lives across inputs: the io_context, the mock upstream, the pool (so
// its keep-alive connections to the mock are reused) and the fronts.
class World {
 public:
  World()
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        upstream_url_(*upstream::BaseUrl::Parse(
            StrCat("http://127.0.0.1:", acceptor_.local_endpoint().port(), "/base/v1"))),
        pool_(
            upstream_url_, nullptr,
            {.max_idle = 4, .idle_timeout = absl::Seconds(50), .connect_timeout = absl::Seconds(5)},
            trust_, caller_watches_),
        admission_(*limits::Admission::Create(Defaults())),
        worker_admission_(*admission_) {
    observe::SetLogLevel(observe::LogLevel::kOff);
    std::vector<std::string> rpcs;
    for (const route::Route& r : Table().routes()) rpcs.push_back(r.rpc);
    observe::metrics().SetRpcs(rpcs);
    worker_admission_.Bind(io_.get_executor());
    forward_limits_.first_byte_timeout = absl::Seconds(5);
    forward_limits_.idle_timeout = absl::Seconds(5);
    plain_ = MakeFront(Defaults());
    config::Settings strict = Defaults();
    strict.reject_unmodelled = true;
    strict.cors_origins = {"https://app.example"};
    strict_ = MakeFront(strict);
    config::Settings tight = Defaults();
    tight.max_header_bytes = 96;
    tight_ = MakeFront(tight);
    asio::co_spawn(io_, Accept(), asio::detached);
  }

  void Run(std::string_view input) {
    Front& front = input.size() % 3 == 0 ? *plain_ : input.size() % 3 == 1 ? *strict_ : *tight_;
    const ReferenceParse sent = ParseRequests(input, front.settings);
    Handoff handoff;
    received_.clear();

    int fds[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair failed");
    tcp::socket server(io_);
    server.assign(tcp::v4(), fds[0]);
    local::socket client(io_);
    client.assign(local(), fds[1]);

    bool session_done = false;
    std::exception_ptr session_error;
    asio::co_spawn(
        io_,
        Accepted(std::move(server), front.context, handoff, front.settings.client_header_timeout),
        [&](std::exception_ptr e) {
          session_done = true;
          session_error = e;
        });
    std::string answers;
    bool client_done = false;
    asio::co_spawn(io_, Client(client, input, sent, answers),
                   [&](std::exception_ptr) { client_done = true; });
    const auto start = std::chrono::steady_clock::now();
    io_.restart();
    while (!(session_done && client_done)) io_.run_one();
    io_.poll();
    const auto elapsed = std::chrono::steady_clock::now() - start;

    FUZZ_CHECK(!session_error, "an exception left the session");
    FUZZ_CHECK(elapsed < kTimeout, "the connection took %lld ms: the gateway waited for a timeout",
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));

    const bool preface = input.starts_with(kPreface);
    FUZZ_CHECK(handoff.adopted == preface, "HTTP/2 hand-off %d for an input %s the preface",
               handoff.adopted, preface ? "starting with" : "not starting with");
    if (handoff.adopted) {
      FUZZ_CHECK(handoff.read.starts_with(kPreface) && answers.empty() && received_.empty(),
                 "hand-off with answers or upstream calls");
      return;
    }
    if (verbose_) {
      std::fprintf(stderr, "%zu request(s), %zu complete; %zu upstream; answers: %s\n",
                   sent.requests.size(), sent.complete, received_.size(), Show(answers).c_str());
      for (const ClientRequest& r : sent.requests) {
        std::fprintf(stderr, "  sent %s %s (%s, %zu body bytes)\n", Show(r.method).c_str(),
                     Show(r.target, 80).c_str(), r.complete ? "complete" : "incomplete",
                     r.body.size());
      }
      for (const UpstreamRequest& r : received_) {
        std::fprintf(stderr, "  upstream %s %s (%s, %zu body bytes)\n", Show(r.method).c_str(),
                     Show(r.target, 80).c_str(), r.complete ? "complete" : "cut", r.body.size());
      }
    }
    CheckAnswers(input, sent, answers);
    CheckUpstream(sent);
  }

 private:
  static config::Settings Defaults() {
    config::Settings s;
    s.max_header_bytes = 4096;
    s.max_body_bytes = 2048;
    s.client_header_timeout = absl::Seconds(5);
    s.client_idle_timeout = absl::Seconds(5);
    s.client_io_timeout = absl::Seconds(5);
    return s;
  }

  std::unique_ptr<Front> MakeFront(const config::Settings& settings) {
    return std::make_unique<Front>(settings, pool_, caller_watches_, forward_limits_, connections_,
                                   worker_admission_, &ready_);
  }

  asio::awaitable<void> Client(local::socket& socket, std::string_view input,
                               const ReferenceParse& sent, std::string& answers) {
    bool half_closed = false;
    const auto half_close_when_answered = [&] {
      if (half_closed) return;
      if (ParseResponses(answers, sent, false).finals < sent.complete) return;
      net::error_code ignored;
      socket.shutdown(local::socket::shutdown_send, ignored);
      half_closed = true;
    };
    // A write error means the gateway closed early; its answers are still to be read.
    co_await asio::async_write(socket, asio::buffer(input), kNoThrow);
    half_close_when_answered();
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kNoThrow);
      answers.append(buf, n);
      if (ec) break;
      half_close_when_answered();
    }
    net::error_code ignored;
    socket.close(ignored);
  }

  void CheckAnswers(std::string_view input, const ReferenceParse& sent,
                    const std::string& answers) {
    const Responses got = ParseResponses(answers, sent, true);
    FUZZ_CHECK(got.clean, "the client got something that is not HTTP responses (%s): '%s'",
               got.error.c_str(), Show(answers).c_str());
    FUZZ_CHECK(got.finals <= sent.requests.size(), "%zu answers to %zu requests", got.finals,
               sent.requests.size());
    for (size_t k : got.interim_for) {
      FUZZ_CHECK(k < sent.requests.size() && sent.requests[k].version >= 11,
                 "a 1xx answer to request %zu, of HTTP/1.0 or none", k);
    }
    for (size_t i = 0; i < got.finals; ++i) {
      const ClientRequest& request = sent.requests[i];
      const int status = got.statuses[i];
      if (request.is_head) continue;
      if (status >= 400) {
        boost::system::error_code ec;
        const boost::json::value v = boost::json::parse(
            boost::json::string_view(got.bodies[i].data(), got.bodies[i].size()), ec);
        FUZZ_CHECK(!ec && v.is_object() && v.as_object().contains("error") &&
                       v.at("error").is_object() && v.at("error").as_object().contains("message"),
                   "answer %zu (%d) is not OpenAI's error shape: '%s'", i, status,
                   Show(got.bodies[i]).c_str());
      } else if (status == 200 && request.complete && IsApiTarget(request.target)) {
        const std::string_view expected = Streams(request.body) ? kSseAnswer : kJsonAnswer;
        FUZZ_CHECK(got.bodies[i] == expected, "relayed answer %zu changed: '%s'", i,
                   Show(got.bodies[i]).c_str());
      }
    }
    for (const ClientRequest& request : sent.requests) {
      const std::string_view key = KeyOf(request.authorization);
      if (key.empty()) continue;
      size_t count = 0;
      for (size_t at = input.find(key); at != std::string_view::npos; at = input.find(key, at + 1))
        ++count;
      if (count != 1) continue;  // the client wrote it elsewhere too: it may come back
      for (size_t i = 0; i < got.finals; ++i) {
        if (sent.requests[i].target.starts_with("/metrics")) continue;  // counts, not echoes
        FUZZ_CHECK(got.raw[i].find(key) == std::string::npos,
                   "the client's key '%s' came back in answer %zu: '%s'", Show(key).c_str(), i,
                   Show(got.raw[i]).c_str());
      }
    }
  }

  void CheckUpstream(const ReferenceParse& sent) {
    size_t next = 0;
    for (const UpstreamRequest& up : received_) {
      FUZZ_CHECK(up.host == pool_.url().host_header, "upstream Host '%s'", Show(up.host).c_str());
      for (const std::string& name : up.header_names) {
        FUZZ_CHECK(call::Classify(name) != call::HeaderClass::kHopByHop ||
                       EqualsIgnoreCase(name, "transfer-encoding"),
                   "hop-by-hop header '%s' went upstream", Show(name).c_str());
        for (const std::string& token : up.connection_tokens) {
          FUZZ_CHECK(!EqualsIgnoreCase(name, token), "header '%s' named by Connection went up",
                     Show(name).c_str());
        }
      }
      FUZZ_CHECK(up.transfer_encoding.empty() || up.transfer_encoding == "chunked",
                 "upstream Transfer-Encoding '%s'", Show(up.transfer_encoding).c_str());
      bool found = false;
      for (; next < sent.requests.size(); ++next) {
        const ClientRequest& c = sent.requests[next];
        if (c.method != up.method || !IsApiTarget(c.target) ||
            pool_.url().TargetFor(c.target) != up.target || c.authorization != up.authorization) {
          continue;
        }
        if (up.complete && !(c.complete && c.body == up.body)) continue;
        found = true;
        ++next;
        break;
      }
      FUZZ_CHECK(found,
                 "upstream got %s %s (%s, body '%s') that the client did not send in that order",
                 Show(up.method).c_str(), Show(up.target).c_str(), up.complete ? "complete" : "cut",
                 Show(up.body).c_str());
    }
  }

  static bool Streams(std::string_view body) {
    return body.find("\"stream\":true") != std::string_view::npos;
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
    }
  }

  // The mock upstream: strict parsing of what the gateway sends, canned answers.
  asio::awaitable<void> Serve(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(1 << 20);
      parser.body_limit(1 << 24);
      auto [ec, n] = co_await bhttp::async_read(socket, buffer, parser, kNoThrow);
      if (ec) {
        // The gateway may close a connection between requests, or in a request's body
        // when its client left; anything else means it sent what is not HTTP.
        const bool closed = ec == bhttp::error::end_of_stream ||
                            ec == asio::error::connection_reset ||
                            (ec == bhttp::error::partial_message && parser.is_header_done());
        FUZZ_CHECK(closed, "the gateway sent the upstream something that is not HTTP: %s",
                   ec.message().c_str());
        if (ec == bhttp::error::partial_message) Record(parser, false);
        co_return;
      }
      Record(parser, true);
      const auto& request = parser.get();
      bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
      response.set("x-request-id", "req_fuzz");
      if (Streams(request.body())) {
        response.set(bhttp::field::content_type, "text/event-stream");
        response.chunked(true);
        response.body() = std::string(kSseAnswer);
      } else {
        response.set(bhttp::field::content_type, "application/json");
        response.body() = std::string(kJsonAnswer);
        response.prepare_payload();
      }
      response.keep_alive(request.keep_alive());
      if (request.method() == bhttp::verb::head) {
        bhttp::response_serializer<bhttp::string_body> serializer(response);
        serializer.split(true);
        auto [wec, wn] = co_await bhttp::async_write_header(socket, serializer, kNoThrow);
        if (wec) co_return;
      } else {
        auto [wec, wn] = co_await bhttp::async_write(socket, response, kNoThrow);
        if (wec) co_return;
      }
      if (!request.keep_alive()) co_return;
    }
  }

  void Record(const bhttp::request_parser<bhttp::string_body>& parser, bool complete) {
    const auto& m = parser.get();
    UpstreamRequest up;
    up.method = std::string(m.method_string());
    up.target = std::string(m.target());
    up.host = std::string(m[bhttp::field::host]);
    up.authorization = std::string(m[bhttp::field::authorization]);
    up.transfer_encoding = std::string(m[bhttp::field::transfer_encoding]);
    for (const auto& field : m) {
      up.header_names.emplace_back(field.name_string());
      if (field.name() == bhttp::field::connection) {
        for (std::string_view token : Split(field.value(), ',')) {
          up.connection_tokens.emplace_back(TrimAscii(token));
        }
      }
    }
    up.body = m.body();
    up.complete = complete;
    received_.push_back(std::move(up));
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  upstream::BaseUrl upstream_url_;
  upstream::UpstreamTrust trust_;
  // No delay: every relayed call watches its client at once, so that inputs reach the
  // watch (pipelined bytes read while the upstream answers), as the server's delay
  // would not let the mock's quick answers do; the pool watches idle connections at once.
  net::DelayQueue caller_watches_{io_.get_executor(), absl::ZeroDuration()};
  upstream::Pool pool_;
  upstream::ForwardLimits forward_limits_;
  http::Connections connections_;
  std::unique_ptr<limits::Admission> admission_;
  limits::WorkerAdmission worker_admission_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<Front> plain_;
  std::unique_ptr<Front> strict_;
  std::unique_ptr<Front> tight_;
  std::vector<UpstreamRequest> received_;
  const bool verbose_ = std::getenv("OA_FUZZ_VERBOSE") != nullptr;  // a line per input
};

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static oa::fuzz::World* const world = new oa::fuzz::World();
  world->Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
