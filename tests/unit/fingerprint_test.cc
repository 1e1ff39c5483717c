// KeyFingerprint: a short one-way name for a caller's key, safe for logs.
#include "observe/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace oa::observe {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(Fingerprint, IsEightLowercaseHexDigits) {
  for (const char* auth : {"Bearer sk-test", "Bearer k", "sk-raw-key", "Basic dXNlcjpwYXNz"}) {
    EXPECT_THAT(KeyFingerprint(auth), MatchesRegex("[0-9a-f]{8}")) << auth;
  }
}

TEST(Fingerprint, IsTheStartOfSha256OfTheCredential) {
  // sha256("sk-test") = f3abf2a6cc4f0098...; sha256("k") = 8254c329a92850f6...
  EXPECT_EQ(KeyFingerprint("Bearer sk-test"), "f3abf2a6");
  EXPECT_EQ(KeyFingerprint("Bearer k"), "8254c329");
}

TEST(Fingerprint, SchemeCaseAndSpacingDoNotMatter) {
  const std::string want = KeyFingerprint("Bearer k");
  EXPECT_EQ(KeyFingerprint("bearer  k"), want);
  EXPECT_EQ(KeyFingerprint("BEARER k"), want);
  EXPECT_EQ(KeyFingerprint("  Bearer k  "), want);
  // A bare key (no scheme) is the same credential.
  EXPECT_EQ(KeyFingerprint("k"), want);
}

TEST(Fingerprint, DifferentKeysDiffer) {
  EXPECT_NE(KeyFingerprint("Bearer sk-proj-aaaa"), KeyFingerprint("Bearer sk-proj-aaab"));
  EXPECT_NE(KeyFingerprint("Bearer k"), KeyFingerprint("Bearer K"));
}

TEST(Fingerprint, NeverContainsTheKey) {
  for (const char* key : {"sk-proj-abcdef0123456789", "abc", "0", "f3abf2a6", "deadbeef"}) {
    const std::string fp = KeyFingerprint(std::string("Bearer ") + key);
    EXPECT_THAT(fp, Not(HasSubstr(key))) << key;
  }
}

// Fingerprints are remembered per thread in a small table: a key seen again, or after
// many others have taken the table's slots, still gets its own.
TEST(Fingerprint, RememberedFingerprintsStayRightUnderChurn) {
  std::vector<std::string> first;
  for (int i = 0; i < 300; ++i) first.push_back(KeyFingerprint("Bearer sk-" + std::to_string(i)));
  for (int round = 0; round < 2; ++round) {
    for (int i = 299; i >= 0; --i) {
      EXPECT_EQ(KeyFingerprint("Bearer sk-" + std::to_string(i)), first[i]) << i;
    }
  }
  EXPECT_EQ(KeyFingerprint("Bearer sk-test"), "f3abf2a6");
  EXPECT_EQ(KeyFingerprint("Bearer k"), "8254c329");
  EXPECT_EQ(KeyFingerprint("Bearer sk-test"), "f3abf2a6");
}

TEST(Fingerprint, EmptyCredentialIsDash) {
  EXPECT_EQ(KeyFingerprint(""), "-");
  EXPECT_EQ(KeyFingerprint("   "), "-");
  EXPECT_EQ(KeyFingerprint("Bearer "), "-");
  EXPECT_EQ(KeyFingerprint("Bearer"), "-");
  EXPECT_EQ(KeyFingerprint("bearer   "), "-");
}

}  // namespace
}  // namespace oa::observe
