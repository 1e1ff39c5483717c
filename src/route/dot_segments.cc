#include "route/dot_segments.h"

#include <string>

#include "base/strings.h"
#include "route/path_matcher.h"

namespace oa::route {
namespace {

// Decoding rounds looked at: as sent, and decoded up to this many times. A server that
// decodes more often than this reads "%2525252e" as ".", which no server is known to.
constexpr int kDecodings = 3;

// True for a "." or ".." segment in `text`, segments ending at '/' or '\', each cut at
// its first ';'.
bool HasDotSegment(std::string_view text) {
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '/' && text[i] != '\\') continue;
    std::string_view segment = text.substr(start, i - start);
    segment = segment.substr(0, segment.find(';'));
    if (segment == "." || segment == "..") return true;
    start = i + 1;
  }
  return false;
}

}  // namespace

bool LeavesItsPrefix(std::string_view path) {
  // Dots come from '.' or an escape: without either, no reading has a dot segment.
  if (path.find_first_of(".%") == std::string_view::npos) return false;
  if (HasDotSegment(path)) return true;
  std::string decoded(path);
  for (int round = 0; round < kDecodings && decoded.find('%') != std::string::npos; ++round) {
    std::string next = PercentDecode(decoded, /*keep_escaped_slash=*/false);
    if (next == decoded) break;  // only malformed escapes left
    decoded = std::move(next);
    if (decoded.find('\0') != std::string::npos || HasDotSegment(decoded)) return true;
  }
  return false;
}

}  // namespace oa::route
