#include "route/path_matcher.h"

#include <algorithm>

#include "base/strings.h"

namespace oa::route {

// One node per template segment. `ends` maps "METHOD:verb" to the entry that ends here;
// `rest_ends` holds entries whose next and last segment is `**`.
struct PathMatcher::Node {
  StringMap<std::unique_ptr<Node>> literals;
  std::unique_ptr<Node> wildcard;
  StringMap<int> ends;
  StringMap<int> rest_ends;
};

namespace {

std::string EndKey(std::string_view http_method, std::string_view verb) {
  return StrCat(http_method, ":", verb);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view in, bool keep_escaped_slash) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (hi >= 0 && lo >= 0 && !(keep_escaped_slash && decoded == '/')) {
        out.push_back(decoded);
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

PathMatcher::PathMatcher() : root_(std::make_unique<Node>()) {}
PathMatcher::PathMatcher(PathMatcher&&) noexcept = default;
PathMatcher& PathMatcher::operator=(PathMatcher&&) noexcept = default;
PathMatcher::~PathMatcher() = default;

bool PathMatcher::Walk(const Node& node, absl::Span<const std::string_view> segments, size_t i,
                       std::string_view key, int& entry) const {
  if (i == segments.size()) {
    auto it = node.ends.find(key);
    if (it != node.ends.end()) {
      entry = it->second;
      return true;
    }
    // `**` matches zero or more segments, so "/v1/{name=**}" also takes "/v1".
    auto rest = node.rest_ends.find(key);
    if (rest == node.rest_ends.end()) return false;
    entry = rest->second;
    return true;
  }
  auto literal = node.literals.find(segments[i]);
  if (literal != node.literals.end() && Walk(*literal->second, segments, i + 1, key, entry)) {
    return true;
  }
  // A variable or `*` never matches an empty segment ("/v1/models/" names no model).
  if (node.wildcard && !segments[i].empty() && Walk(*node.wildcard, segments, i + 1, key, entry)) {
    return true;
  }
  auto rest = node.rest_ends.find(key);
  if (rest != node.rest_ends.end()) {
    entry = rest->second;
    return true;
  }
  return false;
}

PathMatch PathMatcher::Bind(const Entry& entry, absl::Span<const std::string_view> segments) {
  PathMatch match;
  match.value = entry.value;
  for (const HttpTemplate::Variable& var : entry.tmpl.variables) {
    const size_t end = var.multi_segment ? segments.size() : static_cast<size_t>(var.end_segment);
    const absl::Span<const std::string_view> parts =
        segments.subspan(var.start_segment, end - var.start_segment);
    // As google.api.http says: a variable over several segments ("{name=operations/*}" as
    // well as "{name=**}") keeps %2F encoded, so its segment boundaries stay unambiguous.
    const bool several = var.multi_segment || var.end_segment - var.start_segment > 1;
    match.bindings.push_back({var.field_path, PercentDecode(Join(parts, "/"), several)});
  }
  return match;
}

std::optional<PathMatch> PathMatcher::Lookup(std::string_view http_method,
                                             std::string_view path) const {
  if (path.empty() || path[0] != '/') return std::nullopt;
  // Try the verb reading first, and only for verbs that some template has.
  const std::string_view last = path.substr(path.rfind('/') + 1);
  const size_t colon = last.rfind(':');
  const std::string_view verb =
      colon == std::string_view::npos ? std::string_view() : last.substr(colon + 1);
  const bool verb_registered = !verb.empty() && verbs_.contains(verb);
  if (!verb_registered) {
    if (const auto literal = literal_paths_.find(path); literal != literal_paths_.end()) {
      for (const LiteralEnd& end : literal->second) {
        if (end.http_method != http_method) continue;
        PathMatch match;
        match.value = entries_[end.entry].value;
        return match;
      }
    }
  }
  const SplitPieces segments = Split(path.substr(1), '/');
  int entry = -1;
  if (verb_registered) {
    SplitPieces without_verb = segments;
    without_verb.back() = last.substr(0, colon);
    if (Walk(*root_, without_verb, 0, EndKey(http_method, verb), entry)) {
      return Bind(entries_[entry], without_verb);
    }
  }
  if (Walk(*root_, segments, 0, EndKey(http_method, ""), entry)) {
    return Bind(entries_[entry], segments);
  }
  return std::nullopt;
}

PathMatcherBuilder::PathMatcherBuilder() = default;
PathMatcherBuilder::~PathMatcherBuilder() = default;

bool PathMatcherBuilder::Register(std::string_view http_method, HttpTemplate tmpl, int value) {
  PathMatcher::Node* node = matcher_.root_.get();
  const std::vector<std::string>& segs = tmpl.segments;
  const bool rest = !segs.empty() && segs.back() == HttpTemplate::kMultiWildcard;
  const size_t walk = rest ? segs.size() - 1 : segs.size();
  for (size_t i = 0; i < walk; ++i) {
    std::unique_ptr<PathMatcher::Node>& next =
        segs[i] == HttpTemplate::kSingleWildcard ? node->wildcard : node->literals[segs[i]];
    if (!next) next = std::make_unique<PathMatcher::Node>();
    node = next.get();
  }
  auto& ends = rest ? node->rest_ends : node->ends;
  const int index = static_cast<int>(matcher_.entries_.size());
  if (!ends.try_emplace(EndKey(http_method, tmpl.verb), index).second) return false;
  if (!tmpl.verb.empty()) matcher_.verbs_.insert(tmpl.verb);
  const bool literal =
      tmpl.verb.empty() && tmpl.variables.empty() &&
      std::none_of(segs.begin(), segs.end(), [](const std::string& seg) {
        return seg == HttpTemplate::kSingleWildcard || seg == HttpTemplate::kMultiWildcard;
      });
  if (literal) {
    matcher_.literal_paths_[StrCat("/", Join(segs, "/"))].push_back(
        {std::string(http_method), index});
  }
  matcher_.entries_.push_back({std::move(tmpl), value});
  return true;
}

PathMatcher PathMatcherBuilder::Build() && { return std::move(matcher_); }

}  // namespace oa::route
