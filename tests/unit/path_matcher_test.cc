// PathMatcher: method binding, literal-over-variable precedence, verbs that exist only
// where registered, percent-decoding of bindings, and what does not match.
#include "route/path_matcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace oa::route {
namespace {

using ::testing::ElementsAre;

HttpTemplate T(std::string_view text) {
  absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  return t.ok() ? *std::move(t) : HttpTemplate{};
}

struct Rule {
  const char* method;
  const char* tmpl;
  int value;
};

PathMatcher Build(const std::vector<Rule>& rules) {
  PathMatcherBuilder builder;
  for (const Rule& r : rules) {
    EXPECT_TRUE(builder.Register(r.method, T(r.tmpl), r.value)) << r.method << " " << r.tmpl;
  }
  return std::move(builder).Build();
}

// The matched value, or -1 for no match.
int ValueOf(const PathMatcher& m, std::string_view method, std::string_view path) {
  std::optional<PathMatch> match = m.Lookup(method, path);
  return match ? match->value : -1;
}

// "field.path=value" for each binding, in template order.
std::vector<std::string> BindingsOf(const PathMatcher& m, std::string_view method,
                                    std::string_view path) {
  std::optional<PathMatch> match = m.Lookup(method, path);
  std::vector<std::string> out;
  if (!match) {
    ADD_FAILURE() << method << " " << path << " did not match";
    return out;
  }
  for (const PathBinding& b : match->bindings) {
    out.push_back(StrCat(Join(b.field_path, "."), "=", b.value));
  }
  return out;
}

TEST(PathMatcher, BindsMethodAndPath) {
  PathMatcher m = Build({{"GET", "/v1/chat/completions", 1}, {"POST", "/v1/chat/completions", 2}});
  EXPECT_EQ(ValueOf(m, "GET", "/v1/chat/completions"), 1);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/chat/completions"), 2);
  EXPECT_EQ(ValueOf(m, "DELETE", "/v1/chat/completions"), -1);
}

TEST(PathMatcher, MethodIsCaseSensitive) {
  PathMatcher m = Build({{"GET", "/v1/models", 1}});
  EXPECT_EQ(ValueOf(m, "get", "/v1/models"), -1);
}

TEST(PathMatcher, UnknownPathIsNullopt) {
  PathMatcher m = Build({{"GET", "/v1/models", 1}, {"GET", "/v1/models/{model}", 2}});
  EXPECT_FALSE(m.Lookup("GET", "/v1/some/new/endpoint").has_value());
  EXPECT_FALSE(m.Lookup("GET", "/v1").has_value());
  EXPECT_FALSE(m.Lookup("GET", "/v1/models/a/b").has_value());
  EXPECT_FALSE(m.Lookup("GET", "/v2/models").has_value());
  EXPECT_FALSE(m.Lookup("GET", "/").has_value());
  EXPECT_FALSE(m.Lookup("GET", "").has_value());
  EXPECT_FALSE(m.Lookup("GET", "v1/models").has_value());
}

TEST(PathMatcher, EmptyMatcherMatchesNothing) {
  PathMatcher m = Build({});
  EXPECT_FALSE(m.Lookup("GET", "/v1/models").has_value());
  EXPECT_FALSE(m.Lookup("GET", "/").has_value());
}

TEST(PathMatcher, LiteralsAreCaseSensitive) {
  PathMatcher m = Build({{"GET", "/v1/models", 1}});
  EXPECT_EQ(ValueOf(m, "GET", "/V1/Models"), -1);
}

// Literal segments beat variables (DESIGN.md, "Traps known in advance"), whichever was
// registered first.
struct Precedence {
  const char* method;
  const char* literal_tmpl;
  const char* variable_tmpl;
  const char* literal_path;
  const char* variable_path;
};

void PrintTo(const Precedence& p, std::ostream* os) { *os << p.literal_tmpl; }

class PathMatcherPrecedence : public ::testing::TestWithParam<std::tuple<Precedence, bool>> {};

TEST_P(PathMatcherPrecedence, LiteralBeatsVariable) {
  const auto& [p, literal_first] = GetParam();
  PathMatcherBuilder builder;
  if (literal_first) {
    ASSERT_TRUE(builder.Register(p.method, T(p.literal_tmpl), 1));
    ASSERT_TRUE(builder.Register(p.method, T(p.variable_tmpl), 2));
  } else {
    ASSERT_TRUE(builder.Register(p.method, T(p.variable_tmpl), 2));
    ASSERT_TRUE(builder.Register(p.method, T(p.literal_tmpl), 1));
  }
  PathMatcher m = std::move(builder).Build();
  std::optional<PathMatch> literal = m.Lookup(p.method, p.literal_path);
  ASSERT_TRUE(literal.has_value());
  EXPECT_EQ(literal->value, 1);
  EXPECT_TRUE(literal->bindings.empty());
  std::optional<PathMatch> variable = m.Lookup(p.method, p.variable_path);
  ASSERT_TRUE(variable.has_value());
  EXPECT_EQ(variable->value, 2);
  ASSERT_EQ(variable->bindings.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    PathMatcher, PathMatcherPrecedence,
    ::testing::Combine(
        ::testing::Values(Precedence{"POST", "/v1/responses/compact", "/v1/responses/{response_id}",
                                     "/v1/responses/compact", "/v1/responses/resp_123"},
                          Precedence{"POST", "/v1/threads/runs", "/v1/threads/{thread_id}",
                                     "/v1/threads/runs", "/v1/threads/thread_abc"},
                          Precedence{"GET", "/v1/videos/characters", "/v1/videos/{video_id}",
                                     "/v1/videos/characters", "/v1/videos/video_1"}),
        ::testing::Bool()));

TEST(PathMatcher, LiteralLosesWhenItsMethodDiffers) {
  // GET /v1/threads/runs is no route, so the variable template of GET takes it.
  PathMatcher m = Build({{"POST", "/v1/threads/runs", 1}, {"GET", "/v1/threads/{thread_id}", 2}});
  EXPECT_EQ(ValueOf(m, "GET", "/v1/threads/runs"), 2);
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/threads/runs"), ElementsAre("thread_id=runs"));
  EXPECT_EQ(ValueOf(m, "POST", "/v1/threads/runs"), 1);
}

TEST(PathMatcher, BacktracksFromLiteralToVariable) {
  // "/v1/threads/runs/x" is not under the literal branch, so the variable branch gets it.
  PathMatcher m = Build({{"POST", "/v1/threads/runs", 1},
                         {"POST", "/v1/threads/{thread_id}/runs", 2},
                         {"POST", "/v1/threads/{thread_id}/x", 3}});
  EXPECT_EQ(ValueOf(m, "POST", "/v1/threads/runs/runs"), 2);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/threads/runs/x"), 3);
  EXPECT_THAT(BindingsOf(m, "POST", "/v1/threads/runs/x"), ElementsAre("thread_id=runs"));
}

TEST(PathMatcher, SingleWildcardBeatsMultiWildcard) {
  PathMatcher m = Build({{"GET", "/v1/{name=**}", 1}, {"GET", "/v1/{id}", 2}});
  EXPECT_EQ(ValueOf(m, "GET", "/v1/a"), 2);
  EXPECT_EQ(ValueOf(m, "GET", "/v1/a/b"), 1);
}

TEST(PathMatcher, ColonsInsideIdsAreNotVerbs) {
  PathMatcher m = Build({{"GET", "/v1/models/{model}", 1}, {"DELETE", "/v1/models/{model}", 2}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/models/ft:gpt-4o:acme::abc123"),
              ElementsAre("model=ft:gpt-4o:acme::abc123"));
  EXPECT_THAT(BindingsOf(m, "DELETE", "/v1/models/ft:gpt-4o-mini:org:suffix:id"),
              ElementsAre("model=ft:gpt-4o-mini:org:suffix:id"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/models/x:"), ElementsAre("model=x:"));
}

TEST(PathMatcher, ColonsStayInIdsEvenWhenSomeVerbIsRegistered) {
  PathMatcher m = Build({{"GET", "/v1/models/{model}", 1},
                         {"POST", "/v1/{name=operations/*}:cancel", 2},
                         {"POST", "/v1/models/{model}:abc123", 3}});
  // GET has no template with the verb "abc123", so the whole id binds.
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/models/ft:gpt-4o:acme::abc123"),
              ElementsAre("model=ft:gpt-4o:acme::abc123"));
}

TEST(PathMatcher, RegisteredVerbIsSplitOff) {
  PathMatcher m = Build({{"POST", "/v1/{name=operations/*}:cancel", 1},
                         {"POST", "/v1/{name=operations/*}", 2},
                         {"GET", "/v1/models/{model}", 3}});
  EXPECT_EQ(ValueOf(m, "POST", "/v1/operations/op1:cancel"), 1);
  EXPECT_THAT(BindingsOf(m, "POST", "/v1/operations/op1:cancel"),
              ElementsAre("name=operations/op1"));
  // Without the verb, the verb-less template takes the same path.
  EXPECT_EQ(ValueOf(m, "POST", "/v1/operations/op1"), 2);
  // An unregistered verb stays part of the last segment.
  EXPECT_EQ(ValueOf(m, "POST", "/v1/operations/op1:pause"), 2);
  EXPECT_THAT(BindingsOf(m, "POST", "/v1/operations/op1:pause"),
              ElementsAre("name=operations/op1:pause"));
}

TEST(PathMatcher, VerbPathUnderTemplateWithoutThatVerbIsAPlainSegment) {
  PathMatcher m =
      Build({{"POST", "/v1/{name=operations/*}:cancel", 1}, {"GET", "/v1/models/{model}", 2}});
  // "cancel" is registered, but not for GET /v1/models/*: the colon stays in the id.
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/models/m1:cancel"), ElementsAre("model=m1:cancel"));
  // The verb template does not take other methods.
  EXPECT_EQ(ValueOf(m, "GET", "/v1/operations/op1:cancel"), -1);
}

TEST(PathMatcher, VerbRequiresAVerbInThePath) {
  PathMatcher m = Build({{"POST", "/v1/{name=operations/*}:cancel", 1}});
  EXPECT_EQ(ValueOf(m, "POST", "/v1/operations/op1"), -1);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/operations/:cancel"), -1);
}

TEST(PathMatcher, VerbAfterMultiWildcard) {
  PathMatcher m = Build({{"POST", "/v1/{name=**}:undelete", 1}});
  EXPECT_THAT(BindingsOf(m, "POST", "/v1/a/b/c:undelete"), ElementsAre("name=a/b/c"));
  EXPECT_EQ(ValueOf(m, "POST", "/v1/a/b/c"), -1);
}

TEST(PathMatcher, VerbAfterLiteral) {
  PathMatcher m = Build({{"POST", "/v1/things:batchGet", 1}, {"POST", "/v1/things", 2}});
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things:batchGet"), 1);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things"), 2);
}

// A path whose last segment carries a registered verb is read with the verb first, even
// where a template of literals alone (found by its whole path) would take it otherwise.
TEST(PathMatcher, VerbReadingComesBeforeTheWholeLiteralPath) {
  PathMatcher m = Build({{"POST", "/v1/things/x", 1},
                         {"POST", "/v1/things/{id}:run", 2},
                         {"POST", "/v1/things/{id}", 3},
                         {"GET", "/v1/things/x", 4}});
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things/x"), 1);
  EXPECT_EQ(ValueOf(m, "GET", "/v1/things/x"), 4);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things/x:run"), 2);
  EXPECT_THAT(BindingsOf(m, "POST", "/v1/things/x:run"), ElementsAre("id=x"));
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things/y"), 3);
  EXPECT_EQ(ValueOf(m, "DELETE", "/v1/things/x"), -1);
  EXPECT_EQ(ValueOf(m, "POST", "/v1/things/x/"), -1);
}

TEST(PathMatcher, SingleSegmentVariableDecodesEscapedSlash) {
  PathMatcher m = Build({{"GET", "/v1/files/{file_id}", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%2Fb"), ElementsAre("file_id=a/b"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%2fb"), ElementsAre("file_id=a/b"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/hello%20world%3A%25"),
              ElementsAre("file_id=hello world:%"));
}

TEST(PathMatcher, PercentDecodingHappensOnce) {
  PathMatcher m = Build({{"GET", "/v1/files/{file_id}", 1}});
  // "%2541" is "%41" after one decoding, and must stay so.
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/%2541"), ElementsAre("file_id=%41"));
}

TEST(PathMatcher, MultiSegmentVariableKeepsEscapedSlash) {
  PathMatcher m = Build({{"GET", "/v1/blobs/{name=**}", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/a/b%2Fc/d%20e"), ElementsAre("name=a/b%2Fc/d e"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/x%2fy"), ElementsAre("name=x%2fy"));
}

TEST(PathMatcher, VariableOverSeveralSegmentsKeepsEscapedSlash) {
  // google.api.http: a variable that covers several segments ("{var=foo/*}") is decoded
  // except for %2F, so the segment boundaries of its value stay unambiguous.
  PathMatcher m = Build({{"GET", "/v1/{name=operations/*}", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/operations/a%2Fb%20c"),
              ElementsAre("name=operations/a%2Fb c"));
}

TEST(PathMatcher, EscapedSlashDoesNotSplitSegments) {
  PathMatcher m = Build({{"GET", "/v1/files/{file_id}/content", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%2Fb/content"), ElementsAre("file_id=a/b"));
  EXPECT_EQ(ValueOf(m, "GET", "/v1/files/a/b/content"), -1);
}

TEST(PathMatcher, MalformedEscapesAreKeptLiterally) {
  PathMatcher m = Build({{"GET", "/v1/files/{file_id}", 1}, {"GET", "/v1/blobs/{name=**}", 2}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%zzb"), ElementsAre("file_id=a%zzb"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%4"), ElementsAre("file_id=a%4"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/files/a%"), ElementsAre("file_id=a%"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/x/%g1"), ElementsAre("name=x/%g1"));
}

TEST(PathMatcher, EmptySegmentDoesNotBindAVariable) {
  PathMatcher m = Build({{"GET", "/v1/models/{model}", 1}, {"GET", "/v1/models", 2}});
  EXPECT_EQ(ValueOf(m, "GET", "/v1/models/"), -1);
  EXPECT_EQ(ValueOf(m, "GET", "/v1/models"), 2);
}

TEST(PathMatcher, EmptySegmentInTheMiddleDoesNotMatch) {
  PathMatcher m = Build({{"GET", "/v1/files/{file_id}/content", 1}});
  EXPECT_EQ(ValueOf(m, "GET", "/v1/files//content"), -1);
  EXPECT_EQ(ValueOf(m, "GET", "//v1/files/f/content"), -1);
}

TEST(PathMatcher, MultiWildcardCatchesTheRest) {
  PathMatcher m = Build({{"GET", "/v1/blobs/{name=**}", 1}, {"GET", "/v1/blobs/index", 2}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/a"), ElementsAre("name=a"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/a/b/c"), ElementsAre("name=a/b/c"));
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs/index/more"), ElementsAre("name=index/more"));
  EXPECT_EQ(ValueOf(m, "GET", "/v1/blobs/index"), 2);
  EXPECT_EQ(ValueOf(m, "GET", "/v1/other/a"), -1);
}

TEST(PathMatcher, MultiWildcardMatchesZeroSegments) {
  // google.api.http: "`**` matches zero or more path segments".
  PathMatcher m = Build({{"GET", "/v1/blobs/{name=**}", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/blobs"), ElementsAre("name="));
  EXPECT_EQ(ValueOf(m, "GET", "/v1"), -1);
}

TEST(PathMatcher, MultiWildcardWithPrefixInsideVariable) {
  PathMatcher m = Build({{"GET", "/v1/{name=buckets/*/objects/**}", 1}});
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/buckets/b1/objects/x/y.txt"),
              ElementsAre("name=buckets/b1/objects/x/y.txt"));
  EXPECT_EQ(ValueOf(m, "GET", "/v1/buckets/b1/other/x"), -1);
}

TEST(PathMatcher, AnonymousWildcardsBindNothing) {
  PathMatcher m = Build({{"GET", "/v1/*/x/**", 1}});
  std::optional<PathMatch> match = m.Lookup("GET", "/v1/a/x/b/c");
  ASSERT_TRUE(match.has_value());
  EXPECT_TRUE(match->bindings.empty());
}

TEST(PathMatcher, DuplicateRegistrationKeepsTheFirst) {
  PathMatcherBuilder builder;
  EXPECT_TRUE(builder.Register("GET", T("/v1/models/{model}"), 1));
  // Same shape, other variable name: still a duplicate.
  EXPECT_FALSE(builder.Register("GET", T("/v1/models/{id}"), 2));
  EXPECT_FALSE(builder.Register("GET", T("/v1/models/*"), 3));
  // Other method or other verb: not a duplicate.
  EXPECT_TRUE(builder.Register("DELETE", T("/v1/models/{model}"), 4));
  EXPECT_TRUE(builder.Register("GET", T("/v1/models/{model}:x"), 5));
  PathMatcher m = std::move(builder).Build();
  EXPECT_EQ(ValueOf(m, "GET", "/v1/models/m"), 1);
  EXPECT_THAT(BindingsOf(m, "GET", "/v1/models/m"), ElementsAre("model=m"));
  EXPECT_EQ(ValueOf(m, "DELETE", "/v1/models/m"), 4);
  EXPECT_EQ(ValueOf(m, "GET", "/v1/models/m:x"), 5);
}

TEST(PathMatcher, DuplicateMultiWildcardKeepsTheFirst) {
  PathMatcherBuilder builder;
  EXPECT_TRUE(builder.Register("GET", T("/v1/{name=**}"), 1));
  EXPECT_FALSE(builder.Register("GET", T("/v1/**"), 2));
  PathMatcher m = std::move(builder).Build();
  EXPECT_EQ(ValueOf(m, "GET", "/v1/a/b"), 1);
}

TEST(PathMatcher, BindsSeveralVariablesInOrder) {
  PathMatcher m = Build({{"GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", 1}});
  std::optional<PathMatch> match = m.Lookup("GET", "/v1/threads/thread_1/runs/run_2/steps/step_3");
  ASSERT_TRUE(match.has_value());
  ASSERT_EQ(match->bindings.size(), 3u);
  EXPECT_THAT(match->bindings[0].field_path, ElementsAre("thread_id"));
  EXPECT_EQ(match->bindings[0].value, "thread_1");
  EXPECT_THAT(match->bindings[1].field_path, ElementsAre("run_id"));
  EXPECT_EQ(match->bindings[1].value, "run_2");
  EXPECT_THAT(match->bindings[2].field_path, ElementsAre("step_id"));
  EXPECT_EQ(match->bindings[2].value, "step_3");
}

TEST(PathMatcher, NestedFieldPathBinding) {
  PathMatcher m = Build({{"PATCH", "/v1/{file.id}/x", 1}});
  std::optional<PathMatch> match = m.Lookup("PATCH", "/v1/f1/x");
  ASSERT_TRUE(match.has_value());
  ASSERT_EQ(match->bindings.size(), 1u);
  EXPECT_THAT(match->bindings[0].field_path, ElementsAre("file", "id"));
  EXPECT_EQ(match->bindings[0].value, "f1");
}

TEST(PathMatcher, MatcherOutlivesTemplatesAndBuilder) {
  std::optional<PathMatcher> m;
  {
    PathMatcherBuilder builder;
    std::string text = "/v1/files/{file_id}";
    builder.Register(std::string("GET"), T(text), 9);
    text.assign(text.size(), 'x');
    m.emplace(std::move(builder).Build());
  }
  EXPECT_THAT(BindingsOf(*m, "GET", "/v1/files/f"), ElementsAre("file_id=f"));
}

TEST(PercentDecode, DecodesEscapesOnce) {
  EXPECT_EQ(PercentDecode("a%20b%41%7e", false), "a bA~");
  EXPECT_EQ(PercentDecode("%2541", false), "%41");
  EXPECT_EQ(PercentDecode("", false), "");
  EXPECT_EQ(PercentDecode("plain", true), "plain");
}

TEST(PercentDecode, EscapedSlashDependsOnFlag) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc", false), "a/b/c");
  EXPECT_EQ(PercentDecode("a%2Fb%2fc", true), "a%2Fb%2fc");
  EXPECT_EQ(PercentDecode("a%2Fb%20c", true), "a%2Fb c");
}

TEST(PercentDecode, MalformedEscapesAreKeptLiterally) {
  EXPECT_EQ(PercentDecode("%zz", false), "%zz");
  EXPECT_EQ(PercentDecode("%4", false), "%4");
  EXPECT_EQ(PercentDecode("x%4", false), "x%4");
  EXPECT_EQ(PercentDecode("%", false), "%");
  EXPECT_EQ(PercentDecode("%%41", false), "%A");
  EXPECT_EQ(PercentDecode("%4g%41", false), "%4gA");
  EXPECT_EQ(PercentDecode("%41", false), "A");
}

TEST(PercentDecode, DecodesNulAndHighBytes) {
  EXPECT_EQ(PercentDecode("a%00b", false), std::string("a\0b", 3));
  EXPECT_EQ(PercentDecode("%C3%A9", false), "\xC3\xA9");
}

}  // namespace
}  // namespace oa::route
