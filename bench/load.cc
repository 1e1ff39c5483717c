// bench_load: the benchmark's own HTTP/1.1 and WebSocket load generator, for the measures
// wrk cannot take. Prints one JSON object with its figures on stdout.
//
//   --mode rate   open-loop: requests scheduled at a fixed --rate over --connections
//                 keep-alive connections; each latency counts from the request's scheduled
//                 time, so a stall shows as queueing instead of as fewer samples
//   --mode sse    --streams concurrent streaming calls, started over --ramp-ms; times the
//                 first event of each (from the request's write) and the relay delay of
//                 every event (its arrival minus the "t=<ns>" stamp bench_upstream put in
//                 it: both ends read the same monotonic clock). When every stream has had
//                 its first event it creates --ready-file, so the caller can measure the
//                 target while all of them are open.
//   --mode ws-echo  --connections WebSockets (Beast, no compression) to --path, each sending
//                 a --frame-bytes frame (text, or --binary) and waiting for its echo from
//                 bench_upstream, over and over: at --rate frames/s over all of them (each
//                 round trip timed from its scheduled send, as in rate), or with --rate 0
//                 back to back for --seconds or --frames each; whatever has not ended 30 s
//                 after --seconds fails
//   --mode ws-idle  --streams WebSockets opened over --ramp-ms, each carrying one echo of
//                 --frame-bytes; once all have had theirs it creates --ready-file, holds
//                 them idle for --seconds, then closes them (a socket lost meanwhile fails
//                 its close). An upgrade or close with no answer in 10 s fails.

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
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
using oa::net::Clock;
using oa::net::error_code;
using oa::net::kNoThrow;

struct Options {
  std::string mode;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path = "/v1/chat/completions";
  std::string body_file;
  std::vector<std::string> headers;
  double rate = 1000;
  double seconds = 10;
  int connections = 32;
  int streams = 1;
  int ramp_ms = 0;
  std::string ready_file;
  size_t frame_bytes = 1024;
  bool binary = false;
  uint64_t frames = 0;
};

std::string BuildRequest(const Options& options, const std::string& body) {
  std::string request = "POST " + options.path + " HTTP/1.1\r\nhost: " + options.host + ":" +
                        std::to_string(options.port) + "\r\ncontent-type: application/json\r\n";
  for (const std::string& header : options.headers) request += header + "\r\n";
  request += "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return request;
}

// "p50_us": … for each percentile, from samples in microseconds (sorted here).
std::string Percentiles(std::string_view prefix, std::vector<double>& samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    if (samples.empty()) return 0.0;
    return samples[std::min(samples.size() - 1, size_t(q * double(samples.size())))];
  };
  std::ostringstream out;
  out.precision(1);
  out << std::fixed;
  for (auto [name, q] : {std::pair{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"max", 1.0}})
    out << "\"" << prefix << name << "_us\":" << at(q) << ",";
  return out.str();
}

asio::awaitable<bool> Connect(tcp::socket& socket, const tcp::endpoint& endpoint) {
  auto [ec] = co_await socket.async_connect(endpoint, kNoThrow);
  if (ec) co_return false;
  socket.set_option(tcp::no_delay(true));
  co_return true;
}

// ---- rate ------------------------------------------------------------------------------

struct RateRun {
  const Options& options;
  std::string request;
  tcp::endpoint endpoint;
  Clock::time_point start = {};
  uint64_t total = 0;
  uint64_t next = 0;
  uint64_t errors = 0;
  std::vector<double> latencies_us = {};
};

asio::awaitable<void> RateConnection(RateRun& run) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  asio::steady_timer timer(executor);
  beast::flat_buffer buffer;
  bool connected = false;
  const auto period = std::chrono::duration<double>(1.0 / run.options.rate);
  while (run.next < run.total) {
    const uint64_t index = run.next++;
    const Clock::time_point due =
        run.start + std::chrono::duration_cast<Clock::duration>(period * double(index));
    timer.expires_at(due);
    co_await timer.async_wait(kNoThrow);
    if (!connected) {
      socket = tcp::socket(executor);
      buffer.clear();
      if (!(connected = co_await Connect(socket, run.endpoint))) {
        ++run.errors;
        continue;
      }
    }
    auto [write_ec, written] =
        co_await asio::async_write(socket, asio::buffer(run.request), kNoThrow);
    http::response<http::string_body> response;
    error_code read_ec = write_ec;
    if (!write_ec) {
      auto [ec, n] = co_await http::async_read(socket, buffer, response, kNoThrow);
      read_ec = ec;
    }
    if (read_ec || response.result_int() != 200) {
      ++run.errors;
      connected = false;
      socket.close();
      continue;
    }
    run.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - due).count());
    if (!response.keep_alive()) connected = false, socket.close();
  }
}

int RunRate(const Options& options, const std::string& body) {
  asio::io_context io(1);
  RateRun run{.options = options,
              .request = BuildRequest(options, body),
              .endpoint = tcp::endpoint(asio::ip::make_address(options.host), options.port)};
  run.total = uint64_t(options.rate * options.seconds);
  run.latencies_us.reserve(run.total);
  run.start = Clock::now() + std::chrono::milliseconds(100);
  for (int i = 0; i < options.connections; ++i)
    asio::co_spawn(io, RateConnection(run), asio::detached);
  io.run();
  const double elapsed = std::chrono::duration<double>(Clock::now() - run.start).count();
  std::printf(
      "{\"mode\":\"rate\",\"target_rps\":%.0f,\"achieved_rps\":%.1f,\"ok\":%zu,"
      "\"errors\":%llu,%s\"seconds\":%.2f}\n",
      options.rate, double(run.latencies_us.size()) / elapsed, run.latencies_us.size(),
      (unsigned long long)run.errors, Percentiles("", run.latencies_us).c_str(), elapsed);
  return run.errors == 0 ? 0 : 1;
}

// ---- sse -------------------------------------------------------------------------------

struct SseRun {
  const Options& options;
  std::string request;
  tcp::endpoint endpoint;
  int first_events = 0;
  int completed = 0;
  int errors = 0;
  std::string first_error = {};  // what the first failed stream saw
  uint64_t events = 0;
  std::vector<double> first_event_us = {};
  std::vector<double> relay_delay_us = {};

  void Fail(std::string what) {
    if (errors++ == 0) first_error = std::move(what);
  }
};

// Handles the complete events at the front of `text`, leaving a partial one in place.
// Returns true once "[DONE]" went by.
bool TakeEvents(std::string& text, SseRun& run, uint64_t sent_ns, bool& seen_first) {
  bool done = false;
  size_t start = 0;
  for (size_t end; (end = text.find("\n\n", start)) != std::string::npos; start = end + 2) {
    const std::string_view event(text.data() + start, end - start);
    const uint64_t now = MonotonicNs();
    if (event == "data: [DONE]") {
      done = true;
      continue;
    }
    ++run.events;
    if (!seen_first) {
      seen_first = true;
      run.first_event_us.push_back(double(now - sent_ns) / 1000.0);
      if (++run.first_events == run.options.streams && !run.options.ready_file.empty())
        std::ofstream(run.options.ready_file) << "ready\n";
    }
    const size_t stamp = event.find("t=");
    uint64_t sent = 0;
    if (stamp != std::string_view::npos &&
        std::from_chars(event.data() + stamp + 2, event.data() + event.size(), sent).ec ==
            std::errc() &&
        sent <= now)
      run.relay_delay_us.push_back(double(now - sent) / 1000.0);
  }
  text.erase(0, start);
  return done;
}

asio::awaitable<void> SseStream(SseRun& run, int index) {
  auto executor = co_await asio::this_coro::executor;
  if (run.options.ramp_ms > 0) {
    asio::steady_timer timer(executor);
    timer.expires_after(std::chrono::microseconds(int64_t(run.options.ramp_ms) * 1000 * index /
                                                  run.options.streams));
    co_await timer.async_wait(kNoThrow);
  }
  tcp::socket socket(executor);
  if (!co_await Connect(socket, run.endpoint)) {
    run.Fail("connect failed");
    co_return;
  }
  const uint64_t sent_ns = MonotonicNs();
  auto [write_ec, written] =
      co_await asio::async_write(socket, asio::buffer(run.request), kNoThrow);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  error_code head_ec = write_ec;
  if (!write_ec) {
    auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, kNoThrow);
    head_ec = ec;
  }
  if (head_ec) {
    run.Fail(head_ec.message());
    co_return;
  }
  if (parser.get().result_int() != 200) {
    run.Fail("HTTP " + std::to_string(parser.get().result_int()));
    co_return;
  }
  std::string text;
  char chunk[4096];
  bool seen_first = false, done = false;
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    auto [ec, n] = co_await http::async_read_some(socket, buffer, parser, kNoThrow);
    if (ec && ec != http::error::need_buffer) break;
    text.append(chunk, sizeof chunk - parser.get().body().size);
    done = TakeEvents(text, run, sent_ns, seen_first) || done;
  }
  if (done && parser.is_done()) {
    ++run.completed;
  } else {
    run.Fail("stream cut before [DONE]");
  }
}

int RunSse(const Options& options, const std::string& body) {
  asio::io_context io(1);
  SseRun run{.options = options,
             .request = BuildRequest(options, body),
             .endpoint = tcp::endpoint(asio::ip::make_address(options.host), options.port)};
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < options.streams; ++i) asio::co_spawn(io, SseStream(run, i), asio::detached);
  io.run();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "{\"mode\":\"sse\",\"streams\":%d,\"completed\":%d,\"errors\":%d,"
      "\"first_error\":\"%s\",\"events\":%llu,%s%s\"seconds\":%.2f}\n",
      options.streams, run.completed, run.errors, run.first_error.c_str(),
      (unsigned long long)run.events, Percentiles("first_event_", run.first_event_us).c_str(),
      Percentiles("relay_delay_", run.relay_delay_us).c_str(), elapsed);
  return run.errors == 0 ? 0 : 1;
}

// ---- ws ---------------------------------------------------------------------------------

using WebSocket = websocket::stream<tcp::socket>;

struct WsRun {
  // A run of `options`, its frames' payload filled.
  explicit WsRun(const Options& o)
      : options(o), endpoint(asio::ip::make_address(o.host), o.port), payload(o.frame_bytes, 0) {
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = char('a' + i % 26);
  }

  const Options& options;
  tcp::endpoint endpoint;
  std::string payload;  // what every frame carries
  Clock::time_point start = {};
  uint64_t total = 0;  // ws-echo at a rate: frames scheduled over all connections
  uint64_t next = 0;
  int opened = 0;     // upgraded (ws-idle: and echoed once)
  int settled = 0;    // ws-idle: opened or failed before the hold
  int completed = 0;  // closed cleanly at the end
  int ended = 0;      // sockets done with, either way
  int errors = 0;
  std::string first_error = {};  // what the first failed socket saw
  uint64_t frames = 0;
  std::vector<double> round_trip_us = {};

  void Fail(std::string what) {
    if (errors++ == 0) first_error = std::move(what);
  }
};

// Closes `ws` with 1000 and counts the socket completed, or failed with `failure` and the
// error.
asio::awaitable<void> CloseCounted(WebSocket& ws, WsRun& run, std::string_view failure) {
  if (auto [ec] = co_await ws.async_close(websocket::close_code::normal, kNoThrow); ec) {
    run.Fail(std::string(failure) + ec.message());
  } else {
    ++run.completed;
  }
}

// Connects and upgrades, with the --header headers on the upgrade request; what failed, or
// empty.
asio::awaitable<std::string> OpenWebSocket(WebSocket& ws, const WsRun& run) {
  if (!co_await Connect(ws.next_layer(), run.endpoint)) co_return "connect failed";
  ws.auto_fragment(false);  // a message goes as one frame
  ws.read_message_max(0);   // of any size
  // An upgrade, or a close, that gets no answer fails instead of holding the run.
  ws.set_option(websocket::stream_base::timeout{.handshake_timeout = std::chrono::seconds(10),
                                                .idle_timeout = websocket::stream_base::none(),
                                                .keep_alive_pings = false});
  // A client masks what it sends through this buffer, and writes a piece of this size at a
  // time (4 KiB by default: 5,120 writes for 20 MiB).
  if (run.payload.size() > (64 << 10)) ws.write_buffer_bytes(256 << 10);
  ws.set_option(websocket::stream_base::decorator([&run](websocket::request_type& request) {
    for (const std::string& header : run.options.headers) {
      const size_t colon = header.find(':');
      if (colon == std::string::npos) continue;
      const size_t value = header.find_first_not_of(' ', colon + 1);
      request.set(std::string_view(header).substr(0, colon),
                  value == std::string::npos ? "" : std::string_view(header).substr(value));
    }
  }));
  websocket::response_type response;
  const std::string host = run.options.host + ":" + std::to_string(run.options.port);
  auto [ec] = co_await ws.async_handshake(response, host, run.options.path, kNoThrow);
  if (ec == websocket::error::upgrade_declined) {
    co_return "HTTP " + std::to_string(response.result_int());
  }
  if (ec == beast::error::timeout) co_return "no answer to the upgrade within 10 s";
  co_return ec ? ec.message() : "";
}

// Sends the payload and reads its echo; the round trip counts from `from`.
asio::awaitable<bool> Echo(WebSocket& ws, WsRun& run, beast::flat_buffer& buffer,
                           Clock::time_point from) {
  ws.text(!run.options.binary);
  if (auto [ec, n] = co_await ws.async_write(asio::buffer(run.payload), kNoThrow); ec) {
    run.Fail("write: " + ec.message());
    co_return false;
  }
  if (auto [ec, n] = co_await ws.async_read(buffer, kNoThrow); ec) {
    run.Fail("read: " + ec.message());
    co_return false;
  }
  run.round_trip_us.push_back(
      std::chrono::duration<double, std::micro>(Clock::now() - from).count());
  const auto echoed = buffer.cdata();
  if (echoed.size() != run.payload.size() ||
      std::memcmp(echoed.data(), run.payload.data(), echoed.size()) != 0) {
    run.Fail("the echo differs from the frame sent");
    co_return false;
  }
  buffer.consume(buffer.size());
  ++run.frames;
  co_return true;
}

// Runs one socket's coroutine, then counts it as ended.
asio::awaitable<void> Counted(asio::awaitable<void> socket, WsRun& run) {
  co_await std::move(socket);
  ++run.ended;
}

// Runs the sockets for at most `limit`; those still under way then count as failed.
void RunAtMost(asio::io_context& io, WsRun& run, int sockets, std::chrono::duration<double> limit) {
  io.run_for(std::chrono::duration_cast<Clock::duration>(limit));
  if (run.ended < sockets) {
    run.Fail("no answer within " + std::to_string(int(limit.count())) + " s");
    run.errors += sockets - run.ended - 1;
  }
}

asio::awaitable<void> EchoConnection(WsRun& run) {
  auto executor = co_await asio::this_coro::executor;
  WebSocket ws(executor);
  if (std::string error = co_await OpenWebSocket(ws, run); !error.empty()) {
    run.Fail(std::move(error));
    co_return;
  }
  ++run.opened;
  asio::steady_timer timer(executor);
  beast::flat_buffer buffer;
  const Options& options = run.options;
  const auto period = std::chrono::duration<double>(options.rate > 0 ? 1.0 / options.rate : 0);
  const Clock::time_point end = run.start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(options.seconds));
  timer.expires_at(run.start);
  co_await timer.async_wait(kNoThrow);
  for (uint64_t sent = 0; options.frames == 0 || sent < options.frames; ++sent) {
    Clock::time_point due = Clock::now();
    if (options.rate > 0) {
      if (run.next >= run.total) break;
      due = run.start + std::chrono::duration_cast<Clock::duration>(period * double(run.next++));
      timer.expires_at(due);
      co_await timer.async_wait(kNoThrow);
    } else if (due >= end) {
      break;
    }
    if (!co_await Echo(ws, run, buffer, due)) co_return;
  }
  co_await CloseCounted(ws, run, "close: ");
}

int RunWsEcho(const Options& options) {
  // The run outlives the context: sockets cut off by RunAtMost end with the context.
  WsRun run(options);
  asio::io_context io(1);
  run.total = uint64_t(options.rate * options.seconds);
  run.round_trip_us.reserve(options.rate > 0 ? run.total : 1 << 16);
  run.start = Clock::now() + std::chrono::milliseconds(200);  // the upgrades happen before
  for (int i = 0; i < options.connections; ++i)
    asio::co_spawn(io, Counted(EchoConnection(run), run), asio::detached);
  RunAtMost(io, run, options.connections, std::chrono::duration<double>(options.seconds + 30));
  const double elapsed = std::chrono::duration<double>(Clock::now() - run.start).count();
  std::printf(
      "{\"mode\":\"ws-echo\",\"connections\":%d,\"opened\":%d,\"completed\":%d,\"errors\":%d,"
      "\"first_error\":\"%s\",\"frame_bytes\":%zu,\"frames\":%llu,\"achieved_fps\":%.1f,"
      "%s\"seconds\":%.2f}\n",
      options.connections, run.opened, run.completed, run.errors, run.first_error.c_str(),
      options.frame_bytes, (unsigned long long)run.frames, double(run.frames) / elapsed,
      Percentiles("", run.round_trip_us).c_str(), elapsed);
  std::fflush(stdout);
  return run.errors == 0 ? 0 : 1;
}

// Opens one socket, echoes once, and waits for `release` to end (it never expires: it is
// cancelled) before closing.
asio::awaitable<void> IdleSocket(WsRun& run, int index, asio::steady_timer& release) {
  auto executor = co_await asio::this_coro::executor;
  const Options& options = run.options;
  if (options.ramp_ms > 0) {
    asio::steady_timer timer(executor);
    timer.expires_after(
        std::chrono::microseconds(int64_t(options.ramp_ms) * 1000 * index / options.streams));
    co_await timer.async_wait(kNoThrow);
  }
  WebSocket ws(executor);
  beast::flat_buffer buffer;
  bool open = false;
  if (std::string error = co_await OpenWebSocket(ws, run); !error.empty()) {
    run.Fail(std::move(error));
  } else {
    open = co_await Echo(ws, run, buffer, Clock::now());
  }
  if (open) ++run.opened;
  if (++run.settled == options.streams) {
    // The last to settle: all are open (or failed), so the hold starts.
    if (run.opened == options.streams && !options.ready_file.empty())
      std::ofstream(options.ready_file) << "ready\n";
    asio::steady_timer hold(executor);
    hold.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.seconds)));
    co_await hold.async_wait(kNoThrow);
    oa::net::CancelWaits(release);
  } else {
    co_await release.async_wait(kNoThrow);
  }
  if (!open) co_return;
  co_await CloseCounted(ws, run, "lost while idle: ");
}

int RunWsIdle(const Options& options) {
  // The run outlives the context: sockets cut off by RunAtMost end with the context.
  WsRun run(options);
  asio::io_context io(1);
  asio::steady_timer release(io, Clock::time_point::max());
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < options.streams; ++i)
    asio::co_spawn(io, Counted(IdleSocket(run, i, release), run), asio::detached);
  RunAtMost(io, run, options.streams,
            std::chrono::duration<double>(options.ramp_ms / 1000.0 + options.seconds + 60));
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "{\"mode\":\"ws-idle\",\"streams\":%d,\"opened\":%d,\"completed\":%d,\"errors\":%d,"
      "\"first_error\":\"%s\",%s\"seconds\":%.2f}\n",
      options.streams, run.opened, run.completed, run.errors, run.first_error.c_str(),
      Percentiles("first_echo_", run.round_trip_us).c_str(), elapsed);
  std::fflush(stdout);
  return run.errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options options;
  po::options_description description("bench_load options");
  auto add = description.add_options();
  add("help", "show this help");
  add("mode", po::value(&options.mode)->required(), "rate, sse, ws-echo or ws-idle");
  add("host", po::value(&options.host)->default_value(options.host), "target address");
  add("port", po::value(&options.port)->required(), "target port");
  add("path", po::value(&options.path)->default_value(options.path),
      "request path (POST; for ws-*, the upgrade's GET)");
  add("body-file", po::value(&options.body_file), "rate and sse: file holding the JSON body");
  add("header", po::value(&options.headers)->composing(), "extra 'name: value' header");
  add("rate", po::value(&options.rate)->default_value(options.rate),
      "rate: requests per second; ws-echo: frames per second, 0 for back to back");
  add("seconds", po::value(&options.seconds)->default_value(options.seconds),
      "rate, ws-echo: duration; ws-idle: how long the sockets are held once all are open");
  add("connections", po::value(&options.connections)->default_value(options.connections),
      "rate: keep-alive connections; ws-echo: WebSockets");
  add("streams", po::value(&options.streams)->default_value(options.streams),
      "sse: concurrent streams; ws-idle: WebSockets held open");
  add("ramp-ms", po::value(&options.ramp_ms)->default_value(options.ramp_ms),
      "sse, ws-idle: spread the starts over this long");
  add("ready-file", po::value(&options.ready_file),
      "sse, ws-idle: created once every stream is open");
  add("frame-bytes", po::value(&options.frame_bytes)->default_value(options.frame_bytes),
      "ws-*: payload of each frame");
  add("binary", po::bool_switch(&options.binary), "ws-*: binary frames instead of text");
  add("frames", po::value(&options.frames)->default_value(options.frames),
      "ws-echo: at most this many frames a connection, 0 for no limit");
  try {
    po::variables_map values;
    po::store(po::parse_command_line(argc, argv, description), values);
    if (values.count("help")) {
      std::cout << description << "\n";
      return 0;
    }
    po::notify(values);
  } catch (const std::exception& e) {
    std::cerr << "bench_load: " << e.what() << "\n";
    return 2;
  }
  // Ten thousand streams are ten thousand descriptors.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (options.mode == "ws-echo") return RunWsEcho(options);
  if (options.mode == "ws-idle") return RunWsIdle(options);
  if (options.mode != "rate" && options.mode != "sse") {
    std::cerr << "bench_load: --mode is rate, sse, ws-echo or ws-idle\n";
    return 2;
  }
  std::ifstream file(options.body_file, std::ios::binary);
  if (!file.is_open()) {
    std::cerr << "bench_load: cannot read " << options.body_file << "\n";
    return 2;
  }
  const std::string body((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (options.mode == "rate") return RunRate(options, body);
  return RunSse(options, body);
}
