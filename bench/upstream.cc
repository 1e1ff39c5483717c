// bench_upstream: the fast stand-in for OpenAI that the benchmarks run against. Unlike the
// test mock it records nothing and hashes nothing: it reads each request, throws the body
// away and answers from canned bytes, on one thread per --threads, so that the direct path
// measures the load generator and the kernel, and every other target adds only itself.
//
//   POST …/chat/completions            canned chat.completion JSON; with "stream": true in
//                                      the body, an SSE stream of chat.completion.chunk
//                                      events, each stamped with the monotonic clock
//                                      ("t=<ns>") so a client can time its relay
//   POST …/files                       reads and discards the upload, answers its size
//   GET  …/files/<id>/content          x-bench-megabytes MiB of bytes (default 100)
//   GET  /__bench/stats                requests (other than these) and body bytes so far
//   any WebSocket upgrade              a WebSocket echo (Beast, no compression): each message
//                                      comes back as one frame of the same kind, whatever
//                                      its size
//
// Request headers x-bench-events and x-bench-gap-ms override --sse-events and --sse-gap-ms
// for one stream. Prints "listening on 127.0.0.1:<port>" once bound; stops on SIGTERM or
// SIGINT, or when its parent dies.

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/asio.h"
#include "stamp.h"

namespace {

using oa::bench::MonotonicNs;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using oa::net::error_code;
using oa::net::kNoThrow;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int threads = 1;
  int sse_events = 100;
  int sse_gap_ms = 0;
  uint64_t download_bytes = 100ull << 20;
};

struct Stats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> body_bytes{0};
};

constexpr std::string_view kChatCompletion =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,)"
    R"("model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"Hello! How can I help you today?","refusal":null,"annotations":[]},)"
    R"("logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,)"
    R"("completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,)"
    R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
    R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
    R"("service_tier":"default","system_fingerprint":"fp_bench"})";

// One SSE event as a chunk of a chunked body: "<hex size>\r\ndata: {…}\n\n\r\n".
std::string EventChunk(int index) {
  std::string data = R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",)"
                     R"("created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{)"
                     R"("index":0,"delta":{"content":"t=)";
  data += std::to_string(MonotonicNs());
  data += " #" + std::to_string(index);
  data += R"("},"logprobs":null,"finish_reason":null}]})";
  data += "\n\n";
  char size[16];
  const auto end = std::to_chars(size, size + sizeof size, data.size(), 16).ptr;
  return std::string(size, end) + "\r\n" + data + "\r\n";
}

std::string Head(int status, std::string_view reason, std::string_view content_type,
                 std::string_view length_or_chunked) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  head += "content-type: ";
  head += content_type;
  head += "\r\nx-request-id: req_bench\r\nopenai-processing-ms: 1\r\n";
  head += length_or_chunked;
  head += "\r\n\r\n";
  return head;
}

std::string JsonReply(int status, std::string_view reason, std::string_view body) {
  return Head(status, reason, "application/json",
              "content-length: " + std::to_string(body.size())) +
         std::string(body);
}

bool WantsStream(std::string_view body) {
  const size_t key = body.find("\"stream\"");
  if (key == std::string_view::npos) return false;
  const size_t value = body.find_first_not_of(" \t\r\n:", key + 8);
  return value != std::string_view::npos && body.substr(value, 4) == "true";
}

int HeaderInt(const http::request_parser<http::buffer_body>::value_type& request,
              std::string_view name, int fallback) {
  auto it = request.find(name);
  if (it == request.end()) return fallback;
  int value = fallback;
  std::from_chars(it->value().data(), it->value().data() + it->value().size(), value);
  return value;
}

asio::awaitable<bool> Write(tcp::socket& socket, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), kNoThrow);
  co_return !ec;
}

asio::awaitable<bool> StreamEvents(tcp::socket& socket, int events, int gap_ms) {
  const std::string head = Head(200, "OK", "text/event-stream", "transfer-encoding: chunked");
  if (!co_await Write(socket, head)) co_return false;
  asio::steady_timer timer(socket.get_executor());
  for (int i = 0; i < events; ++i) {
    if (gap_ms > 0 && i > 0) {
      timer.expires_after(std::chrono::milliseconds(gap_ms));
      auto [ec] = co_await timer.async_wait(kNoThrow);
      if (ec) co_return false;
    }
    const std::string chunk = EventChunk(i);
    if (!co_await Write(socket, chunk)) co_return false;
  }
  constexpr std::string_view kDone = "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
  co_return co_await Write(socket, kDone);
}

asio::awaitable<bool> SendBytes(tcp::socket& socket, uint64_t total) {
  static const std::string kBlock = [] {
    std::string block(1 << 20, '\0');
    for (size_t i = 0; i < block.size(); ++i) block[i] = char('a' + i % 26);
    return block;
  }();
  const std::string head =
      Head(200, "OK", "application/octet-stream", "content-length: " + std::to_string(total));
  if (!co_await Write(socket, head)) co_return false;
  for (uint64_t left = total; left > 0;) {
    const size_t n = size_t(std::min<uint64_t>(left, kBlock.size()));
    if (!co_await Write(socket, std::string_view(kBlock).substr(0, n))) co_return false;
    left -= n;
  }
  co_return true;
}

// Answers the upgrade, then sends each message back as it came, until the client closes.
// The client waits for the 101 before its first frame, so nothing of the session is in
// Serve's buffer yet.
asio::awaitable<void> EchoWebSocket(tcp::socket socket,
                                    const http::request_parser<http::buffer_body>& parser) {
  websocket::stream<tcp::socket> ws(std::move(socket));
  ws.auto_fragment(false);  // a message goes back as one frame
  ws.read_message_max(0);   // of any size
  if (auto [ec] = co_await ws.async_accept(parser.get(), kNoThrow); ec) co_return;
  beast::flat_buffer message;
  for (;;) {
    if (auto [ec, n] = co_await ws.async_read(message, kNoThrow); ec) co_return;
    ws.text(ws.got_text());
    if (auto [ec, n] = co_await ws.async_write(message.data(), kNoThrow); ec) co_return;
    message.consume(message.size());
    // The memory of a large message goes back to the system, so that the sockets opened
    // after it show their own (glibc keeps a freed block this size in its heap).
    if (message.capacity() > (64 << 10)) {
      message.shrink_to_fit();
      malloc_trim(0);
    }
  }
}

asio::awaitable<void> Serve(tcp::socket socket, const Options& options, Stats& stats) {
  socket.set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [head_ec, head_n] = co_await http::async_read_header(socket, buffer, parser, kNoThrow);
    if (head_ec) co_return;
    // Large uploads move in 64 KiB reads (a read takes what the buffer has room for);
    // small requests, ten thousand streams' worth, keep 4 KiB.
    constexpr uint64_t kBulk = 64 << 10;
    const bool bulk = parser.content_length().value_or(parser.chunked() ? kBulk : 0) >= kBulk;
    if (bulk) buffer.reserve(kBulk);
    std::vector<char> scratch(bulk ? kBulk : 4096);
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      if (!co_await Write(socket, "HTTP/1.1 100 Continue\r\n\r\n")) co_return;
    }
    // Keep the start of the body (for "stream": true), count and drop the rest.
    std::string body_start;
    uint64_t body_bytes = 0;
    while (!parser.is_done()) {
      parser.get().body().data = scratch.data();
      parser.get().body().size = scratch.size();
      auto [ec, n] = co_await http::async_read(socket, buffer, parser, kNoThrow);
      if (ec && ec != http::error::need_buffer) co_return;
      const size_t got = scratch.size() - parser.get().body().size;
      if (body_start.size() < 4096)
        body_start.append(scratch.data(), std::min<size_t>(got, 4096 - body_start.size()));
      body_bytes += got;
    }
    const auto& request = parser.get();
    if (websocket::is_upgrade(request)) {
      stats.requests.fetch_add(1, std::memory_order_relaxed);
      co_await EchoWebSocket(std::move(socket), parser);
      co_return;
    }
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/__bench/stats") {
      stats.requests.fetch_add(1, std::memory_order_relaxed);
      stats.body_bytes.fetch_add(body_bytes, std::memory_order_relaxed);
    }
    bool ok = false;
    if (request.method() == http::verb::post && path.ends_with("/chat/completions")) {
      if (WantsStream(body_start)) {
        ok = co_await StreamEvents(socket, HeaderInt(request, "x-bench-events", options.sse_events),
                                   HeaderInt(request, "x-bench-gap-ms", options.sse_gap_ms));
      } else {
        ok = co_await Write(socket, JsonReply(200, "OK", kChatCompletion));
      }
    } else if (request.method() == http::verb::post && path.ends_with("/files")) {
      const std::string body = R"({"id":"file-bench","object":"file","bytes":)" +
                               std::to_string(body_bytes) +
                               R"(,"created_at":1767225600,"filename":"upload.bin",)"
                               R"("purpose":"batch","status":"processed"})";
      ok = co_await Write(socket, JsonReply(200, "OK", body));
    } else if (request.method() == http::verb::get && path.starts_with("/v1/files/") &&
               path.ends_with("/content")) {
      const int megabytes = HeaderInt(request, "x-bench-megabytes", -1);
      const uint64_t total = megabytes >= 0 ? uint64_t(megabytes) << 20 : options.download_bytes;
      ok = co_await SendBytes(socket, total);
    } else if (path == "/__bench/stats") {
      const std::string body = R"({"requests":)" + std::to_string(stats.requests.load()) +
                               R"(,"body_bytes":)" + std::to_string(stats.body_bytes.load()) + "}";
      ok = co_await Write(socket, JsonReply(200, "OK", body));
    } else {
      ok = co_await Write(
          socket, JsonReply(404, "Not Found",
                            R"({"error":{"message":"bench_upstream does not serve this path",)"
                            R"("type":"invalid_request_error","param":null,"code":null}})"));
    }
    if (!ok || !request.keep_alive()) co_return;
  }
}

asio::awaitable<void> Accept(tcp::acceptor& acceptor, const Options& options, Stats& stats) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // EMFILE and the like: drop this one, keep serving
    }
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket), options, stats),
                   asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options options;
  po::options_description description("bench_upstream options");
  auto add = description.add_options();
  add("help", "show this help");
  add("host", po::value(&options.host)->default_value(options.host), "address to bind");
  add("port", po::value(&options.port)->default_value(0), "port to bind, 0 for any free one");
  add("threads", po::value(&options.threads)->default_value(options.threads), "serving threads");
  add("sse-events", po::value(&options.sse_events)->default_value(options.sse_events),
      "events in a stream");
  add("sse-gap-ms", po::value(&options.sse_gap_ms)->default_value(options.sse_gap_ms),
      "pause between events");
  try {
    po::variables_map values;
    po::store(po::parse_command_line(argc, argv, description), values);
    po::notify(values);
    if (values.count("help")) {
      std::cout << description << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_upstream: " << e.what() << "\n";
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  std::signal(SIGPIPE, SIG_IGN);
  rlimit files{};  // ten thousand streams are ten thousand descriptors
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  // One io_context and one SO_REUSEPORT acceptor per thread, as in the gateway.
  Stats stats;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    auto& io = *contexts.emplace_back(std::make_unique<asio::io_context>(1));
    auto& acceptor = *acceptors.emplace_back(std::make_unique<tcp::acceptor>(io));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acceptor.bind(endpoint);
    acceptor.listen(4096);
    endpoint = acceptor.local_endpoint();  // the others bind the port the first one got
    asio::co_spawn(io, Accept(acceptor, options, stats), asio::detached);
  }
  asio::signal_set signals(*contexts.front(), SIGTERM, SIGINT);
  signals.async_wait([&](const error_code&, int) {
    for (auto& io : contexts) io->stop();
  });
  std::printf("listening on %s:%u\n", options.host.c_str(), unsigned(endpoint.port()));
  std::fflush(stdout);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < contexts.size(); ++i) threads.emplace_back([&, i] { contexts[i]->run(); });
  contexts.front()->run();
  for (auto& io : contexts) io->stop();
  for (auto& t : threads) t.join();
  return 0;
}
