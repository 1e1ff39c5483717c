#include "observe/log.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/container/inlined_vector.h"
#include "base/json_text.h"
#include "base/strings.h"

namespace oa::observe {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kPlain)};

constexpr std::string_view kNames[] = {"debug", "info", "warn", "error", "off"};

// A plain line's values come from callers (a request id, a gRPC method name): one with a
// space, '=' or '"' could pass for fields of its own, so such values go in double quotes,
// logfmt's way, with '"', '\\' and control bytes escaped.
constexpr std::array<bool, 256> kNeedsQuotes = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = true;
  for (const unsigned char c : {' ', '=', '"', '\\', '\x7f'}) table[c] = true;
  return table;
}();

// The value's size quoted and escaped, or 0 when it goes as it is (nearly always: this
// runs for each value of each line, so the common case is one table look per byte).
size_t QuotedSize(std::string_view text) {
  const auto special = [](char c) { return kNeedsQuotes[static_cast<unsigned char>(c)]; };
  const auto first = std::find_if(text.begin(), text.end(), special);
  if (first == text.end()) return 0;
  size_t size = text.size() + 2;
  for (auto it = first; it != text.end(); ++it) {
    const auto u = static_cast<unsigned char>(*it);
    if (u == '"' || u == '\\') {
      size += 1;
    } else if (u < 0x20 || u == 0x7f) {
      size += 3;  // \xHH
    }
  }
  return size;
}

char* PutQuoted(char* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out++ = '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = c;
    } else if (u < 0x20 || u == 0x7f) {
      *out++ = '\\';
      *out++ = 'x';
      *out++ = kHex[u >> 4];
      *out++ = kHex[u & 0xf];
    } else {
      *out++ = c;
    }
  }
  *out++ = '"';
  return out;
}

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

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  const std::string lower = AsciiLower(name);
  if (lower == "plain") return LogFormat::kPlain;
  if (lower == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(StrCat("unknown log format '", name, "' (use plain or json)"));
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

void FormatLogLine(std::string& line, LogFormat format, std::string_view time, LogLevel level,
                   std::string_view message, absl::Span<const LogField> fields) {
  const std::string_view name = kNames[static_cast<int>(level)];
  if (format == LogFormat::kJson) {
    line += StrCat("{\"ts\":\"", time, "\",\"level\":\"", name, "\",\"msg\":\"",
                   JsonEscape(message), "\"");
    for (const LogField& f : fields) {
      line += StrCat(",\"", JsonEscape(f.key), "\":");
      if (f.number) {
        line += f.text;
      } else {
        line += StrCat("\"", JsonEscape(f.text), "\"");
      }
    }
    line += "}\n";
    return;
  }
  // Plain: sized first, then copied in; a line is written per call, so this is hot.
  const size_t pad = 5 - std::min<size_t>(5, name.size());
  size_t size = time.size() + 1 + name.size() + pad + 1 + message.size() + 1;
  absl::InlinedVector<size_t, 16> quoted(fields.size());  // each value's, looked at once
  for (size_t i = 0; i < fields.size(); ++i) {
    quoted[i] = fields[i].number ? 0 : QuotedSize(fields[i].text);
    size += 2 + fields[i].key.size() + (quoted[i] != 0 ? quoted[i] : fields[i].text.size());
  }
  const size_t start = line.size();
  line.resize(start + size);
  char* out = line.data() + start;
  const auto put = [&out](std::string_view text) {
    std::memcpy(out, text.data(), text.size());
    out += text.size();
  };
  put(time);
  *out++ = ' ';
  put(name);
  out = std::fill_n(out, pad + 1, ' ');
  put(message);
  for (size_t i = 0; i < fields.size(); ++i) {
    *out++ = ' ';
    put(fields[i].key);
    *out++ = '=';
    if (quoted[i] != 0) {
      out = PutQuoted(out, fields[i].text);
    } else {
      put(fields[i].text);
    }
  }
  *out = '\n';
}

void WriteLog(LogLevel level, std::string_view message, absl::Span<const LogField> fields) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  // The calendar part changes once a second: each thread formats it then, not per line.
  thread_local time_t stamp_second = -1;
  thread_local char stamp[48];
  thread_local size_t stamp_len = 0;
  if (now.tv_sec != stamp_second) {
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    stamp_len = strftime(stamp, sizeof stamp - 8, "%Y-%m-%dT%H:%M:%S", &utc);
    stamp_second = now.tv_sec;
  }
  const int millis = static_cast<int>(now.tv_nsec / 1000000);
  char* fraction = stamp + stamp_len;
  fraction[0] = '.';
  fraction[1] = static_cast<char>('0' + millis / 100);
  fraction[2] = static_cast<char>('0' + millis / 10 % 10);
  fraction[3] = static_cast<char>('0' + millis % 10);
  fraction[4] = 'Z';
  // Each thread keeps its line's buffer: most lines then allocate nothing.
  thread_local std::string line;
  line.clear();
  FormatLogLine(line, static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)),
                std::string_view(stamp, stamp_len + 5), level, message, fields);
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // Nowhere to report a failing stderr.
    data += n;
    left -= static_cast<size_t>(n);
  }
  // A rare long line (a debug dump) does not keep its buffer for the thread's life.
  if (line.capacity() > 4096) std::string().swap(line);
}

}  // namespace oa::observe
