// Small string helpers for the mock OpenAI server. (Debian's absl has its own string_view
// type, which does not mix with std::string_view, so the mock does without absl.)

#ifndef OA_TESTS_MOCK_MOCK_TEXT_H_
#define OA_TESTS_MOCK_MOCK_TEXT_H_

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace oa::mock {

inline void AppendPart(std::string& out, std::string_view text) { out.append(text); }

template <std::integral Number>
requires(!std::same_as<Number, char> &&
         !std::same_as<Number, bool>) void AppendPart(std::string& out, Number number) {
  out += std::to_string(number);
}

// Appends strings and integers to `out`.
template <class... Parts>
void Append(std::string& out, const Parts&... parts) {
  (AppendPart(out, parts), ...);
}

// Concatenates strings and integers.
template <class... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  Append(out, parts...);
  return out;
}

inline char HexDigit(unsigned value) { return "0123456789abcdef"[value & 0xF]; }

inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) { return AsciiLower(x) == AsciiLower(y); });
}

inline std::string AsciiLowered(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), AsciiLower);
  return out;
}

inline std::string_view StripWhitespace(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t\r\n") + 1 - begin);
}

// `text` with each %XX escape replaced by the byte it stands for; malformed escapes stay.
inline std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    unsigned char byte = 0;
    const char* digits = text.data() + pos + 1;
    if (text[pos] == '%' && pos + 2 < text.size() &&
        std::from_chars(digits, digits + 2, byte, 16).ptr == digits + 2) {
      out += static_cast<char>(byte);
      pos += 2;
    } else {
      out += text[pos];
    }
  }
  return out;
}

// The whole of `text` (surrounding whitespace aside) as a decimal integer.
inline std::optional<int64_t> ParseInt(std::string_view text) {
  text = StripWhitespace(text);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_TEXT_H_
