// bench_load: the benchmark's own HTTP/1.1 load generator, for the two measures wrk cannot
// take. Prints one JSON object with its figures on stdout.
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
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
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

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options options;
  po::options_description description("bench_load options");
  auto add = description.add_options();
  add("help", "show this help");
  add("mode", po::value(&options.mode)->required(), "rate or sse");
  add("host", po::value(&options.host)->default_value(options.host), "target address");
  add("port", po::value(&options.port)->required(), "target port");
  add("path", po::value(&options.path)->default_value(options.path), "request path (POST)");
  add("body-file", po::value(&options.body_file)->required(), "file holding the JSON body");
  add("header", po::value(&options.headers)->composing(), "extra 'name: value' header");
  add("rate", po::value(&options.rate)->default_value(options.rate), "rate: requests per second");
  add("seconds", po::value(&options.seconds)->default_value(options.seconds), "rate: duration");
  add("connections", po::value(&options.connections)->default_value(options.connections),
      "rate: keep-alive connections");
  add("streams", po::value(&options.streams)->default_value(options.streams),
      "sse: concurrent streams");
  add("ramp-ms", po::value(&options.ramp_ms)->default_value(options.ramp_ms),
      "sse: spread the stream starts over this long");
  add("ready-file", po::value(&options.ready_file), "sse: created once every stream is open");
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
  std::ifstream file(options.body_file, std::ios::binary);
  if (!file.is_open()) {
    std::cerr << "bench_load: cannot read " << options.body_file << "\n";
    return 2;
  }
  const std::string body((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // Ten thousand streams are ten thousand descriptors.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (options.mode == "rate") return RunRate(options, body);
  if (options.mode == "sse") return RunSse(options, body);
  std::cerr << "bench_load: --mode is rate or sse\n";
  return 2;
}
