#include "config/settings.h"

#include <boost/program_options.hpp>
#include <sstream>

#include "base/json_text.h"
#include "base/strings.h"
#include "config/config_file.h"

namespace oa::config {
namespace po = boost::program_options;
namespace {

// "OA_LOG_LEVEL" -> "log-level"; names outside the OA_ prefix are not ours.
std::string EnvToOption(const std::string& env) {
  if (env.rfind("OA_", 0) != 0) return {};
  std::string option = AsciiLower(env.substr(3));
  std::replace(option.begin(), option.end(), '_', '-');
  return option;
}

absl::Status Bad(std::string_view option, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("--", option, ": ", why));
}

absl::Status ParseHostPort(std::string_view option, const std::string& value, std::string& host,
                           uint16_t& port) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) return Bad(option, "expected HOST:PORT, e.g. 0.0.0.0:8080");
  std::string h = value.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  uint64_t p = 0;
  if (h.empty() || !ParseUint(std::string_view(value).substr(colon + 1), p) || p > 65535) {
    return Bad(option, StrCat("'", value, "' is not HOST:PORT"));
  }
  host = h;
  port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

absl::Status ParseDuration(std::string_view option, const std::string& value, absl::Duration& out,
                           bool zero_ok = false) {
  uint64_t seconds = 0;
  if (ParseUint(value, seconds)) {
    out = absl::Seconds(static_cast<int64_t>(seconds));
  } else if (!absl::ParseDuration(value, &out)) {
    return Bad(option, StrCat("'", value, "' is not a duration (e.g. 30s, 500ms, 10m)"));
  }
  if (out < absl::ZeroDuration() || (out == absl::ZeroDuration() && !zero_ok)) {
    return Bad(option, zero_ok ? "must not be negative" : "must be positive");
  }
  // Deadlines are steady_clock::now() + the duration: "inf" or centuries would overflow.
  if (out > absl::Hours(24 * 365)) return Bad(option, "must be at most 8760h (a year)");
  return absl::OkStatus();
}

// Accepts "1048576", "64KiB", "600MiB", "1GiB".
absl::Status ParseBytes(std::string_view option, const std::string& value, uint64_t& out) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"GiB", uint64_t{1} << 30}, {"MiB", uint64_t{1} << 20}, {"KiB", uint64_t{1} << 10}, {"", 1}};
  for (const auto& [suffix, scale] : kUnits) {
    if (!value.ends_with(suffix)) continue;
    uint64_t n = 0;
    if (ParseUint(std::string_view(value).substr(0, value.size() - suffix.size()), n) && n > 0 &&
        n <= UINT64_MAX / scale) {
      out = n * scale;
      return absl::OkStatus();
    }
    break;
  }
  return Bad(option, StrCat("'", value, "' is not a size (e.g. 65536, 64KiB, 512MiB)"));
}

// "https://user:secret@host/v1" -> "https://user:***@host/v1": the only secrets a
// setting can hold are passwords in URLs (--upstream, --rate-limit-redis).
std::string MaskUrlPassword(std::string url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t at = url.find('@', scheme + 3);
  const size_t slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  const size_t colon = url.find(':', scheme + 3);
  // "user:secret@" keeps the user; "secret@" (Redis' password-only form) is all masked.
  if (colon == std::string::npos || colon > at)
    return StrCat(url.substr(0, scheme + 3), "***", url.substr(at));
  return StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

// Options that are commands, not settings: neither a file nor --print-config has them.
bool IsCommand(std::string_view name) {
  return name == "help" || name == "config" || name == "print-config" || name == "fingerprint-keys";
}

// Every setting with the value in effect, as a TOML file --config can read back.
std::string EffectiveConfig(const po::options_description& desc, const po::variables_map& vm) {
  std::string out = "# oa-bypass: the settings in effect (flags > environment > file > default)\n";
  for (const auto& option : desc.options()) {
    const std::string& name = option->long_name();
    if (IsCommand(name) || !vm.count(name)) continue;
    const boost::any& value = vm[name].value();
    if (const auto* text = boost::any_cast<std::string>(&value)) {
      const bool url = name == "upstream" || name == "rate-limit-redis";
      const std::string shown = url ? MaskUrlPassword(*text) : *text;
      out += StrCat(name, " = \"", JsonEscape(shown), "\"\n");
    } else if (const auto* number = boost::any_cast<int>(&value)) {
      out += StrCat(name, " = ", *number, "\n");
    } else if (const auto* flag = boost::any_cast<bool>(&value)) {
      out += StrCat(name, " = ", *flag ? "true" : "false", "\n");
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseArgs(int argc, const char* const* argv,
                                     const std::vector<std::string>& environment) {
  const Settings defaults;
  auto str = [](const std::string& def) { return po::value<std::string>()->default_value(def); };
  auto dur = [&](absl::Duration d) { return str(absl::FormatDuration(d)); };

  po::options_description desc(
      "oa-bypass: an OpenAI API gateway (REST and gRPC) that forwards each call with the "
      "caller's own key.\nEvery option can also be set as an environment variable: "
      "--log-level is OA_LOG_LEVEL.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("config", str(""), "a .toml or .yaml file of option = value settings (flags and "
     "environment win over it)")
    ("print-config", po::bool_switch(), "print the effective settings as TOML and exit")
    ("fingerprint-keys", po::bool_switch(), "read keys from stdin, one a line, print the "
     "fingerprint of each (what --allow-keys takes) and exit")
    ("listen", str("0.0.0.0:8080"), "address and port to serve REST on")
    ("listen-shared", po::value<bool>()->default_value(false, "false")->implicit_value(true),
     "let other processes listen on the --listen port too (the kernel spreads connections "
     "among them); off, a port another process holds stops start-up")
    ("grpc-listen", str(""),
     "an extra address and port for gRPC only; gRPC is always served on --listen too")
    ("tls-cert", str(""), "PEM certificate chain; with --tls-key, --listen and --grpc-listen "
     "speak TLS only, REST and gRPC told apart by ALPN")
    ("tls-key", str(""), "PEM private key of --tls-cert, unencrypted")
    ("upstream", str(defaults.upstream),
     "OpenAI base URL; a call to /v1/X goes to <upstream>/X (http:// or https://)")
    ("upstream-ca-file", str(""), "PEM file of CAs to trust for the upstream instead of the system's")
    ("log-level", str(defaults.log_level), "debug, info, warn, error or off")
    ("log-format", str(defaults.log_format), "plain, or json for one JSON object per line")
    ("workers", po::value<int>()->default_value(0), "worker threads, 0 for one per core")
    ("cors-origins", str("*"), "comma-separated origins allowed by CORS, or *")
    ("reject-unmodelled", po::value<bool>()->default_value(false)->implicit_value(true),
     "answer 404 for /v1 paths that no RPC in proto/ describes, instead of forwarding them")
    ("core-dumps", po::value<bool>()->default_value(false, "false")->implicit_value(true),
     "let the process write core files; off, none is written and no other process of the "
     "same user may read its memory, which holds callers' keys")
    ("max-body-bytes", str("1GiB"), "largest request body accepted")
    ("max-header-bytes", str("64KiB"), "largest request line plus headers accepted; also "
     "bounds a chunk-size line with its extensions, and the trailers")
    ("grpc-max-message-bytes", str("4MiB"), "largest gRPC request message, once decompressed "
     "(larger files go through the <Rpc>Upload client streams)")
    ("grpc-max-concurrent-streams",
     po::value<int>()->default_value(defaults.grpc_max_concurrent_streams),
     "calls a gRPC connection may have open at once (HTTP/2 MAX_CONCURRENT_STREAMS)")
    ("grpc-server", str("grpc++"), "what serves the gRPC front's HTTP/2: grpc++ (gRPC's own "
     "server, on its own threads), or workers (the workers themselves, with nghttp2: no "
     "thread hop per call)")
    ("grpc-max-buffered-bytes", str("256MiB"), "request bodies the gRPC front may hold at "
     "once, over all its calls (each call's body is its message as JSON or multipart, held "
     "whole); RESOURCE_EXHAUSTED beyond")
    ("client-header-timeout", dur(defaults.client_header_timeout),
     "time a client has to send a request's headers")
    ("client-idle-timeout", dur(defaults.client_idle_timeout),
     "how long an idle keep-alive client connection is kept")
    ("client-io-timeout", dur(defaults.client_io_timeout),
     "longest a client may stall while sending a body or reading an answer")
    ("client-body-timeout", dur(defaults.client_body_timeout),
     "time a client has to send a request body, plus a second for every "
     "--client-body-min-rate bytes it sent (408 beyond)")
    ("client-body-min-rate", str("16KiB"), "bytes a second a slow upload must keep up to "
     "earn more time than --client-body-timeout")
    ("upstream-connect-timeout", dur(defaults.upstream_connect_timeout),
     "time to resolve, connect and finish TLS with the upstream")
    ("upstream-first-byte-timeout", dur(defaults.upstream_first_byte_timeout),
     "time from the end of a request to the upstream's response headers")
    ("upstream-idle-timeout", dur(defaults.upstream_idle_timeout),
     "longest silence allowed inside an upstream response body (e.g. between SSE events)")
    ("upstream-pool-max-idle", po::value<int>()->default_value(defaults.upstream_pool_max_idle),
     "idle keep-alive upstream connections kept per worker")
    ("upstream-max-connections",
     po::value<int>()->default_value(defaults.upstream_max_connections),
     "upstream connections a worker may have open, busy or idle (503 beyond)")
    ("shutdown-delay", dur(defaults.shutdown_delay),
     "on SIGTERM, time spent answering /ready with 503 (and gRPC health NOT_SERVING) while "
     "still serving, so load balancers stop sending first")
    ("drain-timeout", dur(defaults.drain_timeout),
     "after that, how long calls and streams under way may take to finish before they are cut")
    ("websocket", str("on"), "on: WebSocket upgrades on /v1 paths (Realtime, Responses "
     "WebSocket mode) are relayed to the upstream; off: refused with 426, so that clients fall "
     "back to HTTP at once (for upstreams that have no WebSockets)")
    ("websocket-idle-timeout", dur(defaults.websocket_idle_timeout),
     "a relayed WebSocket with no frame either way for this long is closed")
    ("upstream-pool-idle-timeout", dur(defaults.upstream_pool_idle_timeout),
     "how long an idle upstream connection is kept")
    ("allow-keys", str(""), "comma-separated key fingerprints (64 hex digits: see "
     "--fingerprint-keys) that may call; with --allow-networks, a caller matching either may. "
     "Empty: anyone")
    ("allow-networks", str(""), "comma-separated client networks (CIDR) or addresses that may "
     "call")
    ("rate-limit-rpm", po::value<int>()->default_value(0),
     "requests per minute allowed per caller (see --rate-limit-by); 0: no limit")
    ("rate-limit-burst", po::value<int>()->default_value(0),
     "requests a caller may make at once before the per-minute rate applies; 0: the rpm")
    ("rate-limit-concurrent", po::value<int>()->default_value(0),
     "calls (streams included) a caller may have in flight at once; 0: no limit")
    ("rate-limit-by", str("key"), "what a caller is for the limits: key, client (address), or "
     "key,client for both")
    ("rate-limit-redis", str(""), "redis://[:password@]host[:port][/db] to share the limits "
     "across gateways; empty: each process limits alone")
    ("rate-limit-redis-timeout", dur(defaults.rate_limit_redis_timeout),
     "longest wait for Redis on a call before it counts as unavailable")
    ("rate-limit-fail-open", po::value<bool>()->default_value(true, "true"),
     "while Redis is unavailable, let calls through unlimited (true) or answer 503 (false)");
  // clang-format on

  ParsedArgs out;
  std::ostringstream help;
  help << desc;
  out.help = help.str();

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    // Stored second, so the command line wins over the environment.
    std::vector<std::string> from_env;
    for (const std::string& entry : environment) {
      const size_t eq = entry.find('=');
      // An empty value means unset, as for most tools: compose's "${OA_X:-}" passes one.
      if (eq == std::string::npos || eq + 1 == entry.size()) continue;
      const std::string option = EnvToOption(entry.substr(0, eq));
      if (option.empty() || option == "help" || option == "fingerprint-keys" ||
          !desc.find_nothrow(option, false)) {
        continue;
      }
      from_env.push_back(StrCat("--", option, "=", entry.substr(eq + 1)));
    }
    po::store(po::command_line_parser(from_env).options(desc).run(), vm);
    // Stored last: flags and environment win over the file.
    if (const std::string path = vm["config"].as<std::string>(); !path.empty()) {
      const auto from_file = ReadConfigFile(path);
      if (!from_file.ok()) return from_file.status();
      std::vector<std::string> file_args;
      for (const auto& [name, value] : *from_file) {
        if (IsCommand(name) || !desc.find_nothrow(name, false)) {
          return absl::InvalidArgumentError(
              StrCat("--config: ", path, ": unknown setting '", name, "'"));
        }
        file_args.push_back(StrCat("--", name));  // the value apart: it may be empty
        file_args.push_back(value);
      }
      po::store(po::command_line_parser(file_args).options(desc).run(), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return absl::InvalidArgumentError(e.what());
  }

  Settings& s = out.settings;
  out.show_help = vm.count("help") > 0;
  out.print_config = vm["print-config"].as<bool>();
  out.fingerprint_keys = vm["fingerprint-keys"].as<bool>();
  out.effective = EffectiveConfig(desc, vm);
  auto get = [&](const char* name) { return vm[name].as<std::string>(); };
  if (auto st = ParseHostPort("listen", get("listen"), s.listen_host, s.listen_port); !st.ok()) {
    return st;
  }
  if (const std::string grpc = get("grpc-listen"); !grpc.empty()) {
    std::string host;
    uint16_t port = 0;
    if (auto st = ParseHostPort("grpc-listen", grpc, host, port); !st.ok()) return st;
    s.grpc_listen = grpc;
  }
  s.tls_cert = get("tls-cert");
  s.tls_key = get("tls-key");
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return s.tls_key.empty() ? Bad("tls-key", "required with --tls-cert")
                             : Bad("tls-cert", "required with --tls-key");
  }
  s.upstream = get("upstream");
  s.upstream_ca_file = get("upstream-ca-file");
  s.log_level = get("log-level");
  s.log_format = get("log-format");
  if (s.log_format != "plain" && s.log_format != "json") {
    return Bad("log-format", StrCat("'", s.log_format, "' is not plain or json"));
  }
  s.workers = vm["workers"].as<int>();
  if (s.workers < 0 || s.workers > 1024) return Bad("workers", "must be between 0 and 1024");
  s.cors_origins.clear();
  const std::string origins = get("cors-origins");
  for (std::string_view origin : Split(origins, ',')) {
    if (!TrimAscii(origin).empty()) s.cors_origins.emplace_back(TrimAscii(origin));
  }
  if (s.cors_origins.empty()) return Bad("cors-origins", "give at least one origin, or *");
  s.reject_unmodelled = vm["reject-unmodelled"].as<bool>();
  s.listen_shared = vm["listen-shared"].as<bool>();
  s.core_dumps = vm["core-dumps"].as<bool>();

  if (auto st = ParseBytes("max-body-bytes", get("max-body-bytes"), s.max_body_bytes); !st.ok()) {
    return st;
  }
  uint64_t header_bytes = 0;
  if (auto st = ParseBytes("max-header-bytes", get("max-header-bytes"), header_bytes); !st.ok()) {
    return st;
  }
  if (header_bytes > (uint64_t{1} << 24)) return Bad("max-header-bytes", "at most 16MiB");
  s.max_header_bytes = static_cast<uint32_t>(header_bytes);
  if (auto st = ParseBytes("grpc-max-message-bytes", get("grpc-max-message-bytes"),
                           s.grpc_max_message_bytes);
      !st.ok()) {
    return st;
  }
  if (s.grpc_max_message_bytes > INT32_MAX) return Bad("grpc-max-message-bytes", "at most 2GiB");
  if (auto st = ParseBytes("grpc-max-buffered-bytes", get("grpc-max-buffered-bytes"),
                           s.grpc_max_buffered_bytes);
      !st.ok()) {
    return st;
  }
  s.grpc_max_concurrent_streams = vm["grpc-max-concurrent-streams"].as<int>();
  if (s.grpc_max_concurrent_streams < 1) return Bad("grpc-max-concurrent-streams", "at least 1");
  if (auto st =
          ParseBytes("client-body-min-rate", get("client-body-min-rate"), s.client_body_min_rate);
      !st.ok()) {
    return st;
  }

  const std::pair<const char*, absl::Duration*> durations[] = {
      {"client-header-timeout", &s.client_header_timeout},
      {"client-idle-timeout", &s.client_idle_timeout},
      {"client-io-timeout", &s.client_io_timeout},
      {"client-body-timeout", &s.client_body_timeout},
      {"upstream-connect-timeout", &s.upstream_connect_timeout},
      {"upstream-first-byte-timeout", &s.upstream_first_byte_timeout},
      {"upstream-idle-timeout", &s.upstream_idle_timeout},
      {"upstream-pool-idle-timeout", &s.upstream_pool_idle_timeout},
      {"websocket-idle-timeout", &s.websocket_idle_timeout},
  };
  for (const auto& [name, target] : durations) {
    if (auto st = ParseDuration(name, get(name), *target); !st.ok()) return st;
  }
  if (auto st = ParseDuration("drain-timeout", get("drain-timeout"), s.drain_timeout); !st.ok()) {
    return st;
  }
  if (auto st = ParseDuration("shutdown-delay", get("shutdown-delay"), s.shutdown_delay,
                              /*zero_ok=*/true);
      !st.ok()) {
    return st;
  }
  if (const std::string server = get("grpc-server"); server == "grpc++" || server == "workers") {
    s.grpc_on_workers = server == "workers";
  } else {
    return Bad("grpc-server", StrCat("'", server, "' is not grpc++ or workers"));
  }
  if (const std::string websocket = get("websocket"); websocket == "on" || websocket == "off") {
    s.websocket = websocket == "on";
  } else {
    return Bad("websocket", StrCat("'", websocket, "' is not on or off"));
  }
  s.upstream_pool_max_idle = vm["upstream-pool-max-idle"].as<int>();
  if (s.upstream_pool_max_idle < 0) return Bad("upstream-pool-max-idle", "must be 0 or more");
  s.upstream_max_connections = vm["upstream-max-connections"].as<int>();
  if (s.upstream_max_connections < 1) return Bad("upstream-max-connections", "at least 1");

  const auto list = [&](const char* name) {
    std::vector<std::string> items;
    const std::string text = get(name);
    for (std::string_view item : Split(text, ',')) {
      if (!TrimAscii(item).empty()) items.emplace_back(TrimAscii(item));
    }
    return items;
  };
  s.allow_keys = list("allow-keys");
  s.allow_networks = list("allow-networks");
  const std::pair<const char*, int*> counts[] = {
      {"rate-limit-rpm", &s.rate_limit_rpm},
      {"rate-limit-burst", &s.rate_limit_burst},
      {"rate-limit-concurrent", &s.rate_limit_concurrent}};
  for (const auto& [name, target] : counts) {
    *target = vm[name].as<int>();
    if (*target < 0) return Bad(name, "must be 0 or more");
  }
  s.rate_limit_by = list("rate-limit-by");
  if (s.rate_limit_by.empty()) return Bad("rate-limit-by", "give key, client or key,client");
  for (const std::string& by : s.rate_limit_by) {
    if (by != "key" && by != "client") {
      return Bad("rate-limit-by", StrCat("'", by, "' is not key or client"));
    }
  }
  s.rate_limit_redis = get("rate-limit-redis");
  if (!s.rate_limit_redis.empty() && !s.rate_limit_redis.starts_with("redis://")) {
    return Bad("rate-limit-redis", "expected a redis://host:port URL");
  }
  if (auto st = ParseDuration("rate-limit-redis-timeout", get("rate-limit-redis-timeout"),
                              s.rate_limit_redis_timeout);
      !st.ok()) {
    return st;
  }
  s.rate_limit_fail_open = vm["rate-limit-fail-open"].as<bool>();
  return out;
}

}  // namespace oa::config
