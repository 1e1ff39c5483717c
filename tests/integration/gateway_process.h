// Runs the real oa-bypass binary as a child process for integration tests: on a free
// loopback port, its stderr (the log) captured to a file that tests can scan.
//
//   GatewayProcess gateway({"--upstream", mock.base_url() + "/v1"});
//   ASSERT_TRUE(gateway.Start()) << gateway.Log();
//   ... connect to 127.0.0.1:gateway.port() ...
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace oa::testing {

// Starts `argv` (argv[0] a path) as a child that dies with the test process, its stdin
// and stdout on /dev/null and its stderr into `stderr_path` (or /dev/null when empty).
// Returns its pid.
pid_t SpawnChild(std::vector<std::string> argv, const std::string& stderr_path);

class GatewayProcess {
 public:
  explicit GatewayProcess(std::vector<std::string> args);
  ~GatewayProcess();  // stops the process if it still runs

  // Starts the binary with `--listen 127.0.0.1:0` (unless the args have a --listen of
  // their own, on 127.0.0.1) and the given args, and waits until it
  // logs the port it listens on. False if it exited (Stop() then returns its exit status)
  // or did not get there in 30 s (a sanitizer build on a loaded machine can take several).
  bool Start();
  // SIGTERM, then waits; returns the exit status (or -1). Once the process has exited,
  // returns the status it exited with.
  int Stop();
  // Sends `signal` and returns at once.
  void Signal(int signal);
  // Waits up to `timeout` for the process to exit: its exit status, or -1 if it was
  // killed by a signal or had not exited (then it is killed).
  int WaitExit(std::chrono::milliseconds timeout);

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const;  // everything written to stderr so far

  // From /proc/<pid>/status, in KiB: current and peak resident set size.
  long RssKib() const;
  long PeakRssKib() const;
  int OpenFds() const;

 private:
  std::vector<std::string> args_;
  std::string log_path_;
  bool keep_log_ = false;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  uint16_t port_ = 0;
};

}  // namespace oa::testing
