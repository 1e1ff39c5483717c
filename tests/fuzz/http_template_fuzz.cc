// Fuzzes the path template parser (route/http_template.h) with arbitrary template text.
//
// What must hold, besides no crash, leak or undefined behaviour:
//   - a failure is INVALID_ARGUMENT with a message;
//   - a parsed template is well-formed: non-empty segments, each "*", "**" or a literal
//     free of the grammar's characters; "**" only last; variables in order, not
//     overlapping, inside the segments, with identifier field paths named once, and
//     `multi_segment` exactly when they end in "**";
//   - printing it back in canonical form and parsing that gives the same template;
//   - the template, registered alone in a PathMatcher, matches paths built from it (with
//     plain and percent-escaped values, and with "**" taking no segment), binding each
//     variable to the text put in its place, decoded once; and no other method.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "fuzz_support.h"
#include "route/http_template.h"
#include "route/path_matcher.h"

namespace oa::fuzz {
namespace {

using route::HttpTemplate;

bool IsIdent(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

void CheckWellFormed(const HttpTemplate& t, std::string_view text) {
  FUZZ_CHECK(!t.segments.empty(), "template '%s'", Show(text).c_str());
  for (size_t i = 0; i < t.segments.size(); ++i) {
    const std::string& s = t.segments[i];
    FUZZ_CHECK(!s.empty(), "template '%s'", Show(text).c_str());
    if (s == HttpTemplate::kMultiWildcard) {
      FUZZ_CHECK(i + 1 == t.segments.size(), "'**' not last in '%s'", Show(text).c_str());
    } else if (s != HttpTemplate::kSingleWildcard) {
      FUZZ_CHECK(s.find_first_of("/{}=*:") == std::string::npos, "literal '%s' in '%s'",
                 Show(s).c_str(), Show(text).c_str());
    }
  }
  FUZZ_CHECK(t.verb.find_first_of("/{}=*:") == std::string::npos, "verb '%s' in '%s'",
             Show(t.verb).c_str(), Show(text).c_str());
  int previous_end = 0;
  for (size_t v = 0; v < t.variables.size(); ++v) {
    const HttpTemplate::Variable& var = t.variables[v];
    FUZZ_CHECK(var.start_segment >= previous_end && var.start_segment < var.end_segment &&
                   var.end_segment <= static_cast<int>(t.segments.size()),
               "variable %zu covers [%d, %d) of %zu segments in '%s'", v, var.start_segment,
               var.end_segment, t.segments.size(), Show(text).c_str());
    previous_end = var.end_segment;
    FUZZ_CHECK(!var.field_path.empty(), "template '%s'", Show(text).c_str());
    for (const std::string& ident : var.field_path) {
      FUZZ_CHECK(IsIdent(ident), "field '%s' in '%s'", Show(ident).c_str(), Show(text).c_str());
    }
    FUZZ_CHECK(var.multi_segment == (t.segments[var.end_segment - 1] == "**"), "template '%s'",
               Show(text).c_str());
    for (size_t w = 0; w < v; ++w) {
      FUZZ_CHECK(t.variables[w].field_path != var.field_path, "template '%s'", Show(text).c_str());
    }
  }
}

// The template written back in the grammar's canonical form: `{x}` for `{x=*}`.
std::string Print(const HttpTemplate& t) {
  std::string out;
  size_t v = 0;
  for (size_t i = 0; i < t.segments.size(); ++i) {
    out += '/';
    if (v < t.variables.size() && t.variables[v].start_segment == static_cast<int>(i)) {
      const HttpTemplate::Variable& var = t.variables[v++];
      out += '{';
      out += Join(var.field_path, ".");
      if (!(var.end_segment - var.start_segment == 1 && t.segments[i] == "*")) {
        out += '=';
        for (int k = var.start_segment; k < var.end_segment; ++k) {
          if (k > var.start_segment) out += '/';
          out += t.segments[k];
        }
      }
      out += '}';
      i = var.end_segment - 1;
    } else {
      out += t.segments[i];
    }
  }
  if (!t.verb.empty()) out += StrCat(":", t.verb);
  return out;
}

bool SameTemplate(const HttpTemplate& a, const HttpTemplate& b) {
  if (a.segments != b.segments || a.verb != b.verb || a.variables.size() != b.variables.size()) {
    return false;
  }
  for (size_t i = 0; i < a.variables.size(); ++i) {
    const auto& x = a.variables[i];
    const auto& y = b.variables[i];
    if (x.field_path != y.field_path || x.start_segment != y.start_segment ||
        x.end_segment != y.end_segment || x.multi_segment != y.multi_segment) {
      return false;
    }
  }
  return true;
}

// A request path for `t`: `single` in place of each "*", `multi` in place of "**" (which
// may be empty: "**" then takes no segment), and the bindings it should produce.
struct Sample {
  std::string path;
  std::vector<std::string> bindings;
};

Sample MakeSample(const HttpTemplate& t, std::string_view single, std::string_view multi) {
  std::vector<std::string> texts;  // what stands for each segment
  for (const std::string& s : t.segments) {
    texts.push_back(s == "*" ? std::string(single) : s == "**" ? std::string(multi) : s);
  }
  Sample sample;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (t.segments[i] == "**" && multi.empty()) break;  // "**" taking no segment
    sample.path += '/';
    sample.path += texts[i];
  }
  if (sample.path.empty()) sample.path = "/";
  if (!t.verb.empty()) sample.path += StrCat(":", t.verb);
  for (const HttpTemplate::Variable& var : t.variables) {
    std::vector<std::string> parts;
    for (int k = var.start_segment; k < var.end_segment; ++k) {
      if (t.segments[k] == "**" && multi.empty()) break;
      parts.push_back(texts[k]);
    }
    const bool several = var.multi_segment || var.end_segment - var.start_segment > 1;
    sample.bindings.push_back(route::PercentDecode(Join(parts, "/"), several));
  }
  return sample;
}

void CheckMatches(const route::PathMatcher& matcher, const HttpTemplate& t, std::string_view text,
                  std::string_view single, std::string_view multi) {
  const Sample sample = MakeSample(t, single, multi);
  const std::optional<route::PathMatch> m = matcher.Lookup("GET", sample.path);
  FUZZ_CHECK(m.has_value(), "template '%s' does not match its sample '%s'", Show(text).c_str(),
             Show(sample.path).c_str());
  FUZZ_CHECK(m->value == 7 && m->bindings.size() == t.variables.size(), "template '%s'",
             Show(text).c_str());
  for (size_t i = 0; i < t.variables.size(); ++i) {
    FUZZ_CHECK(m->bindings[i].field_path == t.variables[i].field_path, "template '%s'",
               Show(text).c_str());
    FUZZ_CHECK(m->bindings[i].value == sample.bindings[i],
               "template '%s', path '%s': variable %zu bound to '%s', expected '%s'",
               Show(text).c_str(), Show(sample.path).c_str(), i, Show(m->bindings[i].value).c_str(),
               Show(sample.bindings[i]).c_str());
  }
  FUZZ_CHECK(!matcher.Lookup("POST", sample.path).has_value(), "template '%s'", Show(text).c_str());
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace oa::fuzz;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse(text);
  if (!t.ok()) {
    FUZZ_CHECK(
        t.status().code() == absl::StatusCode::kInvalidArgument && !t.status().message().empty(),
        "template '%s'", Show(text).c_str());
    return 0;
  }
  CheckWellFormed(*t, text);

  const std::string printed = Print(*t);
  absl::StatusOr<HttpTemplate> again = HttpTemplate::Parse(printed);
  FUZZ_CHECK(again.ok() && SameTemplate(*t, *again), "'%s' printed as '%s' parses differently",
             Show(text).c_str(), Show(printed).c_str());

  oa::route::PathMatcherBuilder builder;
  FUZZ_CHECK(builder.Register("GET", *t, 7), "template '%s'", Show(text).c_str());
  const oa::route::PathMatcher matcher = std::move(builder).Build();
  CheckMatches(matcher, *t, text, "id-1", "a/b");
  CheckMatches(matcher, *t, text, "x%2Fy%41%zz", "a%2Fb/c%41");
  CheckMatches(matcher, *t, text, "ft:gpt-4o:acme::abc", "");
  return 0;
}
