// A real redis-server (Debian's package) as a child process for tests: on a free
// loopback port, with no persistence, stopped with the test.
//
//   RedisProcess redis;
//   ASSERT_TRUE(redis.Start()) << redis.error();
//   ... "redis://127.0.0.1:" + std::to_string(redis.port()) ...
//   redis.Stop();            // Redis goes away; Start() brings it back on the same port
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace oa::testing {

class RedisProcess {
 public:
  RedisProcess();
  ~RedisProcess();

  // Starts redis-server and waits until it takes connections (up to 5 s).
  bool Start();
  void Stop();

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& error() const { return error_; }

 private:
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace oa::testing
