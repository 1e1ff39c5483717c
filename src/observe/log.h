// Leveled, line-oriented logging to stderr. Each line is written with a single write(2)
// so lines from concurrent workers never interleave. Nothing here ever sees a caller's
// key: callers log observe::KeyFingerprint() instead.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace oa::observe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes "<UTC time> <level> <message>\n" to stderr.
void WriteLog(LogLevel level, std::string_view message);

}  // namespace oa::observe

// Formats only when the level is enabled, so debug lines cost nothing in production.
#define OA_LOG(level, ...)                                                                     \
  do {                                                                                         \
    if (::oa::observe::LogEnabled(::oa::observe::LogLevel::level)) {                           \
      ::oa::observe::WriteLog(::oa::observe::LogLevel::level, ::absl::StrFormat(__VA_ARGS__)); \
    }                                                                                          \
  } while (false)
