// mock_openai: the mock OpenAI server as a process, for client tests that run outside the
// test binary. Prints "listening on <host>:<port>" once bound, then serves until SIGTERM or
// SIGINT, until its parent dies, or until --exit-after-s passes.

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <exception>
#include <iostream>
#include <optional>

#include "mock_openai.h"

namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

struct Flags {
  oa::mock::MockOptions mock;
  int exit_after_s = 900;
};

// Parses the command line into `flags`. Returns the exit code to stop with after --help or
// a bad command line, nullopt to go on.
std::optional<int> ParseFlags(int argc, char** argv, Flags& flags) {
  po::options_description description("mock_openai options");
  auto add = description.add_options();
  add("help", "show this help");
  add("host", po::value(&flags.mock.host)->default_value(flags.mock.host), "address to bind");
  add("port", po::value(&flags.mock.port)->default_value(0), "port to bind, 0 for any free one");
  add("tls-cert", po::value(&flags.mock.tls_cert_file), "PEM certificate chain: serve HTTPS");
  add("tls-key", po::value(&flags.mock.tls_key_file), "PEM private key of --tls-cert");
  add("idle-close-ms", po::value(&flags.mock.idle_close_ms)->default_value(0),
      "close connections idle this long, without answering; 0 for never");
  add("exit-after-s", po::value(&flags.exit_after_s)->default_value(flags.exit_after_s),
      "exit after this many seconds whatever happens");
  try {
    po::variables_map values;
    po::store(po::parse_command_line(argc, argv, description), values);
    po::notify(values);
    if (values.count("help")) {
      std::cout << description << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "mock_openai: " << e.what() << "\n" << description << "\n";
    return 2;
  }
  return std::nullopt;
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

// Waits for a stop signal, which the caller has blocked, for at most `limit`.
void AwaitStopSignal(std::chrono::seconds limit) {
  const sigset_t signals = StopSignals();
  const Clock::time_point deadline = Clock::now() + limit;
  for (Clock::duration left = limit; left > Clock::duration::zero();
       left = deadline - Clock::now()) {
    auto seconds = std::chrono::floor<std::chrono::seconds>(left);
    timespec wait{seconds.count(), std::chrono::nanoseconds(left - seconds).count()};
    if (sigtimedwait(&signals, nullptr, &wait) >= 0) return;
    if (errno != EINTR && errno != EAGAIN) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, flags)) return *exit_code;

  // Blocked before the server's thread starts, so that only AwaitStopSignal receives them.
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 0;  // the parent died before prctl() took effect

  oa::mock::MockOpenAI mock(flags.mock);
  try {
    mock.Start();
  } catch (const std::exception& e) {
    std::cerr << "mock_openai: cannot listen on " << flags.mock.host << ":" << flags.mock.port
              << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "listening on " << flags.mock.host << ":" << mock.port() << std::endl;
  AwaitStopSignal(std::chrono::seconds(flags.exit_after_s));
  mock.Stop();
  return 0;
}
