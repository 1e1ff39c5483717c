// oa-bypass: reads its settings, loads the route table from the embedded descriptors of
// proto/, starts both fronts (REST and gRPC share the port) and runs until SIGINT or SIGTERM.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/strings.h"
#include "config/settings.h"
#include "grpc/front.h"
#include "http/front.h"
#include "limits/admission.h"
#include "net/server_tls.h"
#include "observe/fingerprint.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "route/descriptors.h"
#include "route/route_table.h"
#include "worker/workers.h"

#ifdef OA_JEMALLOC
// jemalloc's settings, read when the process starts. Its background thread returns the
// pages that a peak of connections left free (their buffers and coroutine frames) to the
// system once they have stayed unused for about ten seconds; without it, jemalloc purges
// only when the process allocates again.
extern "C" {
const char* malloc_conf = "background_thread:true,max_background_threads:1";
}
#endif

namespace {

// Callers' keys pass through this process' memory: unless asked, it writes no core file,
// and is not dumpable (no ptrace or /proc/<pid>/mem for other processes of its user).
void KeepMemoryPrivate() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// Every client and upstream connection is a descriptor: use all the system grants.
void RaiseOpenFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
}

// --fingerprint-keys: the fingerprint of each key on stdin, one a line, as --allow-keys
// takes them. Keys come on stdin, not as arguments, which other users could read from
// /proc and which shells keep in their history.
int PrintKeyFingerprints() {
  KeepMemoryPrivate();
  std::string line;
  for (int c; (c = std::getchar()) != EOF;) {
    if (c != '\n') {
      line.push_back(static_cast<char>(c));
      continue;
    }
    if (!oa::TrimAscii(line).empty()) {
      std::printf("%s\n", oa::observe::KeyFingerprint(line).c_str());
    }
    std::fill(line.begin(), line.end(), '\0');
    line.clear();
  }
  if (!oa::TrimAscii(line).empty()) {
    std::printf("%s\n", oa::observe::KeyFingerprint(line).c_str());
  }
  std::fill(line.begin(), line.end(), '\0');
  return 0;
}

int Main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a peer that left is an error code, never a signal
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  absl::StatusOr<oa::config::ParsedArgs> args = oa::config::ParseArgs(argc, argv, environment);
  if (!args.ok()) {
    std::fprintf(stderr, "oa-bypass: %s (see --help)\n",
                 std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->show_help) {
    std::fputs(args->help.c_str(), stdout);
    return 0;
  }
  if (args->print_config) {
    std::fputs(args->effective.c_str(), stdout);
    return 0;
  }
  if (args->fingerprint_keys) return PrintKeyFingerprints();
  const oa::config::Settings& settings = args->settings;
  // Debian builds Abseil without NDEBUG, which leaves its Mutex deadlock detection on: a
  // lock-order graph updated on every acquisition, by gRPC's threads on every call
  // (2.5% of the gateway's CPU under gRPC load in bench/). A debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (!settings.core_dumps) KeepMemoryPrivate();
  RaiseOpenFileLimit();
  absl::StatusOr<oa::observe::LogLevel> level = oa::observe::ParseLogLevel(settings.log_level);
  if (!level.ok()) {
    std::fprintf(stderr, "oa-bypass: --log-level: %s\n",
                 std::string(level.status().message()).c_str());
    return 2;
  }
  oa::observe::SetLogLevel(*level);
  oa::observe::SetLogFormat(*oa::observe::ParseLogFormat(settings.log_format));  // validated

  absl::StatusOr<oa::route::RouteTable> routes =
      oa::route::RouteTable::Build(oa::route::ApiDescriptors().files);
  if (!routes.ok()) {
    std::fprintf(stderr, "oa-bypass: proto/: %s\n", std::string(routes.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> rpcs;
  for (const oa::route::Route& route : routes->routes()) rpcs.push_back(route.rpc);
  oa::observe::metrics().SetRpcs(rpcs);

  absl::StatusOr<std::unique_ptr<oa::limits::Admission>> admission =
      oa::limits::Admission::Create(settings);
  if (!admission.ok()) {
    std::fprintf(stderr, "oa-bypass: %s (see --help)\n",
                 std::string(admission.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<oa::net::ServerTls> tls;
  if (!settings.tls_cert.empty()) {
    absl::StatusOr<std::unique_ptr<oa::net::ServerTls>> loaded =
        oa::net::ServerTls::Load(settings.tls_cert, settings.tls_key);
    if (!loaded.ok()) {
      std::fprintf(stderr, "oa-bypass: %s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    tls = *std::move(loaded);
  }
  // Destroyed after the workers, whose connections refer to it.
  std::optional<oa::http::RestFront> rest;
  absl::StatusOr<std::unique_ptr<oa::worker::Workers>> workers =
      oa::worker::Workers::Create(settings, **admission);
  if (!workers.ok()) {
    std::fprintf(stderr, "oa-bypass: %s\n", std::string(workers.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<oa::grpc_front::GrpcFront>> grpc =
      oa::grpc_front::GrpcFront::Start(settings, *routes, oa::route::ApiDescriptors(), **workers,
                                       tls.get());
  if (!grpc.ok()) {
    std::fprintf(stderr, "oa-bypass: %s\n", std::string(grpc.status().message()).c_str());
    return 1;
  }
  // SIGTERM or SIGINT: not ready (REST /ready 503, gRPC health NOT_SERVING) for
  // --shutdown-delay while still serving, then stop accepting and let calls under way
  // finish for up to --drain-timeout (gRPC and REST side by side), then stop. A second
  // signal stops at once, with 128 + its number as the exit status, as a shell reports
  // a process the signal ended. The signals are caught from here on (one that comes before
  // async_wait waits for it), before the "listening on" line tells the world we serve.
  boost::asio::io_context signals_context(1);
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);

  rest.emplace(settings, *routes, tls ? &tls->context() : nullptr);
  (*workers)->Run(*rest, (*grpc)->http2(), tls != nullptr);
  // "listening on" is the last line of start-up: whoever waits for it (a supervisor, the
  // tests) finds everything else in place, including the line before it.
  if (const int port = (*grpc)->port() != 0 ? (*grpc)->port() : (*workers)->grpc_port();
      port != 0) {
    OA_LOG(kInfo, "gRPC also on port %d", port);
  }
  OA_LOG(kInfo, "listening on %s:%d (REST and gRPC%s; %d workers, %d routes, upstream %s)",
         settings.listen_host, (*workers)->port(), tls ? " over TLS" : "", (*workers)->count(),
         routes->routes().size(), settings.upstream);

  std::thread drain;
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    OA_LOG(kInfo, "signal %d: draining (up to %s; a second signal stops at once)", signal,
           absl::FormatDuration(settings.shutdown_delay + settings.drain_timeout));
    signals.async_wait([&](const boost::system::error_code& ec, int again) {
      if (ec) return;
      // At once: the drain may be asleep (--shutdown-delay), or waiting for calls that
      // stopped workers would never finish. Log lines are written whole as they go;
      // nothing else needs saving, and the kernel closes every connection.
      OA_LOG(kWarn, "signal %d: stopping now", again);
      std::_Exit(128 + again);
    });
    drain = std::thread([&] {
      (*workers)->SetReady(false);
      (*grpc)->SetServing(false);
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(settings.shutdown_delay));
      // gRPC's calls run on the workers, which keep running until both fronts drained.
      std::thread grpc_drain([&] { (*grpc)->Drain(settings.drain_timeout); });
      (*workers)->Drain(settings.drain_timeout);
      grpc_drain.join();
      (*workers)->Stop();
      signals_context.stop();
    });
  });
  signals_context.run();
  if (drain.joinable()) drain.join();
  (*workers)->Join();
  OA_LOG(kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing is meant to throw past Main: what does (an allocation that failed at start-up)
  // ends the process with its message rather than std::terminate's.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oa-bypass: %s\n", e.what());
  } catch (...) {
    std::fputs("oa-bypass: stopped by an unknown exception\n", stderr);
  }
  return 1;
}
