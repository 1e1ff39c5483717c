// The gateway's settings: every one a command-line flag, an OA_* environment variable and
// a key of the optional --config file (flag wins over environment, environment over file,
// file over default). Parsing validates everything
// up front, so a bad value stops start-up with one line naming the setting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace oa::config {

struct Settings {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 8080;
  std::string grpc_listen;  // HOST:PORT of an extra gRPC-only port; empty for none
  // PEM files; both set or both empty. Set: --listen and --grpc-listen speak TLS only.
  std::string tls_cert;
  std::string tls_key;
  std::string upstream = "https://api.openai.com/v1";
  std::string upstream_ca_file;  // empty: the system's CAs
  std::string log_level = "info";
  std::string log_format = "plain";  // or "json": one JSON object per line
  int workers = 0;                   // 0: one per core
  std::vector<std::string> cors_origins = {"*"};
  bool listen_shared = false;      // other processes may listen on the port too
  bool reject_unmodelled = false;  // 404 for /v1 paths that no RPC in proto/ describes
  bool core_dumps = false;         // allow core files (they would hold callers' keys)

  uint64_t max_body_bytes = uint64_t{1} << 30;
  uint32_t max_header_bytes = 64 * 1024;
  // A gRPC request message, on the wire and once inflated (the smaller of this and
  // max_body_bytes applies).
  uint64_t grpc_max_message_bytes = uint64_t{4} * 1024 * 1024;
  int grpc_max_concurrent_streams = 100;  // per HTTP/2 connection of the gRPC front
  bool grpc_on_workers = false;           // --grpc-server=workers: HTTP/2 served by nghttp2
  // Request bodies the gRPC front holds at once, transcoded from messages, in all calls.
  uint64_t grpc_max_buffered_bytes = uint64_t{256} * 1024 * 1024;

  absl::Duration client_header_timeout = absl::Seconds(30);
  absl::Duration client_idle_timeout = absl::Seconds(75);
  absl::Duration client_io_timeout = absl::Seconds(300);
  // A request body must arrive within client_body_timeout, plus one second for every
  // client_body_min_rate bytes received (a client sending at least that fast never
  // times out; a trickle is cut).
  absl::Duration client_body_timeout = absl::Seconds(60);
  uint64_t client_body_min_rate = uint64_t{16} * 1024;
  absl::Duration upstream_connect_timeout = absl::Seconds(10);
  absl::Duration upstream_first_byte_timeout = absl::Seconds(600);
  absl::Duration upstream_idle_timeout = absl::Seconds(300);
  int upstream_pool_max_idle = 64;
  int upstream_max_connections = 4096;  // open upstream connections per worker, busy or idle
  absl::Duration upstream_pool_idle_timeout = absl::Seconds(50);
  absl::Duration shutdown_delay = absl::ZeroDuration();  // not ready, still serving
  absl::Duration drain_timeout = absl::Seconds(30);      // then finish what is under way

  // WebSocket upgrades on /v1 paths (Realtime, Responses WebSocket mode): relayed, or
  // refused with 426 so that clients fall back to HTTP at once.
  bool websocket = true;
  // A relayed WebSocket with no frame either way for this long is closed.
  absl::Duration websocket_idle_timeout = absl::Minutes(10);

  // Who may call, and how much (limits/admission.h). 0 turns a limit off.
  std::vector<std::string> allow_keys;      // full key fingerprints; empty with no networks: all
  std::vector<std::string> allow_networks;  // CIDR networks or single addresses
  int rate_limit_rpm = 0;                   // requests per minute
  int rate_limit_burst = 0;                 // token bucket capacity; 0: rate_limit_rpm
  int rate_limit_concurrent = 0;            // calls in flight at once
  std::vector<std::string> rate_limit_by = {"key"};  // "key" and/or "client"
  std::string rate_limit_redis;                      // redis://...; empty: in this process
  absl::Duration rate_limit_redis_timeout = absl::Milliseconds(100);
  bool rate_limit_fail_open = true;  // Redis unavailable: let calls through (else 503)
};

// What the command line asked for.
struct ParsedArgs {
  Settings settings;
  bool show_help = false;
  std::string help;  // the --help text, always filled
  bool print_config = false;
  bool fingerprint_keys = false;  // print the fingerprint of each key read from stdin
  std::string effective;          // every setting in effect, as TOML (secrets masked)
};

// `environ` entries named OA_* are read as settings; `argv` overrides them.
absl::StatusOr<ParsedArgs> ParseArgs(int argc, const char* const* argv,
                                     const std::vector<std::string>& environment);

}  // namespace oa::config
