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
// its first ';' and its trailing spaces (which Windows servers drop).
bool HasDotSegment(std::string_view text) {
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '/' && text[i] != '\\') continue;
    std::string_view segment = text.substr(start, i - start);
    segment = segment.substr(0, segment.find(';'));
    while (!segment.empty() && segment.back() == ' ') segment.remove_suffix(1);
    if (segment == "." || segment == "..") return true;
    start = i + 1;
  }
  return false;
}

// Bytes a decoded path never holds but to be read otherwise: control characters, which
// URL parsers strip (".%09." is ".." to WHATWG's), and the lead bytes of overlong UTF-8
// ("%c0%ae" is "." to a lax decoder).
bool HasTrickByte(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || byte == 0xc0 || byte == 0xc1) return true;
  }
  return false;
}

// `text` with the look-alikes of '.', '/' and '\' that Unicode compatibility folding
// (NFKC) turns into them replaced by those: fullwidth, small and one-dot-leader forms.
std::string FoldLookalikes(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kFolds[] = {
      {"\xef\xbc\x8e", '.'},   // U+FF0E FULLWIDTH FULL STOP
      {"\xef\xb9\x92", '.'},   // U+FE52 SMALL FULL STOP
      {"\xe2\x80\xa4", '.'},   // U+2024 ONE DOT LEADER
      {"\xef\xbc\x8f", '/'},   // U+FF0F FULLWIDTH SOLIDUS
      {"\xef\xbc\xbc", '\\'},  // U+FF3C FULLWIDTH REVERSE SOLIDUS
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    bool folded = false;
    for (const auto& [from, to] : kFolds) {
      if (text.substr(i, from.size()) == from) {
        out += to;
        i += from.size();
        folded = true;
        break;
      }
    }
    if (!folded) out += text[i++];
  }
  return out;
}

// A decoded reading: as a server that decodes before it parses would take it, the path
// ends at a decoded '?' or '#'.
bool DecodedLeaves(std::string_view decoded) {
  if (HasTrickByte(decoded)) return true;
  const std::string folded = FoldLookalikes(decoded);
  const std::string_view path = std::string_view(folded).substr(0, folded.find_first_of("?#"));
  return HasDotSegment(path);
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
    if (DecodedLeaves(decoded)) return true;
  }
  return false;
}

}  // namespace oa::route
