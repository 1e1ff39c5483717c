// Who may call through the gateway, and how much: the allow-list and the rate limits,
// checked for every API call of either front before it goes upstream.
//
// - Allow-list (off by default): callers whose key fingerprint is listed, or whose
//   address is in a listed network, pass; everyone else gets 403 / PERMISSION_DENIED.
// - Rate limits (off by default), per caller key fingerprint and/or client address:
//   requests per minute as a token bucket (capacity --rate-limit-burst, refilled at
//   rpm/60 per second), and calls in flight at once (a stream counts until it ends).
//   Over a limit: 429 with Retry-After / RESOURCE_EXHAUSTED.
// - The limits' state lives in this process, or with --rate-limit-redis in a Redis that
//   every gateway of a fleet shares. Each check is one Lua script that reads, decides and
//   writes atomically on the Redis server, timed by the server's clock. If Redis cannot
//   answer, calls pass (or, with --rate-limit-fail-open=false, get 503) and the logs and
//   metrics say so.
//
// Usage:
//   Admission admission(settings);                       // process-wide
//   WorkerAdmission gate(admission);                     // one per worker
//   gate.Bind(worker_executor);
//   Verdict v = co_await gate.Admit(caller);             // on that worker
//   if (v.kind != Verdict::Kind::kAdmitted) { answer v.message ... }
//   // keep v.lease alive for as long as the call runs
#pragma once

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/settings.h"
#include "limits/redis.h"
#include "net/asio.h"

namespace oa::limits {

// The caller of one call, as the limits see it.
struct Caller {
  std::string_view key_fingerprint;  // observe::KeyFingerprint of its Authorization
  std::string_view address;          // its IP address, without the port
};

// A token bucket that starts full: `capacity` tokens, refilled at `per_second`.
class TokenBucket {
 public:
  TokenBucket(double capacity, net::Clock::time_point now) : tokens_(capacity), updated_(now) {}

  // Adds what accrued since the last refill, up to `capacity`.
  void Refill(double capacity, double per_second, net::Clock::time_point now);
  // Zero when a token is there to take; otherwise how long until there is one.
  absl::Duration Wait(double per_second) const;
  void Take() { tokens_ -= 1; }
  bool full(double capacity) const { return tokens_ >= capacity; }

 private:
  double tokens_;
  net::Clock::time_point updated_;
};

// The addresses and key fingerprints let through when an allow-list is set.
class AllowList {
 public:
  // Fails naming the entry that is neither a key fingerprint (64 hex digits) nor a network.
  static absl::StatusOr<AllowList> Parse(const std::vector<std::string>& keys,
                                         const std::vector<std::string>& networks);
  bool enabled() const { return !keys_.empty() || !v4_.empty() || !v6_.empty(); }
  bool Allows(const Caller& caller) const;

 private:
  std::vector<std::string> keys_;
  std::vector<net::asio::ip::network_v4> v4_;
  std::vector<net::asio::ip::network_v6> v6_;
};

class WorkerAdmission;

// Holds a call's places in the concurrency limits; gives them back when destroyed.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();

 private:
  friend class Admission;
  friend class WorkerAdmission;
  void Release();

  WorkerAdmission* owner_ = nullptr;
  std::vector<std::string> memory_keys_;  // in-process counters held
  std::vector<std::string> redis_keys_;   // Redis sets holding redis_member_
  std::string redis_member_;
};

struct Verdict {
  enum class Kind { kAdmitted, kDenied, kLimited, kUnavailable };
  Kind kind = Kind::kAdmitted;
  std::string message;         // for the caller, when not admitted
  absl::Duration retry_after;  // kLimited: when to try again
  std::string_view limit;      // kLimited: "requests" or "concurrency"
  std::string_view scope;      // kLimited: "key" or "client"
  Lease lease;

  // retry_after in whole seconds, rounded up: the value of a Retry-After header.
  int64_t retry_after_seconds() const;
};

// The settings and the in-process state every worker shares.
class Admission {
 public:
  static absl::StatusOr<std::unique_ptr<Admission>> Create(const config::Settings& settings);

  bool enabled() const { return allow_.enabled() || limits_on(); }
  bool limits_on() const { return rpm_ > 0 || concurrent_ > 0; }

 private:
  friend class WorkerAdmission;
  Admission() = default;

  struct Entry {
    TokenBucket bucket;
    int in_flight = 0;
  };
  using Keys = std::vector<std::pair<std::string, std::string_view>>;  // state key, scope

  // In-process: checks every key and, when all pass, takes a token and a place in each.
  Verdict AdmitHere(const Keys& keys);
  // Whether Redis should be asked now: not while it is in the back-off after a failure.
  bool RedisUsable();
  std::string NextMember();
  void ReleaseHere(const std::vector<std::string>& keys);
  void RedisFailed(const absl::Status& failure);
  void RedisAnswered();

  AllowList allow_;
  int rpm_ = 0;
  int burst_ = 0;
  int concurrent_ = 0;
  bool by_key_ = true;
  bool by_client_ = false;
  bool fail_open_ = true;
  std::optional<RedisUrl> redis_;
  absl::Duration redis_timeout_;

  // Every worker admits through the same entries.
  absl::Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  net::Clock::time_point next_sweep_ ABSL_GUARDED_BY(mu_){};
  bool redis_down_ ABSL_GUARDED_BY(mu_) = false;
  net::Clock::time_point redis_retry_at_ ABSL_GUARDED_BY(mu_){};
  uint64_t next_member_ ABSL_GUARDED_BY(mu_) = 0;
  std::string instance_;  // random: names this process's leases in Redis
};

// One worker's side: its Redis connections and the renewal of its Redis leases. Used on
// the worker's thread only.
class WorkerAdmission {
 public:
  explicit WorkerAdmission(Admission& shared) : shared_(shared) {}
  ~WorkerAdmission();

  // Sets the worker's executor, before any call.
  void Bind(net::asio::any_io_executor executor);

  // False when no allow-list or limit is set: every call is admitted, and the fronts
  // skip Admit() (and the fingerprint it needs) altogether.
  bool enabled() const { return shared_.enabled(); }
  net::asio::awaitable<Verdict> Admit(const Caller& caller);

  // Closes the Redis connections and timer while the worker's io_context still exists;
  // leases released after this (as the io_context destroys the calls) are only forgotten.
  void Close();

 private:
  friend class Lease;
  net::asio::awaitable<Verdict> AdmitInRedis(const Admission::Keys& keys);
  void Released(Lease& lease);
  net::asio::awaitable<void> Maintain();

  Admission& shared_;
  net::asio::any_io_executor executor_;
  std::unique_ptr<RedisClient> redis_;
  // Redis leases held by this worker's calls (set -> members), renewed while held;
  // released ones wait in `to_release_` for the maintenance loop.
  std::unordered_map<std::string, std::vector<std::string>> held_;
  std::vector<std::pair<std::string, std::string>> to_release_;
  std::unique_ptr<net::asio::steady_timer> wake_;
  bool maintaining_ = false;
};

}  // namespace oa::limits
