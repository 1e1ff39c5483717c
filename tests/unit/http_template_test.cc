// HttpTemplate::Parse: the grammar of google.api.http path templates, what each form
// compiles to, and the templates that must be refused.
#include "route/http_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace oa::route {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Segments = std::vector<std::string>;
using FieldPath = std::vector<std::string>;

HttpTemplate ParseOk(std::string_view text) {
  absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  return t.ok() ? *std::move(t) : HttpTemplate{};
}

TEST(HttpTemplate, LiteralsOnly) {
  HttpTemplate t = ParseOk("/v1/chat/completions");
  EXPECT_THAT(t.segments, ElementsAre("v1", "chat", "completions"));
  EXPECT_TRUE(t.variables.empty());
  EXPECT_EQ(t.verb, "");
}

TEST(HttpTemplate, SingleLiteralSegment) {
  HttpTemplate t = ParseOk("/health");
  EXPECT_THAT(t.segments, ElementsAre("health"));
}

TEST(HttpTemplate, SingleWildcardIsAnonymous) {
  HttpTemplate t = ParseOk("/v1/*/content");
  EXPECT_THAT(t.segments, ElementsAre("v1", "*", "content"));
  EXPECT_TRUE(t.variables.empty());
}

TEST(HttpTemplate, MultiWildcardAsLastSegment) {
  HttpTemplate t = ParseOk("/v1/**");
  EXPECT_THAT(t.segments, ElementsAre("v1", "**"));
  EXPECT_TRUE(t.variables.empty());
}

TEST(HttpTemplate, PlainVariableIsSingleWildcard) {
  HttpTemplate t = ParseOk("/v1/files/{file_id}/content");
  EXPECT_THAT(t.segments, ElementsAre("v1", "files", "*", "content"));
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_THAT(t.variables[0].field_path, ElementsAre("file_id"));
  EXPECT_EQ(t.variables[0].start_segment, 2);
  EXPECT_EQ(t.variables[0].end_segment, 3);
  EXPECT_FALSE(t.variables[0].multi_segment);
}

TEST(HttpTemplate, VariableWithPatternCoversSeveralSegments) {
  HttpTemplate t = ParseOk("/v1/{name=operations/*}");
  EXPECT_THAT(t.segments, ElementsAre("v1", "operations", "*"));
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_THAT(t.variables[0].field_path, ElementsAre("name"));
  EXPECT_EQ(t.variables[0].start_segment, 1);
  EXPECT_EQ(t.variables[0].end_segment, 3);
  EXPECT_FALSE(t.variables[0].multi_segment);
}

TEST(HttpTemplate, NestedFieldPathSplitsAtDots) {
  HttpTemplate t = ParseOk("/v1/{a.b.c}/x");
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_THAT(t.variables[0].field_path, ElementsAre("a", "b", "c"));
  EXPECT_THAT(t.segments, ElementsAre("v1", "*", "x"));
}

TEST(HttpTemplate, MultiSegmentVariable) {
  HttpTemplate t = ParseOk("/v1/{name=**}");
  EXPECT_THAT(t.segments, ElementsAre("v1", "**"));
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_EQ(t.variables[0].start_segment, 1);
  EXPECT_EQ(t.variables[0].end_segment, 2);
  EXPECT_TRUE(t.variables[0].multi_segment);
}

TEST(HttpTemplate, MultiSegmentVariableAfterLiteralPrefix) {
  HttpTemplate t = ParseOk("/v1/{name=buckets/**}");
  EXPECT_THAT(t.segments, ElementsAre("v1", "buckets", "**"));
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_EQ(t.variables[0].start_segment, 1);
  EXPECT_EQ(t.variables[0].end_segment, 3);
  EXPECT_TRUE(t.variables[0].multi_segment);
}

TEST(HttpTemplate, VerbAfterLastSegment) {
  HttpTemplate t = ParseOk("/v1/{name=operations/*}:cancel");
  EXPECT_EQ(t.verb, "cancel");
  EXPECT_THAT(t.segments, ElementsAre("v1", "operations", "*"));
}

TEST(HttpTemplate, VerbAfterLiteral) {
  HttpTemplate t = ParseOk("/v1/things:batchGet");
  EXPECT_EQ(t.verb, "batchGet");
  EXPECT_THAT(t.segments, ElementsAre("v1", "things"));
}

TEST(HttpTemplate, VerbAfterMultiWildcard) {
  HttpTemplate t = ParseOk("/v1/{name=**}:undelete");
  EXPECT_EQ(t.verb, "undelete");
  EXPECT_THAT(t.segments, ElementsAre("v1", "**"));
  ASSERT_EQ(t.variables.size(), 1u);
  EXPECT_TRUE(t.variables[0].multi_segment);
}

TEST(HttpTemplate, SeveralVariablesInOrder) {
  HttpTemplate t = ParseOk("/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}");
  EXPECT_THAT(t.segments, ElementsAre("v1", "threads", "*", "runs", "*", "steps", "*"));
  ASSERT_EQ(t.variables.size(), 3u);
  EXPECT_THAT(t.variables[0].field_path, ElementsAre("thread_id"));
  EXPECT_EQ(t.variables[0].start_segment, 2);
  EXPECT_THAT(t.variables[1].field_path, ElementsAre("run_id"));
  EXPECT_EQ(t.variables[1].start_segment, 4);
  EXPECT_THAT(t.variables[2].field_path, ElementsAre("step_id"));
  EXPECT_EQ(t.variables[2].start_segment, 6);
  EXPECT_EQ(t.variables[2].end_segment, 7);
}

TEST(HttpTemplate, SameLeafUnderDifferentParentsIsNotADuplicate) {
  HttpTemplate t = ParseOk("/v1/{a.id}/{b.id}");
  ASSERT_EQ(t.variables.size(), 2u);
  EXPECT_THAT(t.variables[0].field_path, ElementsAre("a", "id"));
  EXPECT_THAT(t.variables[1].field_path, ElementsAre("b", "id"));
}

TEST(HttpTemplate, LiteralsKeepNonGrammarCharacters) {
  HttpTemplate t = ParseOk("/v1/fine-tuning/jobs.list_all~x");
  EXPECT_THAT(t.segments, ElementsAre("v1", "fine-tuning", "jobs.list_all~x"));
}

TEST(HttpTemplate, ErrorNamesTemplateAndOffset) {
  absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse("/v1//x");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("'/v1//x'"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("offset 4"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("empty segment"));
}

struct BadTemplate {
  const char* text;
  const char* why;  // a piece of the expected message
};

void PrintTo(const BadTemplate& t, std::ostream* os) { *os << "'" << t.text << "'"; }

class HttpTemplateRejects : public ::testing::TestWithParam<BadTemplate> {};

TEST_P(HttpTemplateRejects, WithInvalidArgumentSayingWhy) {
  absl::StatusOr<HttpTemplate> t = HttpTemplate::Parse(GetParam().text);
  ASSERT_FALSE(t.ok()) << GetParam().text << " parsed";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(GetParam().why));
}

INSTANTIATE_TEST_SUITE_P(
    HttpTemplate, HttpTemplateRejects,
    ::testing::Values(
        BadTemplate{"", "must start with '/'"}, BadTemplate{"v1/models", "must start with '/'"},
        BadTemplate{"/", "empty segment"}, BadTemplate{"/v1//models", "empty segment"},
        BadTemplate{"/v1/models/", "empty segment"}, BadTemplate{"/v1/{model", "expected '}'"},
        BadTemplate{"/v1/{model=x/*", "expected '}'"}, BadTemplate{"/v1/model}", "unexpected '}'"},
        BadTemplate{"/v1/{a={b}}", "variables cannot nest"},
        BadTemplate{"/v1/{a=x/{b}}", "variables cannot nest"},
        BadTemplate{"/v1/{a}/{a}", "appears twice"},
        BadTemplate{"/v1/{a.b}/x/{a.b}", "appears twice"},
        BadTemplate{"/v1/**/x", "'**' may only be the last segment"},
        BadTemplate{"/v1/{name=**}/x", "'**' may only be the last segment"},
        BadTemplate{"/v1/**/{name}", "'**' may only be the last segment"},
        BadTemplate{"/v1/x:", "empty verb"}, BadTemplate{"/v1/x:a:b", "unexpected ':'"},
        BadTemplate{"/v1/x:a/b", "unexpected '/'"}, BadTemplate{"/v1/***", "unexpected '*'"},
        BadTemplate{"/v1/a*", "unexpected '*'"}, BadTemplate{"/v1/a=b", "unexpected '='"},
        BadTemplate{"/v1/{}", "bad field path"}, BadTemplate{"/v1/{a.}", "bad field path"},
        BadTemplate{"/v1/{.a}", "bad field path"}, BadTemplate{"/v1/{a..b}", "bad field path"},
        BadTemplate{"/v1/{1abc}", "bad field path"}, BadTemplate{"/v1/{a-b}", "bad field path"},
        BadTemplate{"/v1/{a b}", "bad field path"}, BadTemplate{"/v1/{a=}", "empty segment"}));

// The same grammar as a table of accepted templates and their compiled shape.
struct GoodTemplate {
  const char* text;
  Segments segments;
  size_t variables;
  bool last_variable_multi;
  const char* verb;
};

void PrintTo(const GoodTemplate& t, std::ostream* os) { *os << "'" << t.text << "'"; }

class HttpTemplateAccepts : public ::testing::TestWithParam<GoodTemplate> {};

TEST_P(HttpTemplateAccepts, AndCompilesToSegments) {
  const GoodTemplate& want = GetParam();
  HttpTemplate t = ParseOk(want.text);
  EXPECT_EQ(t.segments, want.segments);
  EXPECT_EQ(t.variables.size(), want.variables);
  if (!t.variables.empty()) {
    EXPECT_EQ(t.variables.back().multi_segment, want.last_variable_multi);
  }
  EXPECT_EQ(t.verb, want.verb);
}

INSTANTIATE_TEST_SUITE_P(
    HttpTemplate, HttpTemplateAccepts,
    ::testing::Values(
        GoodTemplate{"/v1/models", {"v1", "models"}, 0, false, ""},
        GoodTemplate{"/v1/models/{model}", {"v1", "models", "*"}, 1, false, ""},
        GoodTemplate{"/v1/models/{model=*}", {"v1", "models", "*"}, 1, false, ""},
        GoodTemplate{"/v1/*", {"v1", "*"}, 0, false, ""},
        GoodTemplate{"/v1/*/x/**", {"v1", "*", "x", "**"}, 0, false, ""},
        GoodTemplate{"/v1/{name=**}", {"v1", "**"}, 1, true, ""},
        GoodTemplate{"/v1/{name=a/*/b/**}", {"v1", "a", "*", "b", "**"}, 1, true, ""},
        GoodTemplate{"/v1/{x.y}/{z}", {"v1", "*", "*"}, 2, false, ""},
        GoodTemplate{
            "/v1/{name=operations/*}:cancel", {"v1", "operations", "*"}, 1, false, "cancel"},
        GoodTemplate{"/v1/x:do_it-now", {"v1", "x"}, 0, false, "do_it-now"},
        GoodTemplate{"/v1/**:verb", {"v1", "**"}, 0, false, "verb"}));

}  // namespace
}  // namespace oa::route
