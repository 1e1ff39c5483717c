// Parses the path templates of google.api.http rules:
//
//   Template = "/" Segments [ Verb ] ;
//   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;
//   FieldPath = IDENT { "." IDENT } ;
//   Verb     = ":" LITERAL ;
//
// Usage:
//   absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse("/v1/files/{file_id}/content");
//   // t->segments == {"v1", "files", "*", "content"}; t->variables[0] covers segment 2.
//
// `**` matches the rest of the path, so it may only be the last segment. `{var}` is
// `{var=*}`. A verb exists only where the template writes one after its last segment.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace oa::route {

struct HttpTemplate {
  static constexpr std::string_view kSingleWildcard = "*";
  static constexpr std::string_view kMultiWildcard = "**";

  struct Variable {
    std::vector<std::string> field_path;  // "file.id" -> {"file", "id"}
    int start_segment = 0;                // first template segment the variable covers
    int end_segment = 0;                  // one past the last; see `multi_segment`
    bool multi_segment = false;           // ends in `**`: covers the rest of the path
  };

  std::vector<std::string> segments;  // literals, "*" or "**"
  std::vector<Variable> variables;
  std::string verb;  // without the ':'; empty when the template has none

  static absl::StatusOr<HttpTemplate> Parse(std::string_view text);
};

}  // namespace oa::route
