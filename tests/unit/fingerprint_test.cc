// KeyFingerprint: a short one-way name for a caller's key, safe for logs.
#include "observe/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

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

TEST(Fingerprint, EmptyCredentialIsDash) {
  EXPECT_EQ(KeyFingerprint(""), "-");
  EXPECT_EQ(KeyFingerprint("   "), "-");
  EXPECT_EQ(KeyFingerprint("Bearer "), "-");
  EXPECT_EQ(KeyFingerprint("Bearer"), "-");
  EXPECT_EQ(KeyFingerprint("bearer   "), "-");
}

}  // namespace
}  // namespace oa::observe
