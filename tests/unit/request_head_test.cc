// The REST front's checks of a request head: framing that could be smuggled, Host, and
// targets that are not plain paths under the configured base.
#include "http/request_head.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "base/strings.h"
#include "parsed_head.h"

namespace oa::http {
namespace {

using Fields = std::initializer_list<std::pair<std::string, std::string>>;

// The head of a POST to `target`, as the parser gives it; nullopt when the parser
// itself refuses it (the front answers 400 then).
std::optional<net::MessageHead> Head(std::string_view target, Fields fields = {{"Host", "gw"}},
                                     unsigned version = 11) {
  std::string text = StrCat("POST ", target, version >= 11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
  for (const auto& [name, value] : fields) text += StrCat(name, ": ", value, "\r\n");
  text += "\r\n";
  return testing::ParseHead<true>(text);
}

// The status the front answers a head with: 400 when the parser refuses it, else what
// CheckRequestHead answers, or 0 when the request may go on.
int StatusOf(std::optional<net::MessageHead> head) {
  if (!head) return 400;
  const std::optional<call::CallError> error = CheckRequestHead(*head);
  return error ? error->http_status : 0;
}

TEST(RequestHead, PlainPathsAndQueriesPass) {
  for (const char* target :
       {"/v1/models", "/v1/models/ft:gpt-4o:acme::abc123", "/v1/files?purpose=batch&limit=2",
        "/v1/models/a%2Fb", "/v1/files/...", "/v1/files/.hidden", "/v1/x..y", "/health", "/"}) {
    EXPECT_EQ(StatusOf(Head(target)), 0) << target;
  }
}

TEST(RequestHead, DotSegmentsAreRefusedAlsoPercentEncoded) {
  for (const char* target :
       {"/v1/../admin", "/v1/./models", "/v1/models/..", "/v1/%2e%2e/x", "/v1/%2E%2e/x",
        "/v1/.%2E/x", "/v1/%2e/x", "/v1/models/..?a=b",
        // As a decoding or normalising server reads them (issue 22).
        "/v1/..%2fadmin", "/v1/%2e%2e%2fadmin", "/v1/..\\admin", "/v1/..;/admin", "/v1/..%5cadmin",
        "/v1/%252e%252e%252fadmin", "http://h/v1/..%2Fadmin"}) {
    std::optional<net::MessageHead> head = Head(target);
    ASSERT_TRUE(head.has_value()) << target;
    const std::optional<call::CallError> error = CheckRequestHead(*head);
    ASSERT_TRUE(error.has_value()) << target;
    EXPECT_EQ(error->http_status, 400);
    EXPECT_EQ(error->code, "invalid_request_target");
  }
  // Dots in the query are data.
  EXPECT_EQ(StatusOf(Head("/v1/files?after=..")), 0);
}

TEST(RequestHead, TargetsThatAreNotPathsAreRefused) {
  for (const char* target :
       {"*", "evil.example:443", "v1/models", "/v1/models#frag", "/v1/models/\xff", "/v1/a\x7f"}) {
    EXPECT_EQ(StatusOf(Head(target)), 400) << target;
  }
}

TEST(RequestHead, AbsoluteFormBecomesItsPathWhateverTheAuthority) {
  for (const auto& [target, origin_form] :
       std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"http://evil.example:8080/v1/models?limit=2", "/v1/models?limit=2"},
           {"HTTPS://evil.example", "/"},
           {"http://evil.example?x=1", "/?x=1"}}) {
    std::optional<net::MessageHead> head = Head(target);
    ASSERT_TRUE(head.has_value()) << target;
    EXPECT_FALSE(CheckRequestHead(*head).has_value()) << target;
    EXPECT_EQ(head->target(), origin_form);
  }

  // The path inside is checked like any other.
  EXPECT_EQ(StatusOf(Head("http://h/v1/../admin")), 400);
}

TEST(RequestHead, OnlyPlainChunkedTransferEncodingPasses) {
  EXPECT_EQ(StatusOf(Head("/v1/files", {{"Host", "gw"}, {"Transfer-Encoding", "chunked"}})), 0);
  EXPECT_EQ(StatusOf(Head("/v1/files", {{"Host", "gw"}, {"Transfer-Encoding", " Chunked "}})), 0);
  // Chunked is last but something else precedes it: not implemented.
  EXPECT_EQ(StatusOf(Head("/v1/files", {{"Host", "gw"}, {"Transfer-Encoding", "gzip, chunked"}})),
            501);
  EXPECT_EQ(StatusOf(Head(
                "/v1/files",
                {{"Host", "gw"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}})),
            501);
  // Chunked is not the final coding, or absent: the body's length is unknowable.
  for (const char* codings : {"xchunked", "chunked, gzip", "identity", ""}) {
    EXPECT_EQ(StatusOf(Head("/v1/files", {{"Host", "gw"}, {"Transfer-Encoding", codings}})), 400)
        << codings;
  }
}

TEST(RequestHead, Http11NeedsExactlyOneHost) {
  EXPECT_EQ(StatusOf(Head("/v1/models", {})), 400);
  EXPECT_EQ(StatusOf(Head("/v1/models", {{"Host", "a"}, {"Host", "b"}})), 400);
  EXPECT_EQ(StatusOf(Head("/v1/models", {}, 10)), 0);
  EXPECT_EQ(StatusOf(Head("/v1/models", {{"Host", "a"}, {"Host", "b"}}, 10)), 400);
}

}  // namespace
}  // namespace oa::http
