// Leveled, line-oriented logging to stderr, as plain text or JSON lines. Each line is
// written with a single write(2) so lines from concurrent workers never interleave.
// Nothing here ever sees a caller's key: callers log observe::KeyFingerprint() instead.
//
//   plain: 2026-11-25T16:00:00.123Z info  access front=rest status=200 ms=12.5
//   json:  {"ts":"2026-11-25T16:00:00.123Z","level":"info","msg":"access","front":"rest",
//           "status":200,"ms":12.5}
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"

namespace oa::observe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

enum class LogFormat { kPlain, kJson };

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);  // "plain" or "json"
void SetLogFormat(LogFormat format);

// One named value of a structured line. Numbers are written bare in JSON, text quoted.
// A view: what it points at outlives the call it is passed to.
struct LogField {
  std::string_view key;
  std::string_view text;
  bool number = false;
};

// Appends to `line` the line for `message` (and `fields`) in `format`, ending in '\n';
// `time` is the UTC time stamp as written.
void FormatLogLine(std::string& line, LogFormat format, std::string_view time, LogLevel level,
                   std::string_view message, absl::Span<const LogField> fields = {});

// Writes a line to stderr in the format set; plain text puts each field after the
// message as key=value.
void WriteLog(LogLevel level, std::string_view message, absl::Span<const LogField> fields = {});

}  // namespace oa::observe

// Formats only when the level is enabled, so debug lines cost nothing in production.
#define OA_LOG(level, ...)                                                                     \
  do {                                                                                         \
    if (::oa::observe::LogEnabled(::oa::observe::LogLevel::level)) {                           \
      ::oa::observe::WriteLog(::oa::observe::LogLevel::level, ::absl::StrFormat(__VA_ARGS__)); \
    }                                                                                          \
  } while (false)
