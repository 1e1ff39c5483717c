#include "gateway_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "support/wait_until.h"
#include "test_outputs.h"

#ifndef OA_BYPASS_BINARY
#error "OA_BYPASS_BINARY must name the gateway binary"
#endif

namespace oa::testing {

pid_t SpawnChild(std::vector<std::string> argv, const std::string& stderr_path) {
  // Everything the child needs is made before fork(): the test process has other threads
  // (the mock's, gRPC's), and one of them may hold the allocator's lock at the fork, so a
  // child that allocated before exec could wait for ever (seen under ASan: a gateway that
  // never started, its log empty). Between fork and exec the child makes only system calls.
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  const char* err_path = stderr_path.empty() ? nullptr : stderr_path.c_str();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    const int null = open("/dev/null", O_RDWR);
    const int err = err_path == nullptr ? null : open(err_path, O_WRONLY | O_TRUNC);
    dup2(err, STDERR_FILENO);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    execv(raw[0], raw.data());
    _exit(127);
  }
  return pid;
}

GatewayProcess::GatewayProcess(std::vector<std::string> args) : args_(std::move(args)) {
  // In the suite's output folder the log stays after the test, for the key scan.
  const std::string kept = TestOutputDir();
  keep_log_ = !kept.empty();
  std::string path = (keep_log_ ? kept : "/tmp") + "/oa-gateway-log-XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd >= 0) close(fd);
  log_path_ = path;
}

GatewayProcess::~GatewayProcess() {
  Stop();
  // A sanitizer build aborts the gateway at its first report, which a test sees only as
  // an exit status: keep the report in the test's output before the log goes.
  const std::string log = Log();
  for (const char* mark : {"WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
                           "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    if (const size_t at = log.find(mark); at != std::string::npos) {
      const size_t line = log.rfind('\n', at);
      std::cerr << "---- the gateway's log, from its sanitizer report ----\n"
                << log.substr(line == std::string::npos ? 0 : line + 1) << std::flush;
      break;
    }
  }
  if (!keep_log_) unlink(log_path_.c_str());
}

bool GatewayProcess::Start() {
  // OA_BYPASS_BINARY in the environment runs the tests against another build (an older
  // one, to see a regression test fail there).
  const char* binary = std::getenv("OA_BYPASS_BINARY");
  std::vector<std::string> argv = {binary != nullptr && *binary != '\0' ? binary
                                                                        : OA_BYPASS_BINARY};
  if (std::find(args_.begin(), args_.end(), "--listen") == args_.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  // The gateway makes itself undumpable, which hides /proc/<pid>/fd (OpenFds) from users
  // other than root.
  if (geteuid() != 0) argv.push_back("--core-dumps");
  // The most verbose log, unless the test chose: the key scan reads every line.
  if (std::find(args_.begin(), args_.end(), "--log-level") == args_.end()) {
    argv.insert(argv.end(), {"--log-level", "debug"});
  }
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = SpawnChild(argv, log_path_);
  // Until the last line of start-up, or the process's end.
  WaitUntil(
      [&] {
        if (pid_ <= 0) return true;
        const std::string log = Log();
        const size_t at = log.find("listening on 127.0.0.1:");
        if (at != std::string::npos) {
          port_ = static_cast<uint16_t>(std::atoi(log.c_str() + at + 23));
          return true;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
          return true;
        }
        return false;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(10));
  return pid_ > 0 && port_ != 0;
}

int GatewayProcess::Stop() {
  if (pid_ <= 0) return exit_status_;
  kill(pid_, SIGTERM);
  return WaitExit(std::chrono::seconds(10));
}

void GatewayProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int GatewayProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  int status = 0;
  if (!WaitUntil([&] { return waitpid(pid_, &status, WNOHANG) != 0; }, timeout)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return exit_status_;
}

std::string GatewayProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {
long StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}
}  // namespace

long GatewayProcess::RssKib() const { return StatusField(pid_, "VmRSS"); }
long GatewayProcess::PeakRssKib() const { return StatusField(pid_, "VmHWM"); }

int GatewayProcess::OpenFds() const {
  DIR* dir = opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count - 2;
}

}  // namespace oa::testing
