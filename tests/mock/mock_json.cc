#include "mock_json.h"

#include <charconv>
#include <cstdint>
#include <system_error>

#include "mock_text.h"

namespace oa::mock {
namespace {

constexpr size_t kNpos = std::string_view::npos;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view s, size_t pos) {
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  return pos;
}

// Position just past the string literal that starts at s[pos] == '"', or npos when the
// text ends inside it.
size_t SkipString(std::string_view s, size_t pos) {
  for (++pos; pos < s.size(); ++pos) {
    if (s[pos] == '\\') {
      ++pos;
    } else if (s[pos] == '"') {
      return pos + 1;
    }
  }
  return kNpos;
}

// Position just past the value that starts at s[pos], or npos when the text ends inside it.
// Containers are skipped by counting brackets outside strings, without recursion.
size_t SkipValue(std::string_view s, size_t pos) {
  if (pos >= s.size()) return kNpos;
  if (s[pos] == '"') return SkipString(s, pos);
  if (s[pos] != '{' && s[pos] != '[') {
    size_t end = s.find_first_of(",}] \t\r\n", pos);
    return end == pos ? kNpos : end;
  }
  int depth = 0;
  while (pos < s.size()) {
    char c = s[pos];
    if (c == '"') {
      pos = SkipString(s, pos);
      if (pos == kNpos) return kNpos;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return pos + 1;
    }
    ++pos;
  }
  return kNpos;
}

// The value that follows the member name ending just before s[pos]: `: value`.
std::optional<std::string_view> ValueAfterName(std::string_view s, size_t pos) {
  pos = SkipSpace(s, pos);
  if (pos >= s.size() || s[pos] != ':') return std::nullopt;
  size_t begin = SkipSpace(s, pos + 1);
  size_t end = SkipValue(s, begin);
  if (end == kNpos) return std::nullopt;
  return s.substr(begin, end - begin);
}

// Offset in `whole` just past `part`, a view into it.
size_t OffsetAfter(std::string_view whole, std::string_view part) {
  return static_cast<size_t>(part.data() - whole.data()) + part.size();
}

// The lead bytes of multi-byte UTF-8 sequences: (lead & mask) == value.
struct Utf8Lead {
  unsigned char mask;
  unsigned char value;
  size_t length;
  uint32_t smallest;  // anything below has a shorter encoding
};
constexpr Utf8Lead kUtf8Leads[] = {
    {0xE0, 0xC0, 2, 0x80}, {0xF0, 0xE0, 3, 0x800}, {0xF8, 0xF0, 4, 0x10000}};

// Length of the well-formed UTF-8 sequence at s[pos], or 0 when it is malformed.
size_t Utf8SequenceLength(std::string_view s, size_t pos) {
  auto lead = static_cast<unsigned char>(s[pos]);
  if (lead < 0x80) return 1;
  for (const Utf8Lead& kind : kUtf8Leads) {
    if ((lead & kind.mask) != kind.value) continue;
    if (pos + kind.length > s.size()) return 0;
    uint32_t code_point = lead & ~kind.mask & 0xFF;
    for (size_t i = 1; i < kind.length; ++i) {
      auto continuation = static_cast<unsigned char>(s[pos + i]);
      if ((continuation & 0xC0) != 0x80) return 0;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    bool valid = code_point >= kind.smallest && code_point <= 0x10FFFF && !surrogate;
    return valid ? kind.length : 0;
  }
  return 0;
}

void AppendUtf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::optional<uint32_t> ParseHex4(std::string_view s, size_t pos) {
  if (pos + 4 > s.size()) return std::nullopt;
  uint32_t value = 0;
  const char* digits = s.data() + pos;
  auto [end, error] = std::from_chars(digits, digits + 4, value, 16);
  if (error != std::errc() || end != digits + 4) return std::nullopt;
  return value;
}

// Decodes the \uXXXX escape (or surrogate pair) at raw[pos] == 'u'; advances pos past it.
// A lone surrogate becomes U+FFFD.
std::optional<uint32_t> DecodeUnicodeEscape(std::string_view raw, size_t& pos) {
  std::optional<uint32_t> high = ParseHex4(raw, pos + 1);
  if (!high) return std::nullopt;
  pos += 5;
  if (*high < 0xD800 || *high > 0xDFFF) return *high;
  if (*high > 0xDBFF || raw.substr(pos, 2) != "\\u") return 0xFFFD;
  std::optional<uint32_t> low = ParseHex4(raw, pos + 2);
  if (!low || *low < 0xDC00 || *low > 0xDFFF) return 0xFFFD;
  pos += 6;
  return 0x10000 + ((*high - 0xD800) << 10) + (*low - 0xDC00);
}

// Appends the ASCII character `c`, escaped as JSON strings require.
void AppendEscaped(char c, std::string& out) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (static_cast<unsigned char>(c) < 0x20) {
    out += "\\u00";
    out += HexDigit(static_cast<unsigned char>(c) >> 4);
    out += HexDigit(static_cast<unsigned char>(c) & 0xF);
  } else {
    out += c;
  }
}

// The character that the escape sequence \c stands for, or 0 when there is none.
char SimpleEscape(char c) {
  switch (c) {
    case '"':
    case '\\':
    case '/':
      return c;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return 0;
  }
}

}  // namespace

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (size_t pos = 0; pos < text.size();) {
    size_t length = Utf8SequenceLength(text, pos);
    if (length == 0) {
      out += "\\ufffd";
      length = 1;
    } else if (length == 1) {
      AppendEscaped(text[pos], out);
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  return out + '"';
}

std::optional<std::string_view> FindMember(std::string_view json, std::string_view key) {
  size_t pos = SkipSpace(json, 0);
  if (pos >= json.size() || json[pos] != '{') return std::nullopt;
  pos = SkipSpace(json, pos + 1);
  while (pos < json.size() && json[pos] == '"') {
    size_t name_end = SkipString(json, pos);
    if (name_end == kNpos) return std::nullopt;
    std::optional<std::string> name = DecodeString(json.substr(pos, name_end - pos));
    std::optional<std::string_view> value = ValueAfterName(json, name_end);
    if (!value) return std::nullopt;
    if (name == key) return value;
    pos = SkipSpace(json, OffsetAfter(json, *value));
    if (pos >= json.size() || json[pos] != ',') return std::nullopt;
    pos = SkipSpace(json, pos + 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> FindMemberLoosely(std::string_view fragment, std::string_view key) {
  std::string needle = JsonQuote(key);
  for (size_t at = fragment.rfind(needle); at != kNpos; at = fragment.rfind(needle, at - 1)) {
    if (std::optional<std::string_view> value = ValueAfterName(fragment, at + needle.size())) {
      return value;
    }
    if (at == 0) break;
  }
  return std::nullopt;
}

std::optional<std::string> DecodeString(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::nullopt;
  std::string out;
  size_t end = raw.size() - 1;
  for (size_t pos = 1; pos < end;) {
    char c = raw[pos];
    if (c != '\\') {
      out += c;
      ++pos;
      continue;
    }
    if (++pos >= end) return std::nullopt;
    if (raw[pos] == 'u') {
      std::optional<uint32_t> code_point = DecodeUnicodeEscape(raw, pos);
      if (!code_point) return std::nullopt;
      AppendUtf8(*code_point, out);
      continue;
    }
    char unescaped = SimpleEscape(raw[pos]);
    if (unescaped == 0) return std::nullopt;
    out += unescaped;
    ++pos;
  }
  return out;
}

std::optional<size_t> CountElements(std::string_view raw) {
  if (raw.empty() || raw.front() != '[') return std::nullopt;
  size_t count = 0;
  size_t pos = SkipSpace(raw, 1);
  while (pos < raw.size() && raw[pos] != ']') {
    size_t end = SkipValue(raw, pos);
    if (end == kNpos) break;
    ++count;
    pos = SkipSpace(raw, end);
    if (pos >= raw.size() || raw[pos] != ',') break;
    pos = SkipSpace(raw, pos + 1);
  }
  return count;
}

}  // namespace oa::mock
