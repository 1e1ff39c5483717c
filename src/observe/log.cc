#include "observe/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <string>

#include "base/strings.h"

namespace oa::observe {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

constexpr std::string_view kNames[] = {"debug", "info", "warn", "error", "off"};

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  const std::string lower = AsciiLower(name);
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i) {
    if (lower == kNames[i]) return static_cast<LogLevel>(i);
  }
  if (lower == "warning") return LogLevel::kWarn;
  return absl::InvalidArgumentError(
      StrCat("unknown log level '", name, "' (use debug, info, warn, error or off)"));
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kOff &&
         static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void WriteLog(LogLevel level, std::string_view message) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[40];
  const size_t stamp_len = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line =
      absl::StrFormat("%s.%03dZ %-5s ", std::string_view(stamp, stamp_len),
                      static_cast<int>(now.tv_nsec / 1000000), kNames[static_cast<int>(level)]);
  line.append(message);
  line.push_back('\n');
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nowhere to report a failing stderr.
    data += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace oa::observe
