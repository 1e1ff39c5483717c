// Just enough of a Redis client for shared rate limits: RESP2 over TCP, on a worker's
// io_context, with a small pool of connections and a deadline on every command.
//
// No asynchronous Redis client for Asio is packaged for Debian 12 (Boost.Redis came with
// Boost 1.84; hiredis has no Asio adapter), and the limiter needs only EVAL, so the
// protocol is written here: commands as arrays of bulk strings, replies parsed
// incrementally.
//
// Usage (on the worker's thread):
//   RedisClient redis(executor, *RedisUrl::Parse("redis://10.0.0.5:6379/0"), timeout);
//   absl::StatusOr<RedisReply> r = co_await redis.Call({"EVAL", script, "1", key});
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/asio.h"
#include "net/stream.h"

namespace oa::limits {

// redis://[[user]:password@]host[:port][/db]
struct RedisUrl {
  std::string host;
  uint16_t port = 6379;
  std::string user;
  std::string password;
  int db = 0;

  static absl::StatusOr<RedisUrl> Parse(std::string_view url);
  std::string Describe() const;  // host:port/db, never the password
};

struct RedisReply {
  enum class Type { kString, kError, kInteger, kNil, kArray };
  Type type = Type::kNil;
  std::string text;  // kString, kError
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// A command as RESP: an array of bulk strings.
std::string EncodeCommand(const std::vector<std::string_view>& args);

// Parses one reply from the front of `data`. Returns the bytes it took, 0 when `data`
// holds only part of a reply, or an error when it is not RESP.
absl::StatusOr<size_t> ParseReply(std::string_view data, RedisReply& reply);

class RedisClient {
 public:
  RedisClient(net::asio::any_io_executor executor, RedisUrl url, absl::Duration timeout);
  ~RedisClient();

  // Sends one command and reads its reply, connecting (and authenticating) first when
  // no idle connection is at hand. A Redis error reply is a reply, not a failure; a
  // failure is a connection or protocol error, or the deadline passing (UNAVAILABLE).
  net::asio::awaitable<absl::StatusOr<RedisReply>> Call(std::vector<std::string_view> args);

  const RedisUrl& url() const { return url_; }

 private:
  struct Connection;
  net::asio::awaitable<absl::StatusOr<RedisReply>> Exchange(Connection& conn,
                                                            const std::string& request);
  net::asio::awaitable<absl::Status> Open(Connection& conn);

  net::asio::any_io_executor executor_;
  RedisUrl url_;
  absl::Duration timeout_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace oa::limits
