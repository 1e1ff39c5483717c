// Just enough JSON for the mock OpenAI server: quoting strings for the answers it writes,
// and picking top-level members out of request bodies that may be truncated or malformed.
// Nothing here allocates a document tree or recurses, so odd input cannot exhaust the stack.

#ifndef OA_TESTS_MOCK_MOCK_JSON_H_
#define OA_TESTS_MOCK_MOCK_JSON_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace oa::mock {

// `text` as a JSON string literal, quotes included. Bytes that are not valid UTF-8 become
// U+FFFD so that the output is always valid JSON.
std::string JsonQuote(std::string_view text);

// The raw text of member `key` of the top-level object in `json` (e.g. `true`, `"gpt-4o"`,
// `[1,2]`), or nullopt when `json` is not an object, lacks the member, or ends before it.
std::optional<std::string_view> FindMember(std::string_view json, std::string_view key);

// Like FindMember, for a fragment taken from the middle of a document: finds `"key":` by
// plain search and returns the value after it. Used on the tail of bodies too large to keep.
std::optional<std::string_view> FindMemberLoosely(std::string_view fragment, std::string_view key);

// The decoded value of the JSON string literal `raw`, or nullopt when it is not one.
std::optional<std::string> DecodeString(std::string_view raw);

// The number of elements of the JSON array `raw` (counting those complete before a
// truncation), or nullopt when `raw` is not an array.
std::optional<size_t> CountElements(std::string_view raw);

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_JSON_H_
