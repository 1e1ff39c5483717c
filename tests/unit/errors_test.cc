// Every error a call can end with, in both shapes (call/errors.h): golden JSON strings,
// JSON validity, what each message may and may not contain, and the table of every
// error to its HTTP status, gRPC code and Retry-After.
#include "call/errors.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>

#include "base/json_text.h"
#include "base/strings.h"

namespace oa::call {
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
void ExpectOpenAiShape(const CallError& e) {
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

TEST(CallErrors, MissingKeyGolden) {
  const CallError e = MissingKey();
  EXPECT_EQ(e.http_status, 401);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"No API key provided. Send your OpenAI key as )"
            R"('Authorization: Bearer <key>' (over gRPC, as 'authorization' metadata; from a )"
            R"(browser's WebSocket, as the subprotocol 'openai-insecure-api-key.<key>'); the )"
            R"(gateway forwards it to the upstream with each call.","type":)"
            R"("invalid_request_error","param":null,"code":"missing_api_key"}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, UnknownUrlGolden) {
  const CallError e = UnknownUrl("GET", "/v2/models");
  EXPECT_EQ(e.http_status, 404);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"Unknown request URL: GET /v2/models. The gateway serves the )"
            R"(OpenAI API under /v1/.","type":"invalid_request_error","param":null,)"
            R"("code":"unknown_url"}})");
  ExpectOpenAiShape(e);
}

// A path under /v1/ that no route matches, refused by --reject-unmodelled: the message
// says why, rather than that the API lives under /v1/.
TEST(CallErrors, UnmodelledUrlSaysWhichSettingRefusedIt) {
  const CallError e = UnmodelledUrl("POST", "/v1/brand/new?api_key=sk-secret");
  EXPECT_EQ(e.http_status, 404);
  EXPECT_THAT(e.message, HasSubstr("POST /v1/brand/new. No operation"));
  EXPECT_THAT(e.message, HasSubstr("--reject-unmodelled"));
  EXPECT_THAT(e.message, Not(HasSubstr("under /v1/")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("sk-secret")));
  ExpectOpenAiShape(e);
}

TEST(CallErrors, UnknownUrlNeverEchoesTheQuery) {
  const CallError e = UnknownUrl("POST", "/v2/chat?api_key=sk-secret&x=1");
  EXPECT_THAT(e.message, HasSubstr("POST /v2/chat."));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("sk-secret")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("api_key")));
  EXPECT_THAT(e.ToJson(), Not(HasSubstr("?")));
  ExpectOpenAiShape(e);
  // An empty query, and a target that is only a query.
  EXPECT_THAT(UnknownUrl("GET", "/x?").message, HasSubstr("GET /x."));
  EXPECT_THAT(UnknownUrl("GET", "?key=sk-1").ToJson(), Not(HasSubstr("sk-1")));
}

TEST(CallErrors, UnknownUrlEscapesThePath) {
  const CallError e = UnknownUrl("GET", R"(/v1/"quoted"\back)");
  EXPECT_THAT(e.ToJson(), HasSubstr(R"(GET /v1/\"quoted\"\\back.)"));
  ExpectOpenAiShape(e);
}

// Beast accepts bytes 0x80-0xFF in a request target and UnknownUrl echoes the path:
// bytes that are not UTF-8 must not make the body invalid JSON.
TEST(CallErrors, UnknownUrlWithNonUtf8PathIsStillJson) {
  ParseJson(UnknownUrl("GET", "/v2/caf\xE9").ToJson());
  ParseJson(StrCat("{\"s\":\"", JsonEscape("\xFF\xC3"), "\"}"));
}

TEST(CallErrors, BodyTooLargeGolden) {
  const CallError e = BodyTooLarge(1048576);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The request body is larger than this gateway accepts )"
            R"((1048576 bytes; see --max-body-bytes).","type":"invalid_request_error",)"
            R"("param":null,"code":"request_too_large"}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, BadRequestGolden) {
  const CallError e = BadRequest("bad \"method\"");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The gateway could not read this request: bad )"
            R"(\"method\".","type":"invalid_request_error","param":null,"code":"bad_request"}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, UpstreamTimeoutGolden) {
  const CallError e = UpstreamFailure(absl::DeadlineExceededError("no response headers in 600s"));
  EXPECT_EQ(e.http_status, 504);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The upstream did not answer in time: no response headers in )"
            R"(600s.","type":"server_error","param":null,"code":"upstream_timeout"}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, UpstreamUnavailableGolden) {
  const CallError e = UpstreamFailure(absl::UnavailableError("connection refused"));
  EXPECT_EQ(e.http_status, 502);
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"The gateway could not get an answer from the upstream: )"
            R"(connection refused.","type":"server_error","param":null,)"
            R"("code":"upstream_unavailable"}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, UpstreamFailureStatusMapping) {
  struct Case {
    absl::Status status;
    int http;
  };
  for (const Case& c :
       {Case{absl::DeadlineExceededError("t"), 504}, Case{absl::UnavailableError("u"), 502},
        Case{absl::InternalError("i"), 502}, Case{absl::CancelledError("c"), 502},
        Case{absl::UnknownError("k"), 502}, Case{absl::FailedPreconditionError("tls"), 502}}) {
    const CallError e = UpstreamFailure(c.status);
    EXPECT_EQ(e.http_status, c.http) << c.status;
    EXPECT_EQ(e.type, "server_error");
    EXPECT_THAT(e.message, HasSubstr(std::string(c.status.message())));
    ExpectOpenAiShape(e);
  }
}

// Every error, both shapes: the HTTP status and OpenAI type/code a REST caller gets, the
// gRPC code a gRPC caller gets, and when either is told to retry.
TEST(CallErrors, EveryErrorInBothShapes) {
  using C = absl::StatusCode;
  limits::Verdict denied;
  denied.kind = limits::Verdict::Kind::kDenied;
  denied.message = "not on the list";
  limits::Verdict limited;
  limited.kind = limits::Verdict::Kind::kLimited;
  limited.message = "60 requests a minute";
  limited.retry_after = absl::Milliseconds(2500);
  limits::Verdict unavailable;
  unavailable.kind = limits::Verdict::Kind::kUnavailable;
  unavailable.message = "redis down";
  const auto failed = [](absl::Status status, bool caller) {
    upstream::ForwardOutcome out;
    out.failure = std::move(status);
    out.caller_failed = caller;
    return out;
  };
  struct Case {
    std::string_view name;
    CallError error;
    int http;
    C grpc;
    std::string_view type;
    std::string_view code;
    int64_t retry_after;
  };
  const Case cases[] = {
      {"MissingKey", MissingKey(), 401, C::kUnauthenticated, "invalid_request_error",
       "missing_api_key", 0},
      {"UnknownUrl", UnknownUrl("GET", "/v2"), 404, C::kNotFound, "invalid_request_error",
       "unknown_url", 0},
      {"UnmodelledUrl", UnmodelledUrl("GET", "/v1/x"), 404, C::kNotFound, "invalid_request_error",
       "unknown_url", 0},
      {"UnknownMethod", UnknownMethod("/a.B/C"), 501, C::kUnimplemented, "invalid_request_error",
       "unknown_method", 0},
      {"BadTarget", BadTarget("is odd"), 400, C::kInvalidArgument, "invalid_request_error",
       "invalid_request_target", 0},
      {"TransferEncoding gzip, chunked", UnsupportedTransferEncoding(true), 501,
       C::kInvalidArgument, "invalid_request_error", "unsupported_transfer_encoding", 0},
      {"TransferEncoding chunked, gzip", UnsupportedTransferEncoding(false), 400,
       C::kInvalidArgument, "invalid_request_error", "unsupported_transfer_encoding", 0},
      {"RequestLineTooLong", RequestLineTooLong(8), 414, C::kInvalidArgument,
       "invalid_request_error", "request_uri_too_long", 0},
      {"HeadersTooLarge", HeadersTooLarge(8), 431, C::kInvalidArgument, "invalid_request_error",
       "request_header_too_large", 0},
      {"BodyTooLarge", BodyTooLarge(8), 413, C::kResourceExhausted, "invalid_request_error",
       "request_too_large", 0},
      {"BadRequest", BadRequest("x"), 400, C::kInvalidArgument, "invalid_request_error",
       "bad_request", 0},
      {"UnexpectedBody", UnexpectedBody("GET", "/v1/models"), 400, C::kInvalidArgument,
       "invalid_request_error", "unexpected_request_body", 0},
      {"BodyTimeout", BodyTimeout("slow"), 408, C::kDeadlineExceeded, "invalid_request_error",
       "request_body_timeout", 0},
      {"BuffersFull", BuffersFull(10, 5), 503, C::kResourceExhausted, "server_error",
       "gateway_buffers_full", 1},
      {"InvalidCall INVALID_ARGUMENT", InvalidCall(absl::InvalidArgumentError("bad field")), 400,
       C::kInvalidArgument, "invalid_request_error", "invalid_call", 0},
      {"InvalidCall RESOURCE_EXHAUSTED", InvalidCall(absl::ResourceExhaustedError("big")), 413,
       C::kResourceExhausted, "invalid_request_error", "invalid_call", 0},
      {"InvalidCall UNIMPLEMENTED", InvalidCall(absl::UnimplementedError("no")), 501,
       C::kUnimplemented, "server_error", "invalid_call", 0},
      {"InvalidCall INTERNAL", InvalidCall(absl::InternalError("bug")), 500, C::kInternal,
       "server_error", "invalid_call", 0},
      {"Refused denied", Refused(denied), 403, C::kPermissionDenied, "invalid_request_error",
       "gateway_access_denied", 0},
      {"Refused limited", Refused(limited), 429, C::kResourceExhausted, "requests",
       "rate_limit_exceeded", 3},
      {"Refused unavailable", Refused(unavailable), 503, C::kUnavailable, "server_error",
       "rate_limit_unavailable", 0},
      {"UpstreamFailure exhausted", UpstreamFailure(absl::ResourceExhaustedError("64 open")), 503,
       C::kUnavailable, "server_error", "upstream_connections_exhausted", 1},
      {"UpstreamFailure deadline", UpstreamFailure(absl::DeadlineExceededError("t")), 504,
       C::kDeadlineExceeded, "server_error", "upstream_timeout", 0},
      {"UpstreamFailure unavailable", UpstreamFailure(absl::UnavailableError("refused")), 502,
       C::kUnavailable, "server_error", "upstream_unavailable", 0},
      {"UpstreamFailure internal", UpstreamFailure(absl::InternalError("tls")), 502, C::kInternal,
       "server_error", "upstream_unavailable", 0},
      {"ForwardFailure upstream",
       ForwardFailure(failed(absl::ResourceExhaustedError("64 open"), false), 8), 503,
       C::kUnavailable, "server_error", "upstream_connections_exhausted", 1},
      {"ForwardFailure body too large",
       ForwardFailure(failed(absl::ResourceExhaustedError("big"), true), 8), 413,
       C::kResourceExhausted, "invalid_request_error", "request_too_large", 0},
      {"ForwardFailure body too slow",
       ForwardFailure(failed(absl::DeadlineExceededError("slow"), true), 8), 408,
       C::kDeadlineExceeded, "invalid_request_error", "request_body_timeout", 0},
      {"ForwardFailure malformed body",
       ForwardFailure(failed(absl::InvalidArgumentError("bad chunk"), true), 8), 400,
       C::kInvalidArgument, "invalid_request_error", "bad_request", 0},
      {"ForwardFailure caller gone", ForwardFailure(failed(absl::CancelledError("gone"), true), 8),
       400, C::kCancelled, "invalid_request_error", "bad_request", 0},
      {"UpstreamAnswer 400", UpstreamAnswer(400, R"({"error":{"message":"bad model"}})"), 400,
       C::kInvalidArgument, "invalid_request_error", "", 0},
      {"UpstreamAnswer 429", UpstreamAnswer(429, ""), 429, C::kResourceExhausted,
       "invalid_request_error", "", 0},
      {"UpstreamAnswer 503", UpstreamAnswer(503, "down"), 503, C::kUnavailable, "server_error", "",
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.error.http_status, c.http);
    EXPECT_EQ(c.error.grpc_code, c.grpc);
    EXPECT_EQ(c.error.type, c.type);
    EXPECT_EQ(c.error.code, c.code);
    EXPECT_EQ(c.error.retry_after_seconds, c.retry_after);
    EXPECT_FALSE(c.error.message.empty());
    ExpectOpenAiShape(c.error);
  }
  // What the messages carry through.
  EXPECT_EQ(ForwardFailure(failed(absl::DeadlineExceededError("8 s of 10"), true), 8).message,
            "8 s of 10");
  EXPECT_EQ(UpstreamAnswer(400, R"({"error":{"message":"bad model"}})").message, "bad model");
  EXPECT_THAT(UpstreamAnswer(503, "down").message, HasSubstr("503"));
  EXPECT_THAT(InvalidCall(absl::InvalidArgumentError("bad field")).message, HasSubstr("bad field"));
  EXPECT_THAT(BuffersFull(10, 5).message, HasSubstr("--grpc-max-buffered-bytes"));
}

TEST(CallErrors, EmptyCodePrintsNull) {
  const CallError e{500, absl::StatusCode::kInternal, "server_error", "", "boom"};
  EXPECT_EQ(e.ToJson(),
            R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})");
  ExpectOpenAiShape(e);
}

TEST(CallErrors, EveryFieldIsEscaped) {
  const CallError e{500, absl::StatusCode::kInternal, "a\"type", "c\\ode", "line1\nline2\t\x01"};
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
}  // namespace oa::call
