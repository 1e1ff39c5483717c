// Matches an HTTP method and request path against compiled google.api.http templates.
//
// Usage:
//   PathMatcherBuilder builder;
//   builder.Register("GET", *HttpTemplate::Parse("/v1/models/{model}"), /*value=*/7);
//   PathMatcher matcher = std::move(builder).Build();
//   std::optional<PathMatch> m = matcher.Lookup("GET", "/v1/models/ft:gpt-4o:acme::abc123");
//   // m->value == 7; m->bindings[0] == {{"model"}, "ft:gpt-4o:acme::abc123"}
//
// The builder is not thread-safe; the matcher it produces is immutable and may be read
// from any number of threads. Precedence, at every segment: a literal beats `*`, which
// beats `**`. A trailing `:verb` is split off the path only when some template registered
// that verb, so colons inside ids (fine-tuned model names) stay part of the id.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "route/http_template.h"

namespace oa::route {

struct PathBinding {
  std::vector<std::string> field_path;
  std::string value;  // percent-decoded once; `%2F` stays encoded in multi-segment values
};

struct PathMatch {
  int value = -1;  // what was registered with the template
  std::vector<PathBinding> bindings;
};

// Decodes %XX escapes once. With `keep_escaped_slash`, %2F and %2f are left as they are.
// Malformed escapes are kept literally.
std::string PercentDecode(std::string_view in, bool keep_escaped_slash);

class PathMatcher {
 public:
  PathMatcher(PathMatcher&&) noexcept;
  PathMatcher& operator=(PathMatcher&&) noexcept;
  ~PathMatcher();

  // `path` is the request target's path only (no query string).
  std::optional<PathMatch> Lookup(std::string_view http_method, std::string_view path) const;

 private:
  friend class PathMatcherBuilder;
  struct Node;
  struct Entry {
    HttpTemplate tmpl;
    int value = 0;
  };
  PathMatcher();

  bool Walk(const Node& node, absl::Span<const std::string_view> segments, size_t i,
            std::string_view key, int& entry) const;
  static PathMatch Bind(const Entry& entry, absl::Span<const std::string_view> segments);

  std::unique_ptr<Node> root_;
  std::vector<Entry> entries_;
  StringSet verbs_;
  // Templates of literal segments only, and no verb, by their whole path: most calls
  // (POST /v1/chat/completions) are found with one hash, no walk. Such a template wins
  // over any other that matches, as a literal beats a wildcard at every segment.
  struct LiteralEnd {
    std::string http_method;
    int entry;
  };
  StringMap<std::vector<LiteralEnd>> literal_paths_;
};

class PathMatcherBuilder {
 public:
  PathMatcherBuilder();
  ~PathMatcherBuilder();

  // Returns false, registering nothing, when the same method already has a template of
  // the same shape (same literals, wildcards and verb): the first registration wins.
  bool Register(std::string_view http_method, HttpTemplate tmpl, int value);

  PathMatcher Build() &&;

 private:
  PathMatcher matcher_;
};

}  // namespace oa::route
