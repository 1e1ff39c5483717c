#include "observe/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "base/strings.h"

namespace oa::observe {
namespace {

constexpr std::array<std::string_view, 6> kStatusClasses = {"none", "1xx", "2xx",
                                                            "3xx",  "4xx", "5xx"};
constexpr std::array<std::string_view, 17> kGrpcCodes = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
constexpr std::array<std::string_view, kUpstreamErrorKinds> kUpstreamErrorNames = {
    "resolve", "connect", "tls", "timeout", "closed", "protocol", "cut"};

// Label values are ours and plain, but the format's escapes cost nothing to honour.
std::string Escaped(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Writes the exposition text, one family at a time.
class Exposition {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    family_ = name;
    text_ += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }

  // `labels` is already formatted: `front="rest",code="2xx"`, or empty.
  void Sample(std::string_view labels, double value, std::string_view suffix = "") {
    text_ += StrCat(family_, suffix);
    if (!labels.empty()) text_ += StrCat("{", labels, "}");
    text_ += StrCat(" ", FormatNumber(value), "\n");
  }

  void Histogram(std::string_view labels, const LatencyHistogram& h) {
    const auto cumulative = h.Cumulative();
    const std::string sep = labels.empty() ? "" : ",";
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
      Sample(StrCat(labels, sep, "le=\"", FormatNumber(LatencyHistogram::kBounds[i]), "\""),
             static_cast<double>(cumulative[i]), "_bucket");
    }
    Sample(StrCat(labels, sep, "le=\"+Inf\""), static_cast<double>(cumulative.back()), "_bucket");
    Sample(labels, h.sum_seconds(), "_sum");
    Sample(labels, static_cast<double>(cumulative.back()), "_count");
  }

  std::string Take() { return std::move(text_); }

 private:
  // The shortest text that reads back as the same double: 0.25, 13, 1e+21.
  static std::string FormatNumber(double value) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    return std::string(buf, r.ptr);
  }

  std::string text_;
  std::string family_;
};

std::string FrontLabel(int front) { return StrCat("front=\"", kFrontInfo[front].name, "\""); }

// The process's resident memory and open descriptors, read from /proc.
std::optional<uint64_t> ResidentBytes() {
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return std::nullopt;
  unsigned long size = 0;
  unsigned long resident = 0;
  const bool read = std::fscanf(statm, "%lu %lu", &size, &resident) == 2;
  std::fclose(statm);
  if (!read) return std::nullopt;
  return uint64_t{resident} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  uint64_t n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // less the one opendir holds
}

}  // namespace

void LatencyHistogram::Observe(absl::Duration d) {
  const double seconds = absl::ToDoubleSeconds(d);
  const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(d))),
                    std::memory_order_relaxed);
}

std::array<uint64_t, LatencyHistogram::kBounds.size() + 1> LatencyHistogram::Cumulative() const {
  std::array<uint64_t, kBounds.size() + 1> out{};
  uint64_t total = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

double LatencyHistogram::sum_seconds() const {
  return static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
}

Metrics::Metrics() { SetRpcs({}); }

void Metrics::SetRpcs(const std::vector<std::string>& rpcs) {
  calls_.clear();
  for (const std::string& rpc : rpcs) calls_.try_emplace(rpc, std::make_unique<RpcCalls>());
  for (const char* other : {"unmodelled", "-"}) {
    calls_.try_emplace(other, std::make_unique<RpcCalls>());
  }
}

Metrics::RpcCalls& Metrics::Row(std::string_view rpc) {
  auto it = calls_.find(absl::string_view(rpc.data(), rpc.size()));
  if (it == calls_.end()) it = calls_.find("-");
  return *it->second;
}

void Metrics::CallEnded(const CallSummary& call) {
  const int front = static_cast<int>(call.front);
  RpcCalls& row = Row(call.rpc);
  if (InfoOf(call.front).grpc_codes) {
    row.grpc[front][std::clamp(call.grpc_code, 0, 16)].Add();
  } else {
    const int status_class = call.http_status / 100;
    row.http[front][status_class >= 1 && status_class <= 5 ? status_class : 0].Add();
  }
  duration_[front].Observe(call.elapsed);
  if (call.upstream_first_byte) first_byte_[front].Observe(*call.upstream_first_byte);
  bytes_in_[front].Add(call.bytes_in);
  bytes_out_[front].Add(call.bytes_out);
}

namespace {

// The close codes that label WebSocket sessions: a fixed set, so that no peer can add
// series. RFC 6455's own codes one by one, registered (3xxx) and private ones (4xxx,
// OpenAI's) as one label each.
constexpr std::array<std::string_view, 20> kCloseCodeLabels = {
    "none", "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008",
    "1009", "1010", "1011", "1012", "1013", "1014", "1015", "3xxx", "4xxx", "other"};

size_t CloseCodeIndex(std::optional<uint16_t> code) {
  if (!code) return 0;
  if (*code >= 1000 && *code <= 1015) return 1 + (*code - 1000);
  if (*code >= 3000 && *code <= 3999) return 17;
  if (*code >= 4000 && *code <= 4999) return 18;
  return 19;
}

}  // namespace

void Metrics::WebSocketEnded(Front front, const WebSocketTally& session) {
  const int f = static_cast<int>(front);
  websockets_[f][CloseCodeIndex(session.close_code)].Add();
  websocket_frames_[f][0].Add(session.frames_in);
  websocket_frames_[f][1].Add(session.frames_out);
  websocket_bytes_[f][0].Add(session.bytes_in);
  websocket_bytes_[f][1].Add(session.bytes_out);
}

std::string Metrics::Render() const {
  Exposition e;
  e.Family("oa_requests_total", "counter",
           "Calls answered, by front, RPC and result (REST: status class; gRPC: status code).");
  std::vector<std::pair<std::string_view, const RpcCalls*>> rows;
  for (const auto& [rpc, row] : calls_) rows.emplace_back(rpc, row.get());
  std::sort(rows.begin(), rows.end());
  for (const auto& [rpc, row] : rows) {
    const std::string rpc_label = StrCat("rpc=\"", Escaped(rpc), "\"");
    for (int f = 0; f < kFronts; ++f) {
      const std::string labels = StrCat(FrontLabel(f), ",", rpc_label, ",code=\"");
      for (size_t i = 0; i < row->http[f].size(); ++i) {
        if (const uint64_t n = row->http[f][i].value()) {
          e.Sample(StrCat(labels, kStatusClasses[i], "\""), n);
        }
      }
      for (size_t i = 0; i < row->grpc[f].size(); ++i) {
        if (const uint64_t n = row->grpc[f][i].value()) {
          e.Sample(StrCat(labels, kGrpcCodes[i], "\""), n);
        }
      }
    }
  }
  e.Family("oa_request_duration_seconds", "histogram",
           "Time from a call's request to the end of its answer.");
  for (int f = 0; f < kFronts; ++f) e.Histogram(FrontLabel(f), duration_[f]);
  e.Family("oa_upstream_first_byte_seconds", "histogram",
           "Time from sending a call upstream to the upstream's response header.");
  for (int f = 0; f < kFronts; ++f) e.Histogram(FrontLabel(f), first_byte_[f]);
  e.Family("oa_request_body_bytes_total", "counter",
           "Request body bytes sent upstream, counted as each call ends.");
  for (int f = 0; f < kFronts; ++f) e.Sample(FrontLabel(f), bytes_in_[f].value());
  e.Family("oa_response_body_bytes_total", "counter",
           "Response body bytes written to callers, relayed or the gateway's own, counted as each "
           "call ends.");
  for (int f = 0; f < kFronts; ++f) e.Sample(FrontLabel(f), bytes_out_[f].value());
  e.Family("oa_requests_in_flight", "gauge", "Calls under way.");
  for (int f = 0; f < kFronts; ++f) e.Sample(FrontLabel(f), in_flight_[f].value());
  e.Family("oa_open_streams", "gauge", "Event streams (SSE answers) being relayed now.");
  e.Sample("", open_streams.value());
  e.Family("oa_websockets_open", "gauge", "WebSocket sessions under way.");
  for (int f = 0; f < kFronts; ++f) e.Sample(FrontLabel(f), open_websockets_[f].value());
  e.Family("oa_websockets_total", "counter",
           "WebSocket sessions ended, by the code of the first Close frame (none: no Close).");
  for (int f = 0; f < kFronts; ++f) {
    for (size_t i = 0; i < kCloseCodeLabels.size(); ++i) {
      if (const uint64_t n = websockets_[f][i].value()) {
        e.Sample(StrCat(FrontLabel(f), ",close_code=\"", kCloseCodeLabels[i], "\""), n);
      }
    }
  }
  e.Family("oa_websocket_frames_total", "counter",
           "WebSocket frames relayed, by direction (in: from the client), counted as each "
           "session ends.");
  for (int f = 0; f < kFronts; ++f) {
    e.Sample(StrCat(FrontLabel(f), ",direction=\"in\""), websocket_frames_[f][0].value());
    e.Sample(StrCat(FrontLabel(f), ",direction=\"out\""), websocket_frames_[f][1].value());
  }
  e.Family("oa_websocket_bytes_total", "counter",
           "WebSocket bytes relayed, by direction, counted as each session ends.");
  for (int f = 0; f < kFronts; ++f) {
    e.Sample(StrCat(FrontLabel(f), ",direction=\"in\""), websocket_bytes_[f][0].value());
    e.Sample(StrCat(FrontLabel(f), ",direction=\"out\""), websocket_bytes_[f][1].value());
  }

  e.Family("oa_upstream_connections", "gauge", "Connections open to the upstream, by state.");
  const int64_t idle = upstream_idle.value();
  e.Sample("state=\"idle\"", idle);
  e.Sample("state=\"busy\"", std::max<int64_t>(0, upstream_connections.value() - idle));
  e.Family("oa_upstream_connects_total", "counter", "Connections opened to the upstream.");
  e.Sample("", upstream_connects.value());
  e.Family("oa_upstream_tls_handshakes_total", "counter", "TLS handshakes with the upstream.");
  e.Sample("", upstream_tls_handshakes.value());
  e.Family("oa_upstream_retries_total", "counter",
           "Requests sent again on a new connection after a pooled one failed.");
  e.Sample("", upstream_retries.value());
  e.Family("oa_upstream_unsolicited_total", "counter",
           "Upstream connections closed because the upstream sent bytes outside an exchange "
           "(to an idle connection, or after a complete answer; over TLS, application data).");
  e.Sample("", upstream_unsolicited.value());
  e.Family("oa_upstream_distrusted_total", "counter",
           "Times the upstream's connections stopped being reused for a while, because it "
           "sent bytes out of turn.");
  e.Sample("", upstream_distrusted.value());
  e.Family("oa_upstream_connections_exhausted_total", "counter",
           "Calls refused (503) because their worker had --upstream-max-connections open.");
  e.Sample("", upstream_connections_exhausted.value());
  e.Family("oa_upstream_errors_total", "counter", "Failed upstream exchanges, by kind.");
  for (int k = 0; k < kUpstreamErrorKinds; ++k) {
    e.Sample(StrCat("kind=\"", kUpstreamErrorNames[k], "\""), upstream_errors_[k].value());
  }

  e.Family("oa_rate_limited_total", "counter",
           "Calls refused by a rate limit, by limit and by what it counts (key or client).");
  for (int i = 0; i < 4; ++i) {
    e.Sample(StrCat("limit=\"", i < 2 ? "requests" : "concurrency", "\",scope=\"",
                    i % 2 == 0 ? "key" : "client", "\""),
             rate_limited_[i].value());
  }
  e.Family("oa_denied_total", "counter", "Calls refused by the allow-list.");
  e.Sample("", denied.value());
  if (const int64_t up = rate_limit_redis_up.value(); up >= 0) {
    e.Family("oa_rate_limit_redis_up", "gauge",
             "1 while the rate limits' Redis answers, 0 while calls fail open or closed.");
    e.Sample("", up);
    e.Family("oa_rate_limit_redis_errors_total", "counter",
             "Rate-limit checks that Redis did not answer.");
    e.Sample("", rate_limit_redis_errors.value());
  }

  if (const auto rss = ResidentBytes()) {
    e.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    e.Sample("", static_cast<double>(*rss));
  }
  if (const auto fds = OpenFds()) {
    e.Family("process_open_fds", "gauge", "Open file descriptors.");
    e.Sample("", static_cast<double>(*fds));
  }
  return e.Take();
}

Metrics& metrics() {
  static auto* const instance = new Metrics();  // never destroyed: threads may outlive main
  return *instance;
}

}  // namespace oa::observe
