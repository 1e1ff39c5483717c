// The gateway's Prometheus metrics, served as text at GET /metrics.
//
// No C++ Prometheus client is packaged for Debian 12, and what the gateway needs is
// small: counters, gauges and fixed-bucket histograms, all relaxed atomics that any
// worker or gRPC thread bumps without a lock, and one writer of the text exposition
// format (version 0.0.4).
//
// Every label takes values from a closed set, so no caller can grow the series: the
// front, an RPC of proto/ (or "unmodelled", or "-" for calls that name none), a status
// class or gRPC code, an error kind. No key and no key fingerprint is ever a label.
//
// Usage:
//   observe::metrics().SetRpcs(names);        // once, before serving
//   observe::metrics().CallEnded(call);       // each call, from its front
//   std::string text = observe::metrics().Render();
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "observe/access_log.h"
#include "observe/front.h"

namespace oa::observe {

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  constexpr Gauge() = default;
  explicit constexpr Gauge(int64_t initial) : value_(initial) {}
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Adds one to a gauge for as long as it lives (a call in flight, an open connection).
class GaugeHold {
 public:
  GaugeHold() = default;
  explicit GaugeHold(Gauge& gauge) : gauge_(&gauge) { gauge_->Add(1); }
  GaugeHold(GaugeHold&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
  GaugeHold& operator=(GaugeHold&& other) noexcept {
    if (this != &other) {
      Release();
      gauge_ = std::exchange(other.gauge_, nullptr);
    }
    return *this;
  }
  ~GaugeHold() { Release(); }
  void Release() {
    if (gauge_ != nullptr) std::exchange(gauge_, nullptr)->Add(-1);
  }

 private:
  Gauge* gauge_ = nullptr;
};

// Durations in seconds, in buckets fit for API calls: from 5 ms to a 10-minute stream.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  120,  600};
  void Observe(absl::Duration d);
  // Cumulative counts per bound, then +Inf (the total count).
  std::array<uint64_t, kBounds.size() + 1> Cumulative() const;
  double sum_seconds() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};  // per bucket, not cumulative
  std::atomic<uint64_t> sum_us_{0};
};

// Why an upstream exchange failed; each kind is one value of the `kind` label.
enum class UpstreamError { kResolve, kConnect, kTls, kTimeout, kClosed, kProtocol, kCut };
inline constexpr int kUpstreamErrorKinds = 7;

// How a call ended, as its access line says.
struct CallSummary {
  Front front = Front::kRest;
  std::string_view rpc;  // as logged; values outside the known set count as "-"
  int http_status = 0;   // the status sent (0: none), for a front of HTTP statuses
  int grpc_code = -1;    // the status code, for a front of gRPC codes (kFrontInfo)
  absl::Duration elapsed;
  std::optional<absl::Duration> upstream_first_byte;  // when the upstream answered
  uint64_t bytes_in = 0;                              // request body, from the caller
  uint64_t bytes_out = 0;                             // response body, to the caller
};

class Metrics {
 public:
  Metrics();

  // The RPC names the `rpc` label may take, besides "unmodelled" and "-". Call once,
  // before any call is recorded.
  void SetRpcs(const std::vector<std::string>& rpcs);

  void CallEnded(const CallSummary& call);
  // A WebSocket session ended (it was counted as a call too).
  void WebSocketEnded(Front front, const WebSocketTally& session);

  // The exposition text of every series.
  std::string Render() const;

  Gauge& in_flight(Front front) { return in_flight_[static_cast<int>(front)]; }
  Gauge open_streams;  // SSE answers being relayed, either front
  Gauge& open_websockets(Front front) { return open_websockets_[static_cast<int>(front)]; }
  Gauge upstream_connections;  // open to the upstream, idle or busy
  Gauge upstream_idle;         // of those, idle in a pool
  Counter upstream_connects;
  Counter upstream_tls_handshakes;
  Counter upstream_retries;
  // Connections closed because the upstream sent bytes outside an exchange: while the
  // connection was idle (in plaintext: below TLS they may be its close_notify), or after
  // a complete answer.
  Counter upstream_unsolicited;
  // Times the upstream lost keep-alive for sending bytes out of turn (upstream/pool.h).
  Counter upstream_distrusted;
  // Calls refused (503) because their worker had --upstream-max-connections open.
  Counter upstream_connections_exhausted;
  Counter& upstream_error(UpstreamError kind) { return upstream_errors_[static_cast<int>(kind)]; }
  // `limit` is "requests" or "concurrency", `scope` "key" or "client".
  Counter& rate_limited(std::string_view limit, std::string_view scope) {
    return rate_limited_[(limit == "concurrency" ? 2 : 0) + (scope == "client" ? 1 : 0)];
  }
  Counter denied;  // refused by the allow-list
  Counter rate_limit_redis_errors;
  Gauge rate_limit_redis_up{-1};  // 1 or 0 once Redis is configured; -1: not shown

 private:
  // Calls of one RPC by front and result: by status class (index 0 for "no status",
  // else status / 100), or for a front of gRPC codes by code.
  struct RpcCalls {
    std::array<std::array<Counter, 6>, kFronts> http;
    std::array<std::array<Counter, 17>, kFronts> grpc;
  };
  RpcCalls& Row(std::string_view rpc);

  absl::flat_hash_map<std::string, std::unique_ptr<RpcCalls>> calls_;
  std::array<Gauge, kFronts> in_flight_;
  std::array<LatencyHistogram, kFronts> duration_;
  std::array<LatencyHistogram, kFronts> first_byte_;
  std::array<Counter, kFronts> bytes_in_;
  std::array<Counter, kFronts> bytes_out_;
  std::array<Counter, kUpstreamErrorKinds> upstream_errors_;
  std::array<Counter, 4> rate_limited_;  // requests/key, requests/client, concurrency/...
  std::array<Gauge, kFronts> open_websockets_;
  // WebSocket sessions by front and close code: kCloseCodeLabels says which index is which.
  std::array<std::array<Counter, 20>, kFronts> websockets_;
  // Frames and bytes by front and direction (0: from the client, 1: to it).
  std::array<std::array<Counter, 2>, kFronts> websocket_frames_;
  std::array<std::array<Counter, 2>, kFronts> websocket_bytes_;
};

// The process's metrics.
Metrics& metrics();

}  // namespace oa::observe
