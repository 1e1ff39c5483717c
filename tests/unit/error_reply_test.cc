// The gateway's own errors, in OpenAI's shape: golden JSON strings, JSON validity, and
// what each message may and may not contain.
#include "http/error_reply.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>

#include "base/json_text.h"
#include "base/strings.h"

namespace oa::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Parses `json` as JSON, failing the test when it is not.
google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct out;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return out;
}

// Checks the four fields of {"error":{...}} and nothing else.
void ExpectOpenAiShape(const GatewayError& e) {
  const google::protobuf::Struct root = ParseJson(e.ToJson());
  ASSERT_EQ(root.fields().size(), 1u);
  ASSERT_TRUE(root.fields().count("error"));
  const google::protobuf::Value& error = root.fields().at("error");
  ASSERT_TRUE(error.has_struct_value());
  const auto& f = error.struct_value().fields();
  EXPECT_EQ(f.size(), 4u);
  ASSERT_TRUE(f.count("message"));
  ASSERT_TRUE(f.count("type"));
  ASSERT_TRUE(f.count("param"));
  ASSERT_TRUE(f.count("code"));
  EXPECT_EQ(f.at("message").string_value(), e.message);
  EXPECT_EQ(f.at("type").string_value(), e.type);
  EXPECT_TRUE(f.at("param").has_null_value());
  if (e.code.empty()) {
    EXPECT_TRUE(f.at("code").has_null_value());
  } else {
    EXPECT_EQ(f.at("code").string_value(), e.code);
  }
}

TEST(ErrorReply, MissingKeyGolden) {
  const GatewayError e = MissingKey();
  EXPECT_EQ(e.status, 401);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"No API key provided. Send your OpenAI key as )"
            R"('Authorization: Bearer <key>'; the gateway forwards it to the upstream with each )"
            R"(call.","type":"invalid_request_error","param":null,"code":"missing_api_key"}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, UnknownUrlGolden) {
  const GatewayError e = UnknownUrl("GET", "/v2/models");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"Unknown request URL: GET /v2/models. The gateway serves the )"
            R"(OpenAI API under /v1/.","type":"invalid_request_error","param":null,)"
            R"("code":"unknown_url"}})");
  ExpectOpenAiShape(e);
}

// A path under /v1/ that no route matches, refused by --reject-unmodelled: the message
// says why, rather than that the API lives under /v1/.
TEST(ErrorReply, UnmodelledUrlSaysWhichSettingRefusedIt) {
  const GatewayError e = UnmodelledUrl("POST", "/v1/brand/new?api_key=sk-secret");
  EXPECT_EQ(e.status, 404);
  EXPECT_THAT(e.message, HasSubstr("POST /v1/brand/new. No operation"));
  EXPECT_THAT(e.message, HasSubstr("--reject-unmodelled"));
  EXPECT_THAT(e.message, Not(HasSubstr("under /v1/")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("sk-secret")));
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, UnknownUrlNeverEchoesTheQuery) {
  const GatewayError e = UnknownUrl("POST", "/v2/chat?api_key=sk-secret&x=1");
  EXPECT_THAT(e.message, HasSubstr("POST /v2/chat."));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("sk-secret")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("api_key")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("?")));
  ExpectOpenAiShape(e);
  // An empty query, and a target that is only a query.
  EXPECT_THAT(UnknownUrl("GET", "/x?").message, HasSubstr("GET /x."));
  EXPECT_THAT(UnknownUrl("GET", "?key=sk-1").ToJson(), Not(HasSubstr("sk-1")));
}

TEST(ErrorReply, UnknownUrlEscapesThePath) {
  const GatewayError e = UnknownUrl("GET", R"(/v1/"quoted"\back)");
  EXPECT_THAT(e.ToJson(), HasSubstr(R"(GET /v1/\"quoted\"\\back.)"));
  ExpectOpenAiShape(e);
}

// Beast accepts bytes 0x80-0xFF in a request target and UnknownUrl echoes the path:
// bytes that are not UTF-8 must not make the body invalid JSON.
TEST(ErrorReply, UnknownUrlWithNonUtf8PathIsStillJson) {
  ParseJson(UnknownUrl("GET", "/v2/caf\xE9").ToJson());
  ParseJson(StrCat("{\"s\":\"", JsonEscape("\xFF\xC3"), "\"}"));
}

TEST(ErrorReply, BodyTooLargeGolden) {
  const GatewayError e = BodyTooLarge(1048576);
  EXPECT_EQ(e.status, 413);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The request body is larger than this gateway accepts )"
            R"((1048576 bytes; see --max-body-bytes).","type":"invalid_request_error",)"
            R"("param":null,"code":"request_too_large"}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, BadRequestGolden) {
  const GatewayError e = BadRequest("bad \"method\"");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The gateway could not read this HTTP request: bad )"
            R"(\"method\".","type":"invalid_request_error","param":null,"code":"bad_request"}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, UpstreamTimeoutGolden) {
  const GatewayError e =
      UpstreamFailure(absl::DeadlineExceededError("no response headers in 600s"));
  EXPECT_EQ(e.status, 504);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The upstream did not answer in time: no response headers in )"
            R"(600s.","type":"server_error","param":null,"code":"upstream_timeout"}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, UpstreamUnavailableGolden) {
  const GatewayError e = UpstreamFailure(absl::UnavailableError("connection refused"));
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The gateway could not get an answer from the upstream: )"
            R"(connection refused.","type":"server_error","param":null,)"
            R"("code":"upstream_unavailable"}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, UpstreamFailureStatusMapping) {
  struct Case {
    absl::Status status;
    int http;
  };
  for (const Case& c :
       {Case{absl::DeadlineExceededError("t"), 504}, Case{absl::UnavailableError("u"), 502},
        Case{absl::InternalError("i"), 502}, Case{absl::CancelledError("c"), 502},
        Case{absl::UnknownError("k"), 502}, Case{absl::FailedPreconditionError("tls"), 502}}) {
    const GatewayError e = UpstreamFailure(c.status);
    EXPECT_EQ(e.status, c.http) << c.status;
    EXPECT_EQ(e.type, "server_error");
    EXPECT_THAT(e.message, HasSubstr(std::string(c.status.message())));
    ExpectOpenAiShape(e);
  }
}

TEST(ErrorReply, EmptyCodePrintsNull) {
  const GatewayError e{500, "server_error", "", "boom"};
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})");
  ExpectOpenAiShape(e);
}

TEST(ErrorReply, EveryFieldIsEscaped) {
  const GatewayError e{500, "a\"type", "c\\ode", "line1\nline2\t\x01"};
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"line1\nline2\t\u0001","type":"a\"type","param":null,)"
            R"("code":"c\\ode"}})");
  ExpectOpenAiShape(e);
}

TEST(JsonEscape, QuotesAndBackslashes) {
  EXPECT_EQ(JsonEscape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
}

TEST(JsonEscape, NamedControlCharacters) { EXPECT_EQ(JsonEscape("a\nb\rc\td"), R"(a\nb\rc\td)"); }

TEST(JsonEscape, OtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(JsonEscape(std::string("\x00\x01\x08\x0c\x1f", 5)),
            R"(\u0000\u0001\u0008\u000c\u001f)");
}

TEST(JsonEscape, LeavesPrintableAndUtf8Alone) {
  EXPECT_EQ(JsonEscape(""), "");
  EXPECT_EQ(JsonEscape("plain / text <>&' 123"), "plain / text <>&' 123");
  EXPECT_EQ(JsonEscape("caf\xC3\xA9 \xE2\x9C\x93"), "caf\xC3\xA9 \xE2\x9C\x93");
  EXPECT_EQ(JsonEscape("\x7f"), "\x7f");
}

TEST(JsonEscape, EveryByteBelowSpaceGivesValidJson) {
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  all += "\"\\";
  const google::protobuf::Struct parsed = ParseJson(StrCat("{\"s\":\"", JsonEscape(all), "\"}"));
  ASSERT_TRUE(parsed.fields().count("s"));
  EXPECT_EQ(parsed.fields().at("s").string_value(), all);
}

}  // namespace
}  // namespace oa::http
