// HTTP/1.1's character classes (RFC 9110, section 5.6.2 and 5.5), as the parsers, the
// chunked decoder and the writer of heads test them.
#pragma once

#include <array>
#include <string_view>

namespace oa::net {

// tchar: what a method, a field name and a chunk extension's name are made of.
inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~"))
    table[static_cast<unsigned char>(c)] = true;
  return table;
}();

constexpr bool IsTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

// A token: one or more tchars.
constexpr bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// What a field value (and a quoted-pair) may hold: HTAB, SP, VCHAR and obs-text; no other
// control character.
constexpr bool IsFieldChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
}

}  // namespace oa::net
