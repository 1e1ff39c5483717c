#include "redis_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "gateway_process.h"
#include "support/wait_until.h"

namespace oa::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

// A port nothing listens on now (the kernel's pick, released at once).
uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in addr = Loopback(port);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

RedisProcess::RedisProcess() : port_(FreePort()) {}

RedisProcess::~RedisProcess() { Stop(); }

bool RedisProcess::Start() {
  if (access(kRedisServer, X_OK) != 0) {
    error_ = std::string(kRedisServer) + " is missing: scripts/setup.sh installs redis-server";
    return false;
  }
  std::vector<std::string> argv = {
      kRedisServer,   "--port", std::to_string(port_), "--bind", "127.0.0.1",  "--save", "",
      "--appendonly", "no",     "--daemonize",         "no",     "--loglevel", "warning"};
  pid_ = SpawnChild(argv, "");
  bool accepts = false;
  WaitUntil(
      [&] {
        if ((accepts = Accepts(port_))) return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;
        }
        return false;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(20));
  if (accepts) return true;
  error_ = pid_ <= 0 ? "redis-server exited at start (port " + std::to_string(port_) + " taken?)"
                     : "redis-server did not take connections within 5 s";
  return false;
}

void RedisProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace oa::testing
