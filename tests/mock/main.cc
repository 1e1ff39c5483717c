// mock_openai: the mock OpenAI server as a process, for client tests that run outside the
// test binary. Prints "listening on <host>:<port>" once bound, then serves until SIGTERM or
// SIGINT, until its parent dies, or until --exit-after-s passes.

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <ctime>
#include <exception>
#include <iostream>
#include <optional>

#include "mock_openai.h"

namespace {

namespace po = boost::program_options;

struct Flags {
  oa::mock::MockOptions mock;
  int exit_after_s = 900;
};

// Parses the command line; nullopt after printing help or an error.
std::optional<Flags> ParseFlags(int argc, char** argv, int& exit_code) {
  Flags flags;
  po::options_description description("mock_openai options");
  description.add_options()("help", "show this help")(
      "host", po::value(&flags.mock.host)->default_value(flags.mock.host), "address to bind")(
      "port", po::value(&flags.mock.port)->default_value(0), "port to bind, 0 for any free one")(
      "tls-cert", po::value(&flags.mock.tls_cert_file), "PEM certificate chain: serve HTTPS")(
      "tls-key", po::value(&flags.mock.tls_key_file), "PEM private key for --tls-cert")(
      "idle-close-ms", po::value(&flags.mock.idle_close_ms)->default_value(0),
      "close connections idle this long without answering, 0 for never")(
      "exit-after-s", po::value(&flags.exit_after_s)->default_value(flags.exit_after_s),
      "exit after this many seconds in any case");
  try {
    po::variables_map values;
    po::store(po::parse_command_line(argc, argv, description), values);
    po::notify(values);
    if (values.count("help")) {
      std::cout << description << "\n";
      exit_code = 0;
      return std::nullopt;
    }
  } catch (const std::exception& e) {
    std::cerr << "mock_openai: " << e.what() << "\n" << description << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  return flags;
}

// Waits for SIGTERM or SIGINT (blocked by the caller) for at most `seconds`.
void AwaitStopSignal(int seconds) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  timespec deadline{};
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += seconds;
  for (;;) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > deadline.tv_sec ||
        (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
      return;
    }
    timespec left{deadline.tv_sec - now.tv_sec, deadline.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) left = {left.tv_sec - 1, left.tv_nsec + 1000000000L};
    if (sigtimedwait(&stop_signals, nullptr, &left) >= 0) return;  // else EINTR or EAGAIN
  }
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Flags> flags = ParseFlags(argc, argv, exit_code);
  if (!flags) return exit_code;

  // Blocked before any thread starts, so that only sigtimedwait() receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 0;  // the parent died before prctl took effect

  oa::mock::MockOpenAI mock(flags->mock);
  try {
    mock.Start();
  } catch (const std::exception& e) {
    std::cerr << "mock_openai: cannot listen on " << flags->mock.host << ":" << flags->mock.port
              << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "listening on " << flags->mock.host << ":" << mock.port() << std::endl;
  AwaitStopSignal(flags->exit_after_s);
  mock.Stop();
  return 0;
}
