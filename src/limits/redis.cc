#include "limits/redis.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include "base/strings.h"
#include "net/deadline.h"

namespace oa::limits {
namespace asio = net::asio;
using net::kNoThrow;
using net::tcp;

absl::StatusOr<RedisUrl> RedisUrl::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return absl::InvalidArgumentError(
        StrCat("'", url.substr(0, url.find('@')), "' is not a redis:// URL"));
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    const size_t colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      out.password = std::string(credentials);
    } else {
      out.user = std::string(credentials.substr(0, colon));
      out.password = std::string(credentials.substr(colon + 1));
    }
    rest = rest.substr(at + 1);
  }
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    uint64_t db = 0;
    const std::string_view number = rest.substr(slash + 1);
    if (!number.empty() && (!ParseUint(number, db) || db > 1000)) {
      return absl::InvalidArgumentError(StrCat("'", number, "' is not a database number"));
    }
    out.db = static_cast<int>(db);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  if (const size_t colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    uint64_t port = 0;
    if (!ParseUint(rest.substr(colon + 1), port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(StrCat("'", rest.substr(colon + 1), "' is not a port"));
    }
    out.port = static_cast<uint16_t>(port);
    host = rest.substr(0, colon);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return absl::InvalidArgumentError("the URL names no host");
  out.host = std::string(host);
  return out;
}

std::string RedisUrl::Describe() const {
  return StrCat(host.find(':') == std::string::npos ? host : StrCat("[", host, "]"), ":", port, "/",
                db);
}

std::string EncodeCommand(const std::vector<std::string_view>& args) {
  std::string out = StrCat("*", args.size(), "\r\n");
  for (const std::string_view arg : args) {
    out += StrCat("$", arg.size(), "\r\n", arg, "\r\n");
  }
  return out;
}

absl::StatusOr<size_t> ParseReply(std::string_view data, RedisReply& reply) {
  const size_t eol = data.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  if (eol == 0) return absl::DataLossError("an empty Redis reply line");
  const char kind = data[0];
  const std::string_view line = data.substr(1, eol - 1);
  const size_t after_line = eol + 2;
  int64_t number = 0;
  const bool negative = line.starts_with('-');
  uint64_t magnitude = 0;
  const bool numeric = ParseUint(negative ? line.substr(1) : line, magnitude) &&
                       magnitude <= static_cast<uint64_t>(INT64_MAX);
  if (numeric)
    number = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);

  switch (kind) {
    case '+':
    case '-':
      reply.type = kind == '+' ? RedisReply::Type::kString : RedisReply::Type::kError;
      reply.text = std::string(line);
      return after_line;
    case ':':
      if (!numeric) return absl::DataLossError("a Redis integer reply that is not a number");
      reply.type = RedisReply::Type::kInteger;
      reply.integer = number;
      return after_line;
    case '$': {
      if (!numeric) return absl::DataLossError("a Redis bulk length that is not a number");
      if (number < 0) {
        reply.type = RedisReply::Type::kNil;
        return after_line;
      }
      const auto size = static_cast<size_t>(number);
      if (data.size() < after_line + size + 2) return 0;
      if (data.substr(after_line + size, 2) != "\r\n") {
        return absl::DataLossError("a Redis bulk string without its CRLF");
      }
      reply.type = RedisReply::Type::kString;
      reply.text = std::string(data.substr(after_line, size));
      return after_line + size + 2;
    }
    case '*': {
      if (!numeric) return absl::DataLossError("a Redis array length that is not a number");
      if (number < 0) {
        reply.type = RedisReply::Type::kNil;
        return after_line;
      }
      reply.type = RedisReply::Type::kArray;
      reply.elements.assign(static_cast<size_t>(number), {});
      size_t used = after_line;
      for (RedisReply& element : reply.elements) {
        absl::StatusOr<size_t> took = ParseReply(data.substr(used), element);
        if (!took.ok() || *took == 0) return took;
        used += *took;
      }
      return used;
    }
    default:
      return absl::DataLossError(StrCat("not a Redis reply (starts with byte ",
                                        static_cast<int>(static_cast<unsigned char>(kind)), ")"));
  }
}

struct RedisClient::Connection {
  explicit Connection(const asio::any_io_executor& executor) : socket(executor) {}
  tcp::socket socket;
  std::string buffer;  // bytes read, not yet parsed
};

RedisClient::RedisClient(asio::any_io_executor executor, RedisUrl url, absl::Duration timeout)
    : executor_(std::move(executor)), url_(std::move(url)), timeout_(timeout) {}

RedisClient::~RedisClient() = default;

asio::awaitable<absl::StatusOr<RedisReply>> RedisClient::Call(std::vector<std::string_view> args) {
  using namespace asio::experimental::awaitable_operators;
  const std::string request = EncodeCommand(args);
  std::unique_ptr<Connection> conn;
  // A pooled connection may have died while idle (Redis restarted, a proxy timed it
  // out): then the command goes once more on a new one, within the same deadline.
  const auto work = [&]() -> asio::awaitable<absl::StatusOr<RedisReply>> {
    for (;;) {
      const bool pooled = !idle_.empty();
      if (pooled) {
        conn = std::move(idle_.back());
        idle_.pop_back();
      } else {
        conn = std::make_unique<Connection>(executor_);
        if (absl::Status opened = co_await Open(*conn); !opened.ok()) co_return opened;
      }
      absl::StatusOr<RedisReply> reply = co_await Exchange(*conn, request);
      if (reply.ok() || !pooled) co_return reply;
      idle_.clear();  // its siblings are likely dead too
    }
  };
  net::Deadline deadline(executor_);
  deadline.Expire(timeout_);
  auto result = co_await (work() || deadline.Watch([&] {
    net::error_code ignored;
    if (conn) conn->socket.close(ignored);
  }));
  if (result.index() == 1 || deadline.expired()) {
    co_return absl::UnavailableError(StrCat("no answer from Redis at ", url_.Describe(), " within ",
                                            absl::FormatDuration(timeout_)));
  }
  absl::StatusOr<RedisReply> reply = std::get<0>(std::move(result));
  if (reply.ok() && conn->buffer.empty() && idle_.size() < 16) idle_.push_back(std::move(conn));
  co_return reply;
}

asio::awaitable<absl::Status> RedisClient::Open(Connection& conn) {
  tcp::resolver resolver(executor_);
  const std::string port = std::to_string(url_.port);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(url_.host, port, kNoThrow);
  if (resolve_ec) {
    co_return absl::UnavailableError(
        StrCat("cannot resolve Redis host ", url_.host, ": ", resolve_ec.message()));
  }
  auto [connect_ec, endpoint] = co_await asio::async_connect(conn.socket, endpoints, kNoThrow);
  if (connect_ec) {
    co_return absl::UnavailableError(
        StrCat("cannot connect to Redis at ", url_.Describe(), ": ", connect_ec.message()));
  }
  conn.socket.set_option(tcp::no_delay(true));
  std::vector<std::string> setup;
  if (!url_.password.empty()) {
    setup.push_back(url_.user.empty() ? EncodeCommand({"AUTH", url_.password})
                                      : EncodeCommand({"AUTH", url_.user, url_.password}));
  }
  if (url_.db != 0) setup.push_back(EncodeCommand({"SELECT", std::to_string(url_.db)}));
  for (const std::string& command : setup) {
    absl::StatusOr<RedisReply> reply = co_await Exchange(conn, command);
    if (!reply.ok()) co_return reply.status();
    if (reply->type == RedisReply::Type::kError) {
      // The reply names the problem (WRONGPASS, ERR DB index ...), never the password.
      co_return absl::UnavailableError(
          StrCat("Redis at ", url_.Describe(), " refused the connection set-up: ", reply->text));
    }
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<RedisReply>> RedisClient::Exchange(Connection& conn,
                                                                  const std::string& request) {
  auto [write_ec, written] =
      co_await asio::async_write(conn.socket, asio::buffer(request), kNoThrow);
  if (write_ec) {
    co_return absl::UnavailableError(
        StrCat("writing to Redis at ", url_.Describe(), " failed: ", write_ec.message()));
  }
  for (;;) {
    RedisReply reply;
    absl::StatusOr<size_t> took = ParseReply(conn.buffer, reply);
    if (!took.ok()) co_return took.status();
    if (*took > 0) {
      conn.buffer.erase(0, *took);
      co_return reply;
    }
    char piece[4096];
    auto [read_ec, n] = co_await conn.socket.async_read_some(asio::buffer(piece), kNoThrow);
    if (read_ec) {
      co_return absl::UnavailableError(
          StrCat("reading from Redis at ", url_.Describe(), " failed: ", read_ec.message()));
    }
    conn.buffer.append(piece, n);
  }
}

}  // namespace oa::limits
