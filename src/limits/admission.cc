#include "limits/admission.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <cmath>
#include <random>

#include "base/strings.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace oa::limits {
namespace asio = net::asio;
using net::Clock;

namespace {

// How long a call's place in a Redis concurrency set lasts unless renewed. Its worker
// renews it every third of that while the call runs, so only the calls of a gateway that
// died without releasing them linger, and for this long at most.
constexpr absl::Duration kLease = absl::Seconds(30);
// After Redis failed, how long calls skip it (and fail open or closed at once).
constexpr absl::Duration kRedisBackoff = absl::Seconds(1);

// KEYS: per scope, its token bucket (a hash) then its set of calls in flight (a sorted
// set scored by lease expiry). ARGV: tokens per millisecond (0: no rate limit), bucket
// capacity, calls allowed in flight (0: no such limit), this call's member name, lease in
// milliseconds. Checks every scope first and changes nothing unless all pass.
// Returns {0} when admitted, else {1, wait_ms, scope} (rate) or {2, wait_ms, scope}
// (concurrency), scope counting from 1.
constexpr std::string_view kAdmitScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, capacity, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local member, lease = ARGV[4], tonumber(ARGV[5])
local tokens = {}
for i = 1, #KEYS, 2 do
  local scope = (i + 1) / 2
  if rate > 0 then
    local b = redis.call('HMGET', KEYS[i], 'tokens', 'at')
    local have = tonumber(b[1]) or capacity
    local at = tonumber(b[2]) or now
    have = math.min(capacity, have + math.max(0, now - at) * rate)
    if have < 1 then return {1, math.ceil((1 - have) / rate), scope} end
    tokens[i] = have
  end
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
    if redis.call('ZCARD', KEYS[i + 1]) >= limit then return {2, 1000, scope} end
  end
end
for i = 1, #KEYS, 2 do
  if rate > 0 then
    redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - 1), 'at', now)
    redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate) + 1000)
  end
  if limit > 0 then
    redis.call('ZADD', KEYS[i + 1], now + lease, member)
    redis.call('PEXPIRE', KEYS[i + 1], lease)
  end
end
return {0}
)lua";

// KEYS[1]: a set of calls in flight; ARGV: the lease in milliseconds, then the members
// to keep. Members that expired meanwhile stay gone.
constexpr std::string_view kRenewScript = R"lua(
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
)lua";

Verdict Limited(std::string_view limit, std::string_view scope, absl::Duration wait, int allowed) {
  Verdict v;
  v.kind = Verdict::Kind::kLimited;
  v.limit = limit;
  v.scope = scope;
  v.retry_after = std::max(wait, absl::Seconds(1));
  const std::string who = scope == "key" ? "this API key" : "this client address";
  v.message =
      limit == "requests"
          ? StrCat("Rate limit reached on this gateway: ", allowed, " requests per minute for ",
                   who, ". Please try again in ", v.retry_after_seconds(), "s.")
          : StrCat("Too many calls at once on this gateway: ", allowed, " in flight for ", who,
                   ". Please try again when one has finished.");
  return v;
}

std::string StateKey(std::string_view scope, std::string_view value) {
  return StrCat(scope, ":", value);
}

}  // namespace

int64_t Verdict::retry_after_seconds() const {
  return std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1))));
}

void TokenBucket::Refill(double capacity, double per_second, Clock::time_point now) {
  const double seconds = std::chrono::duration<double>(now - updated_).count();
  if (seconds > 0) tokens_ = std::min(capacity, tokens_ + seconds * per_second);
  updated_ = now;
}

absl::Duration TokenBucket::Wait(double per_second) const {
  if (tokens_ >= 1) return absl::ZeroDuration();
  return absl::Seconds((1 - tokens_) / per_second);
}

absl::StatusOr<AllowList> AllowList::Parse(const std::vector<std::string>& keys,
                                           const std::vector<std::string>& networks) {
  AllowList out;
  constexpr size_t kFingerprintDigits = 64;  // SHA-256 (observe/fingerprint.h)
  for (const std::string& key : keys) {
    const bool hex = key.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (hex && key.size() == 8) {
      return absl::InvalidArgumentError(
          StrCat("--allow-keys: '", key,
                 "' is a short fingerprint (key= of the access log), which is for reading only: 32 "
                 "bits cannot tell one key from another. List full fingerprints (64 hex digits): "
                 "printf '%s\\n' \"$KEY\" | oa-bypass --fingerprint-keys"));
    }
    if (!hex || key.size() != kFingerprintDigits) {
      return absl::InvalidArgumentError(
          StrCat("--allow-keys: '", key,
                 "' is not a key fingerprint (64 lower-case hex digits, from "
                 "oa-bypass --fingerprint-keys)"));
    }
    out.keys_.push_back(key);
  }
  for (std::string network : networks) {
    if (network.find('/') == std::string::npos) {
      network += network.find(':') == std::string::npos ? "/32" : "/128";
    }
    net::error_code ec;
    if (network.find(':') == std::string::npos) {
      const auto v4 = asio::ip::make_network_v4(network, ec);
      if (!ec) out.v4_.push_back(v4.canonical());
    } else {
      const auto v6 = asio::ip::make_network_v6(network, ec);
      if (!ec) out.v6_.push_back(v6.canonical());
    }
    if (ec) {
      return absl::InvalidArgumentError(
          StrCat("--allow-networks: '", network, "' is not an address or network (CIDR)"));
    }
  }
  return out;
}

bool AllowList::Allows(const Caller& caller) const {
  if (std::find(keys_.begin(), keys_.end(), caller.key_fingerprint) != keys_.end()) return true;
  net::error_code ec;
  asio::ip::address address = asio::ip::make_address(std::string(caller.address), ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  if (address.is_v4()) {
    for (const auto& n : v4_) {
      if (asio::ip::network_v4(address.to_v4(), n.prefix_length()).canonical() == n) return true;
    }
  } else {
    for (const auto& n : v6_) {
      if (asio::ip::network_v6(address.to_v6(), n.prefix_length()).canonical() == n) return true;
    }
  }
  return false;
}

Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      memory_keys_(std::move(other.memory_keys_)),
      redis_keys_(std::move(other.redis_keys_)),
      redis_member_(std::move(other.redis_member_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    memory_keys_ = std::move(other.memory_keys_);
    redis_keys_ = std::move(other.redis_keys_);
    redis_member_ = std::move(other.redis_member_);
  }
  return *this;
}

Lease::~Lease() { Release(); }

void Lease::Release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->Released(*this);
}

absl::StatusOr<std::unique_ptr<Admission>> Admission::Create(const config::Settings& settings) {
  std::unique_ptr<Admission> a(new Admission());
  absl::StatusOr<AllowList> allow = AllowList::Parse(settings.allow_keys, settings.allow_networks);
  if (!allow.ok()) return allow.status();
  a->allow_ = *std::move(allow);
  a->rpm_ = settings.rate_limit_rpm;
  a->burst_ = settings.rate_limit_burst > 0 ? settings.rate_limit_burst : settings.rate_limit_rpm;
  a->concurrent_ = settings.rate_limit_concurrent;
  a->by_key_ = std::find(settings.rate_limit_by.begin(), settings.rate_limit_by.end(), "key") !=
               settings.rate_limit_by.end();
  a->by_client_ = std::find(settings.rate_limit_by.begin(), settings.rate_limit_by.end(),
                            "client") != settings.rate_limit_by.end();
  a->fail_open_ = settings.rate_limit_fail_open;
  a->redis_timeout_ = settings.rate_limit_redis_timeout;
  if (!settings.rate_limit_redis.empty()) {
    absl::StatusOr<RedisUrl> url = RedisUrl::Parse(settings.rate_limit_redis);
    if (!url.ok()) {
      return absl::InvalidArgumentError(StrCat("--rate-limit-redis: ", url.status().message()));
    }
    a->redis_ = *std::move(url);
    observe::metrics().rate_limit_redis_up.Set(1);
  }
  std::random_device random;
  a->instance_ = absl::StrFormat("%08x%08x", random(), random());
  return a;
}

Verdict Admission::AdmitHere(const Keys& keys) {
  const Clock::time_point now = Clock::now();
  const double per_second = rpm_ / 60.0;
  absl::MutexLock lock(&mu_);
  if (now >= next_sweep_) {  // forget callers that are idle and back to a full bucket
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      e.bucket.Refill(burst_, per_second, now);
      it = e.in_flight == 0 && e.bucket.full(burst_) ? entries_.erase(it) : std::next(it);
    }
    next_sweep_ = now + std::chrono::seconds(60);
  }
  std::vector<Entry*> found;
  for (const auto& [key, scope] : keys) {
    Entry& e = entries_.try_emplace(key, Entry{TokenBucket(burst_, now), 0}).first->second;
    if (rpm_ > 0) {
      e.bucket.Refill(burst_, per_second, now);
      if (const absl::Duration wait = e.bucket.Wait(per_second); wait > absl::ZeroDuration()) {
        return Limited("requests", scope, wait, rpm_);
      }
    }
    if (concurrent_ > 0 && e.in_flight >= concurrent_) {
      return Limited("concurrency", scope, absl::Seconds(1), concurrent_);
    }
    found.push_back(&e);
  }
  Verdict v;
  for (size_t i = 0; i < found.size(); ++i) {
    if (rpm_ > 0) found[i]->bucket.Take();
    if (concurrent_ > 0) {
      ++found[i]->in_flight;
      v.lease.memory_keys_.push_back(keys[i].first);
    }
  }
  return v;
}

void Admission::ReleaseHere(const std::vector<std::string>& keys) {
  absl::MutexLock lock(&mu_);
  for (const std::string& key : keys) {
    if (auto it = entries_.find(key); it != entries_.end() && it->second.in_flight > 0) {
      --it->second.in_flight;
    }
  }
}

bool Admission::RedisUsable() {
  absl::MutexLock lock(&mu_);
  return !redis_down_ || Clock::now() >= redis_retry_at_;
}

void Admission::RedisFailed(const absl::Status& failure) {
  observe::metrics().rate_limit_redis_errors.Add();
  observe::metrics().rate_limit_redis_up.Set(0);
  absl::MutexLock lock(&mu_);
  redis_retry_at_ = Clock::now() + absl::ToChronoNanoseconds(kRedisBackoff);
  if (redis_down_) return;
  redis_down_ = true;
  OA_LOG(kWarn, "rate limits: Redis failed (%s); calls %s until it answers again",
         failure.message(), fail_open_ ? "pass unlimited (fail open)" : "get 503 (fail closed)");
}

void Admission::RedisAnswered() {
  absl::MutexLock lock(&mu_);
  if (!redis_down_) return;
  redis_down_ = false;
  observe::metrics().rate_limit_redis_up.Set(1);
  OA_LOG(kInfo, "rate limits: Redis answers again; limits hold again");
}

std::string Admission::NextMember() {
  absl::MutexLock lock(&mu_);
  return StrCat(instance_, ":", ++next_member_);
}

void WorkerAdmission::Bind(asio::any_io_executor executor) {
  executor_ = std::move(executor);
  if (shared_.redis_) {
    redis_ = std::make_unique<RedisClient>(executor_, *shared_.redis_, shared_.redis_timeout_);
  }
}

WorkerAdmission::~WorkerAdmission() = default;

void WorkerAdmission::Close() {
  redis_.reset();
  wake_.reset();
}

asio::awaitable<Verdict> WorkerAdmission::Admit(const Caller& caller) {
  Verdict v;
  if (shared_.allow_.enabled() && !shared_.allow_.Allows(caller)) {
    observe::metrics().denied.Add();
    v.kind = Verdict::Kind::kDenied;
    v.message = "This gateway does not accept calls from this API key or address.";
    co_return v;
  }
  if (!shared_.limits_on()) co_return v;
  Admission::Keys keys;
  if (shared_.by_key_) keys.emplace_back(StateKey("key", caller.key_fingerprint), "key");
  if (shared_.by_client_) keys.emplace_back(StateKey("client", caller.address), "client");
  if (!redis_) {
    v = shared_.AdmitHere(keys);
  } else if (shared_.RedisUsable()) {
    v = co_await AdmitInRedis(keys);
  } else if (!shared_.fail_open_) {
    v.kind = Verdict::Kind::kUnavailable;
  }
  if (v.kind == Verdict::Kind::kLimited) observe::metrics().rate_limited(v.limit, v.scope).Add();
  if (v.kind == Verdict::Kind::kUnavailable) {
    v.message =
        "The gateway cannot check its rate limits now (Redis is unavailable). "
        "Please try again shortly.";
  }
  if (!v.lease.memory_keys_.empty() || !v.lease.redis_keys_.empty()) v.lease.owner_ = this;
  co_return v;
}

asio::awaitable<Verdict> WorkerAdmission::AdmitInRedis(const Admission::Keys& keys) {
  const std::string member = shared_.NextMember();
  const std::string rate = absl::StrFormat("%.9g", shared_.rpm_ / 60000.0);
  const std::string capacity = StrCat(shared_.burst_);
  const std::string limit = StrCat(shared_.concurrent_);
  const std::string lease = StrCat(absl::ToInt64Milliseconds(kLease));
  std::vector<std::string> redis_keys;
  for (const auto& [key, scope] : keys) {
    redis_keys.push_back(StrCat("oa:rl:{", key, "}:tokens"));
    redis_keys.push_back(StrCat("oa:rl:{", key, "}:calls"));
  }
  const std::string key_count = StrCat(redis_keys.size());
  std::vector<std::string_view> args = {"EVAL", kAdmitScript, key_count};
  args.insert(args.end(), redis_keys.begin(), redis_keys.end());
  args.insert(args.end(), {rate, capacity, limit, member, lease});
  const absl::StatusOr<RedisReply> reply = co_await redis_->Call(args);

  Verdict v;
  const bool shaped = reply.ok() && reply->type == RedisReply::Type::kArray &&
                      !reply->elements.empty() &&
                      reply->elements[0].type == RedisReply::Type::kInteger;
  if (!shaped) {
    shared_.RedisFailed(
        !reply.ok() ? reply.status()
                    : absl::UnavailableError(StrCat(
                          "unexpected reply to the limit script: ",
                          reply->type == RedisReply::Type::kError ? reply->text : "not a list")));
    if (!shared_.fail_open_) v.kind = Verdict::Kind::kUnavailable;
    co_return v;
  }
  shared_.RedisAnswered();
  const std::vector<RedisReply>& r = reply->elements;
  if (r[0].integer != 0 && r.size() == 3) {
    const std::string_view scope =
        keys[std::clamp<int64_t>(r[2].integer, 1, static_cast<int64_t>(keys.size())) - 1].second;
    const bool rate_limited = r[0].integer == 1;
    co_return Limited(rate_limited ? "requests" : "concurrency", scope,
                      absl::Milliseconds(r[1].integer),
                      rate_limited ? shared_.rpm_ : shared_.concurrent_);
  }
  if (shared_.concurrent_ > 0) {
    for (size_t i = 1; i < redis_keys.size(); i += 2) {
      v.lease.redis_keys_.push_back(redis_keys[i]);
      held_[redis_keys[i]].push_back(member);
    }
    v.lease.redis_member_ = member;
    if (!maintaining_) {
      maintaining_ = true;
      asio::co_spawn(executor_, Maintain(), asio::detached);
    }
  }
  co_return v;
}

void WorkerAdmission::Released(Lease& lease) {
  if (!lease.memory_keys_.empty()) shared_.ReleaseHere(lease.memory_keys_);
  for (const std::string& key : lease.redis_keys_) {
    if (auto it = held_.find(key); it != held_.end()) {
      std::erase(it->second, lease.redis_member_);
      if (it->second.empty()) held_.erase(it);
    }
    if (redis_) to_release_.emplace_back(key, lease.redis_member_);
  }
  if (!lease.redis_keys_.empty() && wake_) net::CancelWaits(*wake_);
}

// Gives back released places at once and renews held ones every third of a lease, for
// as long as this worker holds or owes any.
asio::awaitable<void> WorkerAdmission::Maintain() {
  wake_ = std::make_unique<asio::steady_timer>(executor_);
  const std::string lease = StrCat(absl::ToInt64Milliseconds(kLease));
  Clock::time_point renew_at = Clock::now() + absl::ToChronoNanoseconds(kLease / 3);
  while (!held_.empty() || !to_release_.empty()) {
    if (to_release_.empty()) {
      wake_->expires_at(renew_at);
      co_await wake_->async_wait(net::kNoThrow);
    }
    std::vector<std::pair<std::string, std::string>> releasing;
    releasing.swap(to_release_);
    for (const auto& [key, member] : releasing) {
      const std::vector<std::string_view> args = {"ZREM", key, member};
      const absl::StatusOr<RedisReply> reply = co_await redis_->Call(args);
      if (!reply.ok()) shared_.RedisFailed(reply.status());  // the lease expires by itself
    }
    if (Clock::now() < renew_at) continue;
    renew_at = Clock::now() + absl::ToChronoNanoseconds(kLease / 3);
    const auto held = held_;  // calls may end while the renewals are under way
    for (const auto& [key, members] : held) {
      std::vector<std::string_view> args = {"EVAL", kRenewScript, "1", key, lease};
      args.insert(args.end(), members.begin(), members.end());
      const absl::StatusOr<RedisReply> reply = co_await redis_->Call(args);
      if (!reply.ok()) shared_.RedisFailed(reply.status());
    }
  }
  maintaining_ = false;
}

}  // namespace oa::limits
