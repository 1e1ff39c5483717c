// Fuzzes route matching (route/path_matcher.h through route/route_table.h) on the real
// table: the one the gateway builds at start-up from the embedded descriptors of proto/.
// Input: a request line's start, "METHOD TARGET" (the target may carry a query string,
// which is cut off as the REST front does before matching).
//
// What must hold, besides no crash, leak or undefined behaviour:
//   - MatchHttp agrees with a brute-force scan of every route: the route found is the one
//     that fits the path with the same method (and a verb, when the path's last colon
//     names one some rule has) and comes first in the matcher's precedence — at each
//     segment a literal beats "*", which beats "**"; a template that ends beats "**"
//     taking nothing; among rules of the same shape, the first declared;
//   - no route is found when none fits;
//   - the bindings are the route's variables in order, each the text of the segments it
//     covers, percent-decoded once (%2F kept inside multi-segment values);
//   - the upstream target of a /v1 request is the base URL's path with the rest of the
//     request target, query included, unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "fuzz_support.h"
#include "upstream/base_url.h"

namespace oa::fuzz {
namespace {

using route::HttpTemplate;
using route::Route;

bool Fits(const HttpTemplate& t, const std::vector<std::string_view>& segs) {
  for (size_t k = 0; k < t.segments.size(); ++k) {
    const std::string& s = t.segments[k];
    if (s == HttpTemplate::kMultiWildcard) return true;
    if (k >= segs.size()) return false;
    if (s == HttpTemplate::kSingleWildcard) {
      if (segs[k].empty()) return false;
    } else if (s != segs[k]) {
      return false;
    }
  }
  return t.segments.size() == segs.size();
}

// The precedence of a fitting template, lower first: literal 0, "*" 1, "**" 2 (which
// ends the sequence), and 0 for a template that ends where the path ends.
std::vector<int> Rank(const HttpTemplate& t, size_t n) {
  std::vector<int> rank;
  for (size_t k = 0;; ++k) {
    if (k == t.segments.size()) {
      rank.push_back(0);  // ended with the path (Fits said so)
      return rank;
    }
    const std::string& s = t.segments[k];
    if (s == HttpTemplate::kMultiWildcard) {
      rank.push_back(2);
      return rank;
    }
    rank.push_back(s == HttpTemplate::kSingleWildcard ? 1 : 0);
    if (k >= n) return rank;  // cannot happen for a fitting template
  }
}

const std::vector<std::string>& Verbs() {
  static const auto* const verbs = [] {
    auto* v = new std::vector<std::string>;
    for (const Route& r : Table().routes()) {
      if (!r.tmpl.verb.empty()) v->push_back(r.tmpl.verb);
    }
    return v;
  }();
  return *verbs;
}

// The route the brute-force scan picks, with the segments it was matched on.
struct Expected {
  const Route* route = nullptr;
  std::vector<std::string_view> segments;
};

Expected Scan(std::string_view method, std::string_view path) {
  const SplitPieces pieces = Split(path.substr(1), '/');
  std::vector<std::string_view> segments(pieces.begin(), pieces.end());
  struct Reading {
    std::vector<std::string_view> segments;
    std::string_view verb;
  };
  std::vector<Reading> readings;
  const std::string_view last = segments.back();
  const size_t colon = last.rfind(':');
  if (colon != std::string_view::npos) {
    const std::string_view verb = last.substr(colon + 1);
    for (const std::string& v : Verbs()) {
      if (v == verb) {
        Reading r{segments, verb};
        r.segments.back() = last.substr(0, colon);
        readings.push_back(std::move(r));
        break;
      }
    }
  }
  readings.push_back({segments, ""});
  for (const Reading& reading : readings) {
    const Route* best = nullptr;
    std::vector<int> best_rank;
    for (const Route& r : Table().routes()) {
      if (r.http_method != method || r.tmpl.verb != reading.verb) continue;
      if (!Fits(r.tmpl, reading.segments)) continue;
      std::vector<int> rank = Rank(r.tmpl, reading.segments.size());
      if (best == nullptr || rank < best_rank) {
        best = &r;
        best_rank = std::move(rank);
      }
    }
    if (best != nullptr) return {best, reading.segments};
  }
  return {};
}

void CheckTargetFor(std::string_view target) {
  if (!(target == "/v1" || target.starts_with("/v1/") || target.starts_with("/v1?"))) return;
  static const upstream::BaseUrl openai = *upstream::BaseUrl::Parse("https://api.openai.com/v1");
  static const upstream::BaseUrl bare = *upstream::BaseUrl::Parse("http://127.0.0.1:9/");
  const std::string_view rest = target.substr(3);
  FUZZ_CHECK(openai.TargetFor(target) == StrCat("/v1", rest), "target '%s'", Show(target).c_str());
  const std::string expected_bare =
      rest.empty() || rest[0] == '?' ? StrCat("/", rest) : std::string(rest);
  FUZZ_CHECK(bare.TargetFor(target) == expected_bare, "target '%s'", Show(target).c_str());
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace oa::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t space = input.find(' ');
  if (space == std::string_view::npos) return 0;
  const std::string_view method = input.substr(0, space);
  const std::string_view target = input.substr(space + 1);
  const std::string_view path = target.substr(0, target.find('?'));
  CheckTargetFor(target);

  const std::optional<oa::route::RouteMatch> m = Table().MatchHttp(method, path);
  if (path.empty() || path[0] != '/') {
    FUZZ_CHECK(!m.has_value(), "path '%s'", Show(path).c_str());
    return 0;
  }
  const Expected expected = Scan(method, path);
  FUZZ_CHECK((m ? m->route : nullptr) == expected.route, "%s %s: matched %s, expected %s",
             Show(method).c_str(), Show(path).c_str(), m ? m->route->path_template.c_str() : "none",
             expected.route ? expected.route->path_template.c_str() : "none");
  if (!m) return 0;
  const HttpTemplate& t = m->route->tmpl;
  FUZZ_CHECK(m->bindings.size() == t.variables.size(), "%s", Show(path).c_str());
  for (size_t i = 0; i < t.variables.size(); ++i) {
    const HttpTemplate::Variable& var = t.variables[i];
    const size_t end = var.multi_segment ? expected.segments.size() : var.end_segment;
    FUZZ_CHECK(static_cast<size_t>(var.start_segment) <= end && end <= expected.segments.size(),
               "%s", Show(path).c_str());
    std::vector<std::string_view> parts(expected.segments.begin() + var.start_segment,
                                        expected.segments.begin() + end);
    const std::string raw = oa::Join(parts, "/");
    FUZZ_CHECK(path.find(raw) != std::string_view::npos, "%s", Show(path).c_str());
    const bool several = var.multi_segment || var.end_segment - var.start_segment > 1;
    FUZZ_CHECK(m->bindings[i].field_path == var.field_path &&
                   m->bindings[i].value == oa::route::PercentDecode(raw, several),
               "%s %s: variable %zu bound to '%s' from '%s'", Show(method).c_str(),
               Show(path).c_str(), i, Show(m->bindings[i].value).c_str(), Show(raw).c_str());
    if (!var.multi_segment) {
      FUZZ_CHECK(!m->bindings[i].value.empty(), "%s: empty value", Show(path).c_str());
    }
  }
  return 0;
}
