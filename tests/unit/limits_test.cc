// The allow-list, the token bucket, the in-process limits and the Redis protocol pieces
// (URL, command encoding, reply parsing). Redis itself is exercised for real in the
// integration tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "limits/admission.h"
#include "limits/redis.h"

namespace oa::limits {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisUrl, ParsesEveryPart) {
  absl::StatusOr<RedisUrl> url = RedisUrl::Parse("redis://app:s3cret@cache.internal:6380/2");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "cache.internal");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->user, "app");
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->Describe(), "cache.internal:6380/2");  // never the password

  url = RedisUrl::Parse("redis://:pw@[::1]");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "pw");
  EXPECT_EQ(url->Describe(), "[::1]:6379/0");

  url = RedisUrl::Parse("redis://only-a-password@10.0.0.5:7000");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->password, "only-a-password");
}

TEST(RedisUrl, RejectsWhatIsNotOne) {
  for (const char* bad : {"http://host", "redis://", "redis://host:0", "redis://host:70000",
                          "redis://host/x", "redis://:pw@"}) {
    const absl::StatusOr<RedisUrl> url = RedisUrl::Parse(bad);
    EXPECT_FALSE(url.ok()) << bad;
    if (!url.ok()) {
      EXPECT_THAT(url.status().message(), Not(HasSubstr("pw"))) << bad;
    }
  }
}

TEST(Resp, EncodesCommandsAsBulkStringArrays) {
  EXPECT_EQ(EncodeCommand({"ZREM", "k", ""}), "*3\r\n$4\r\nZREM\r\n$1\r\nk\r\n$0\r\n\r\n");
  // Binary-safe: CR/LF in an argument is just bytes of it.
  EXPECT_EQ(EncodeCommand({"a\r\nb"}), "*1\r\n$4\r\na\r\nb\r\n");
}

TEST(Resp, ParsesEachKindOfReply) {
  RedisReply r;
  EXPECT_EQ(*ParseReply("+OK\r\nrest", r), 5u);
  EXPECT_EQ(r.type, RedisReply::Type::kString);
  EXPECT_EQ(r.text, "OK");
  EXPECT_EQ(*ParseReply("-NOSCRIPT No matching script\r\n", r), 30u);
  EXPECT_EQ(r.type, RedisReply::Type::kError);
  EXPECT_EQ(r.text, "NOSCRIPT No matching script");
  EXPECT_EQ(*ParseReply(":-42\r\n", r), 6u);
  EXPECT_EQ(r.type, RedisReply::Type::kInteger);
  EXPECT_EQ(r.integer, -42);
  EXPECT_EQ(*ParseReply("$5\r\na\r\nbc\r\n", r), 11u);
  EXPECT_EQ(r.text, "a\r\nbc");
  EXPECT_EQ(*ParseReply("$-1\r\n", r), 5u);
  EXPECT_EQ(r.type, RedisReply::Type::kNil);
  EXPECT_EQ(*ParseReply("*3\r\n:1\r\n:2500\r\n*1\r\n$1\r\nx\r\n", r), 26u);
  ASSERT_EQ(r.type, RedisReply::Type::kArray);
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[1].integer, 2500);
  EXPECT_EQ(r.elements[2].elements.at(0).text, "x");
}

TEST(Resp, WaitsForTheRestOfAPartialReply) {
  const std::string whole = "*2\r\n:1\r\n$3\r\nabc\r\n";
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    RedisReply r;
    const absl::StatusOr<size_t> took = ParseReply(std::string_view(whole).substr(0, cut), r);
    ASSERT_TRUE(took.ok()) << cut;
    EXPECT_EQ(*took, 0u) << "complete after only " << cut << " bytes";
  }
}

TEST(Resp, RefusesWhatIsNotResp) {
  RedisReply r;
  EXPECT_FALSE(ParseReply("HTTP/1.1 200 OK\r\n", r).ok());
  EXPECT_FALSE(ParseReply(":twelve\r\n", r).ok());
  EXPECT_FALSE(ParseReply("$3\r\nabcd\r\n", r).ok());
  EXPECT_FALSE(ParseReply("\r\n", r).ok());
}

TEST(TokenBucket, RefillsAtItsRateUpToCapacity) {
  const auto t0 = net::Clock::now();
  TokenBucket bucket(2, t0);
  EXPECT_EQ(bucket.Wait(1), absl::ZeroDuration());
  bucket.Take();
  bucket.Take();
  EXPECT_EQ(bucket.Wait(0.5), absl::Seconds(2));  // one token at half a token per second
  bucket.Refill(2, 0.5, t0 + std::chrono::seconds(1));
  EXPECT_EQ(bucket.Wait(0.5), absl::Seconds(1));
  bucket.Refill(2, 0.5, t0 + std::chrono::seconds(100));
  EXPECT_TRUE(bucket.full(2));
  bucket.Take();
  EXPECT_FALSE(bucket.full(2));
}

// Full fingerprints (observe::KeyFingerprint): SHA-256 in hex.
constexpr char kListed[] = "0a1b2c3d00000000000000000000000000000000000000000000000000000000";
constexpr char kOther[] = "0a1b2c3dffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

TEST(AllowList, MatchesKeysNetworksAndMappedAddresses) {
  absl::StatusOr<AllowList> allow =
      AllowList::Parse({kListed}, {"10.0.0.0/8", "192.168.1.7", "fd00::/8"});
  ASSERT_TRUE(allow.ok()) << allow.status();
  EXPECT_TRUE(allow->enabled());
  EXPECT_TRUE(allow->Allows({kListed, "203.0.113.9"}));
  // The same first 32 bits (the short fingerprint of the logs) is another key.
  EXPECT_FALSE(allow->Allows({kOther, "203.0.113.9"}));
  EXPECT_FALSE(allow->Allows({"0a1b2c3d", "203.0.113.9"}));
  EXPECT_TRUE(allow->Allows({"-", "10.200.3.4"}));
  EXPECT_TRUE(allow->Allows({"-", "::ffff:10.1.1.1"}));  // a dual-stack listener's view
  EXPECT_TRUE(allow->Allows({"-", "192.168.1.7"}));
  EXPECT_FALSE(allow->Allows({"-", "192.168.1.8"}));
  EXPECT_TRUE(allow->Allows({"-", "fd12::1"}));
  EXPECT_FALSE(allow->Allows({"-", "fe80::1"}));
  EXPECT_FALSE(allow->Allows({"-", "not an address"}));
  EXPECT_FALSE(AllowList::Parse({}, {})->enabled());
}

TEST(AllowList, NamesTheBadEntry) {
  absl::StatusOr<AllowList> bad = AllowList::Parse({"sk-live-key"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--allow-keys: 'sk-live-key'"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("short")));
  bad = AllowList::Parse({std::string(kListed) + "0"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("64 lower-case hex digits"));
  bad = AllowList::Parse({}, {"10.0.0.0/33"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--allow-networks: '10.0.0.0/33'"));
}

// The access log's 8 digits are refused, with the way to the full fingerprint: they
// used to be what --allow-keys took, and 32 bits let a colliding key in.
TEST(AllowList, RefusesShortFingerprintsSayingWhatToListInstead) {
  absl::StatusOr<AllowList> bad = AllowList::Parse({"0a1b2c3d"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("short fingerprint"));
  EXPECT_THAT(bad.status().message(), HasSubstr("--fingerprint-keys"));
}

// Runs Admit on a worker of its own, the way the fronts do.
class InProcessLimits : public ::testing::Test {
 protected:
  void Configure(config::Settings settings) {
    admission_ = *Admission::Create(settings);
    worker_ = std::make_unique<WorkerAdmission>(*admission_);
    worker_->Bind(io_.get_executor());
  }

  Verdict Admit(std::string_view key, std::string_view address = "127.0.0.1") {
    const std::string k(key), a(address);
    auto future = net::asio::co_spawn(
        io_,
        [&]() -> net::asio::awaitable<Verdict> {
          const Caller caller{k, a};
          co_return co_await worker_->Admit(caller);
        },
        net::asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  net::asio::io_context io_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<WorkerAdmission> worker_;
};

TEST_F(InProcessLimits, RequestsPerMinutePerKey) {
  config::Settings settings;
  settings.rate_limit_rpm = 2;
  Configure(settings);
  EXPECT_EQ(Admit("aaaaaaaa").kind, Verdict::Kind::kAdmitted);
  EXPECT_EQ(Admit("aaaaaaaa").kind, Verdict::Kind::kAdmitted);
  const Verdict third = Admit("aaaaaaaa");
  ASSERT_EQ(third.kind, Verdict::Kind::kLimited);
  EXPECT_EQ(third.limit, "requests");
  EXPECT_EQ(third.scope, "key");
  // Two per minute: the next token is about 30 s away.
  EXPECT_GT(third.retry_after, absl::Seconds(29));
  EXPECT_LE(third.retry_after, absl::Seconds(30));
  EXPECT_THAT(third.message, HasSubstr("2 requests per minute for this API key"));
  EXPECT_EQ(Admit("bbbbbbbb").kind, Verdict::Kind::kAdmitted);  // another key, another bucket
}

TEST_F(InProcessLimits, ConcurrencyHoldsUntilTheLeaseEnds) {
  config::Settings settings;
  settings.rate_limit_concurrent = 1;
  settings.rate_limit_by = {"key", "client"};
  Configure(settings);
  std::optional<Verdict> first = Admit("aaaaaaaa", "10.0.0.1");
  ASSERT_EQ(first->kind, Verdict::Kind::kAdmitted);
  const Verdict same_key = Admit("aaaaaaaa", "10.0.0.2");
  EXPECT_EQ(same_key.kind, Verdict::Kind::kLimited);
  EXPECT_EQ(same_key.scope, "key");
  const Verdict same_client = Admit("bbbbbbbb", "10.0.0.1");
  EXPECT_EQ(same_client.kind, Verdict::Kind::kLimited);
  EXPECT_EQ(same_client.scope, "client");
  first.reset();  // the call ended
  EXPECT_EQ(Admit("aaaaaaaa", "10.0.0.1").kind, Verdict::Kind::kAdmitted);
}

TEST_F(InProcessLimits, RefusedCallsTakeNothing) {
  config::Settings settings;
  settings.rate_limit_rpm = 1;
  settings.rate_limit_by = {"key", "client"};
  Configure(settings);
  EXPECT_EQ(Admit("aaaaaaaa", "10.0.0.1").kind, Verdict::Kind::kAdmitted);
  // Refused on the key's bucket, so the new client's bucket keeps its token.
  EXPECT_EQ(Admit("aaaaaaaa", "10.0.0.2").kind, Verdict::Kind::kLimited);
  EXPECT_EQ(Admit("bbbbbbbb", "10.0.0.2").kind, Verdict::Kind::kAdmitted);
}

TEST_F(InProcessLimits, AllowListComesFirst) {
  config::Settings settings;
  settings.allow_networks = {"10.0.0.0/8"};
  Configure(settings);
  EXPECT_EQ(Admit("aaaaaaaa", "10.9.9.9").kind, Verdict::Kind::kAdmitted);
  const Verdict outside = Admit("aaaaaaaa", "127.0.0.1");
  EXPECT_EQ(outside.kind, Verdict::Kind::kDenied);
  EXPECT_FALSE(outside.message.empty());
}

}  // namespace
}  // namespace oa::limits
