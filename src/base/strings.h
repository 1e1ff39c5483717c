// String helpers over std::string_view. Debian's Abseil keeps its own string_view type
// (ABSL_USES_STD_STRING_VIEW is 0 for ABI stability), so absl's string functions do not
// take std::string_view, which Beast and the rest of this code use. These few fill in.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace oa {

namespace strings_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void Append(std::string& out, T value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}
}  // namespace strings_internal

// Concatenates strings, characters and integers.
template <class... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
std::string AsciiLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);
bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix);
std::string_view TrimAscii(std::string_view s);
// Splits at every `sep`; keeps empty pieces. A path or a header list has few, which stay
// out of the heap.
using SplitPieces = absl::InlinedVector<std::string_view, 8>;
SplitPieces Split(std::string_view s, char sep);
std::string Join(absl::Span<const std::string_view> pieces, std::string_view sep);
std::string Join(absl::Span<const std::string> pieces, std::string_view sep);
// Whole-string unsigned decimal; false on anything else, including overflow.
bool ParseUint(std::string_view s, uint64_t& out);

// Hash and equality that let unordered containers keyed by std::string be searched
// with a std::string_view, without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

}  // namespace oa
