// The string helpers over std::string_view.
#include "base/strings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace oa {
namespace {

using ::testing::ElementsAre;

TEST(StrCat, MixesStringsCharsAndIntegers) {
  const std::string s = "str";
  const std::string_view sv = "view";
  const absl::string_view asv = "absl";
  EXPECT_EQ(StrCat("lit", s, sv, asv, '!', 42), "litstrviewabsl!42");
  EXPECT_EQ(StrCat(), "");
}

TEST(StrCat, IntegersAtTheirLimits) {
  EXPECT_EQ(StrCat(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(StrCat(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(StrCat(0), "0");
  EXPECT_EQ(StrCat(uint16_t{443}), "443");
  EXPECT_EQ(StrCat(-1), "-1");
}

TEST(StrCat, CharIsACharacterNotANumber) { EXPECT_EQ(StrCat('a', 'b'), "ab"); }

TEST(AsciiLower, LowersOnlyAsciiLetters) {
  EXPECT_EQ(AsciiLower("Content-Type: ABC xyz 123 [@]"), "content-type: abc xyz 123 [@]");
  EXPECT_EQ(AsciiLower("\xC3\x89"), "\xC3\x89");
  EXPECT_EQ(AsciiLower(std::string_view()), "");
  EXPECT_EQ(AsciiLower('Q'), 'q');
  EXPECT_EQ(AsciiLower('@'), '@');
  EXPECT_EQ(AsciiLower('['), '[');
}

TEST(EqualsIgnoreCase, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(EqualsIgnoreCase("Transfer-Encoding", "transfer-encoding"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abd"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "ab"));
  EXPECT_FALSE(EqualsIgnoreCase("ab", "abc"));
  // '@' and '`' are one bit away from 'A' and 'a' but are not letters.
  EXPECT_FALSE(EqualsIgnoreCase("@", "`"));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));
}

TEST(StartsWithIgnoreCase, Prefixes) {
  EXPECT_TRUE(StartsWithIgnoreCase("Access-Control-Allow-Origin", "access-control-"));
  EXPECT_TRUE(StartsWithIgnoreCase("abc", ""));
  EXPECT_TRUE(StartsWithIgnoreCase("abc", "ABC"));
  EXPECT_FALSE(StartsWithIgnoreCase("ab", "abc"));
  EXPECT_FALSE(StartsWithIgnoreCase("xabc", "abc"));
}

TEST(TrimAscii, TrimsAllAsciiWhitespace) {
  EXPECT_EQ(TrimAscii("  a b \t\r\n\f\v"), "a b");
  EXPECT_EQ(TrimAscii("a"), "a");
  EXPECT_EQ(TrimAscii(""), "");
  EXPECT_EQ(TrimAscii(" \t\n "), "");
  EXPECT_EQ(TrimAscii("\xC2\xA0x"), "\xC2\xA0x");
}

TEST(Split, KeepsEmptyPieces) {
  EXPECT_THAT(Split("a,b,c", ','), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Split("a,,b", ','), ElementsAre("a", "", "b"));
  EXPECT_THAT(Split("", ','), ElementsAre(""));
  EXPECT_THAT(Split(",", ','), ElementsAre("", ""));
  EXPECT_THAT(Split("/v1/models/", '/'), ElementsAre("", "v1", "models", ""));
  EXPECT_THAT(Split("abc", ','), ElementsAre("abc"));
}

TEST(Split, PiecesPointIntoTheInput) {
  const std::string_view in = "ab/cd";
  const SplitPieces pieces = Split(in, '/');
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1].data(), in.data() + 3);
}

TEST(Join, ViewsAndStrings) {
  EXPECT_EQ(Join(std::vector<std::string_view>{"a", "b", "c"}, "/"), "a/b/c");
  EXPECT_EQ(Join(std::vector<std::string>{"a", "b"}, ", "), "a, b");
  EXPECT_EQ(Join(std::vector<std::string>{"only"}, "."), "only");
  EXPECT_EQ(Join(std::vector<std::string>{}, "."), "");
  EXPECT_EQ(Join(std::vector<std::string_view>{"", ""}, "/"), "/");
}

TEST(Join, InvertsSplit) {
  for (const char* s : {"", "a", "/v1/models/", "a//b", "//"}) {
    EXPECT_EQ(Join(Split(s, '/'), "/"), s);
  }
}

TEST(ParseUint, WholeStringDecimal) {
  uint64_t v = 7;
  EXPECT_TRUE(ParseUint("0", v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseUint("8080", v));
  EXPECT_EQ(v, 8080u);
  EXPECT_TRUE(ParseUint("007", v));
  EXPECT_EQ(v, 7u);
  EXPECT_TRUE(ParseUint("18446744073709551615", v));
  EXPECT_EQ(v, std::numeric_limits<uint64_t>::max());
}

TEST(ParseUint, RejectsEverythingElse) {
  uint64_t v = 0;
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1a", "0x10", "1.0", "1e3",
                          "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_FALSE(ParseUint(bad, v)) << "'" << bad << "'";
  }
}

TEST(StringMap, FindsByStringView) {
  StringMap<int> map;
  map["alpha"] = 1;
  const std::string_view key = std::string_view("xalphax").substr(1, 5);
  auto it = map.find(key);
  ASSERT_NE(it, map.end());
  EXPECT_EQ(it->second, 1);
  EXPECT_EQ(map.find(std::string_view("beta")), map.end());
  StringSet set = {"x"};
  EXPECT_TRUE(set.contains(std::string_view("x")));
  EXPECT_FALSE(set.contains(std::string_view("y")));
}

}  // namespace
}  // namespace oa
