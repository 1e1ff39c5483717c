// Log levels: parsing the names the settings accept, and which levels are enabled.
#include "observe/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace oa::observe {
namespace {

using ::testing::HasSubstr;

TEST(ParseLogLevel, KnownNames) {
  EXPECT_EQ(ParseLogLevel("debug").value(), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("info").value(), LogLevel::kInfo);
  EXPECT_EQ(ParseLogLevel("warn").value(), LogLevel::kWarn);
  EXPECT_EQ(ParseLogLevel("error").value(), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("off").value(), LogLevel::kOff);
}

TEST(ParseLogLevel, IgnoresCaseAndAcceptsWarning) {
  EXPECT_EQ(ParseLogLevel("DEBUG").value(), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("Info").value(), LogLevel::kInfo);
  EXPECT_EQ(ParseLogLevel("warning").value(), LogLevel::kWarn);
  EXPECT_EQ(ParseLogLevel("WARNING").value(), LogLevel::kWarn);
}

TEST(ParseLogLevel, UnknownNameIsInvalidArgumentNamingIt) {
  for (const char* bad : {"", "verbose", "trace", "information", " info", "info ", "0"}) {
    absl::StatusOr<LogLevel> level = ParseLogLevel(bad);
    ASSERT_FALSE(level.ok()) << "'" << bad << "'";
    EXPECT_EQ(level.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(level.status().message()), HasSubstr(std::string("'") + bad + "'"));
    EXPECT_THAT(std::string(level.status().message()),
                HasSubstr("debug, info, warn, error or off"));
  }
}

// Restores the process-wide level after each test.
class LogEnabledTest : public ::testing::Test {
 protected:
  ~LogEnabledTest() override { SetLogLevel(LogLevel::kInfo); }
};

TEST_F(LogEnabledTest, LevelsAtOrAboveTheThresholdAreEnabled) {
  SetLogLevel(LogLevel::kWarn);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarn));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
}

TEST_F(LogEnabledTest, DebugEnablesEverything) {
  SetLogLevel(LogLevel::kDebug);
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
}

TEST_F(LogEnabledTest, OffDisablesEverything) {
  SetLogLevel(LogLevel::kOff);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_FALSE(LogEnabled(LogLevel::kError));
  EXPECT_FALSE(LogEnabled(LogLevel::kOff));
}

TEST_F(LogEnabledTest, OffIsNeverALevelToWriteAt) {
  SetLogLevel(LogLevel::kDebug);
  EXPECT_FALSE(LogEnabled(LogLevel::kOff));
}

TEST(ParseLogFormat, PlainAndJson) {
  EXPECT_EQ(ParseLogFormat("plain").value(), LogFormat::kPlain);
  EXPECT_EQ(ParseLogFormat("JSON").value(), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("jsonl").ok());
}

// FormatLogLine's line, appended to what `line` holds.
std::string Formatted(std::string line, LogFormat format, std::string_view time, LogLevel level,
                      std::string_view message, absl::Span<const LogField> fields) {
  FormatLogLine(line, format, time, level, message, fields);
  return line;
}

TEST(FormatLogLine, PlainPutsFieldsAfterTheMessage) {
  EXPECT_EQ(Formatted("", LogFormat::kPlain, "2026-11-25T16:00:00.123Z", LogLevel::kInfo, "access",
                      {{"front", "rest"}, {"status", "200", true}, {"path", "/v1/x y"}}),
            "2026-11-25T16:00:00.123Z info  access front=rest status=200 path=\"/v1/x y\"\n");
  EXPECT_EQ(Formatted("earlier\n", LogFormat::kPlain, "T", LogLevel::kError, "m", {}),
            "earlier\nT error m\n");
  EXPECT_EQ(Formatted("", LogFormat::kPlain, "T", LogLevel::kWarn, "m", {{"k", ""}}),
            "T warn  m k=\n");
}

// A value a caller chose (a request id, a gRPC method) cannot pass for fields of its own.
TEST(FormatLogLine, PlainQuotesValuesThatCouldReadAsFields) {
  EXPECT_EQ(Formatted("", LogFormat::kPlain, "T", LogLevel::kInfo, "access",
                      {{"status", "401", true}, {"request_id", "abc status=200 key=00000000"}}),
            "T info  access status=401 request_id=\"abc status=200 key=00000000\"\n");
  EXPECT_EQ(
      Formatted("", LogFormat::kPlain, "T", LogLevel::kInfo, "m",
                {{"a", "x=y"}, {"b", "say \"hi\" \\o/"}, {"c", std::string_view("1\n2\x7f\0", 5)}}),
      "T info  m a=\"x=y\" b=\"say \\\"hi\\\" \\\\o/\" c=\"1\\x0a2\\x7f\\x00\"\n");
  // Other values go as they are (a path); one with a query has its '=' quoted.
  EXPECT_EQ(Formatted("", LogFormat::kPlain, "T", LogLevel::kInfo, "m",
                      {{"path", "/v1/models/ft:gpt-4o:acme::abc"}, {"q", "/v1/files?limit=2"}}),
            "T info  m path=/v1/models/ft:gpt-4o:acme::abc q=\"/v1/files?limit=2\"\n");
}

TEST(FormatLogLine, JsonIsOneObjectWithNumbersBareAndTextEscaped) {
  EXPECT_EQ(
      Formatted("", LogFormat::kJson, "2026-11-25T16:00:00.123Z", LogLevel::kWarn, "said \"hi\"\n",
                {{"status", "200", true}, {"path", "/v1/\"q\""}}),
      "{\"ts\":\"2026-11-25T16:00:00.123Z\",\"level\":\"warn\",\"msg\":\"said \\\"hi\\\"\\n\","
      "\"status\":200,\"path\":\"/v1/\\\"q\\\"\"}\n");
}

}  // namespace
}  // namespace oa::observe
