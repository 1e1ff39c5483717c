// Which headers cross the gateway (call/headers.h): the table, every class of header
// both ways on both fronts; and the REST relay's copy of a head, in which end-to-end
// headers cross unchanged and hop-by-hop ones never do.
#include "call/headers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "parsed_head.h"

namespace oa::call {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Headers = std::vector<std::pair<std::string, std::string>>;

// An answer's head with these fields, as the parser gives it.
net::MessageHead Make(const Headers& headers) {
  std::string text = "HTTP/1.1 200 OK\r\n";
  for (const auto& [name, value] : headers) text += StrCat(name, ": ", value, "\r\n");
  text += "\r\n";
  std::optional<net::MessageHead> head = testing::ParseHead<false>(text);
  EXPECT_TRUE(head.has_value()) << text;
  return head ? *std::move(head) : net::MessageHead();
}

// What the REST relay copies of a head with these fields, in either direction (the two
// must agree: a REST message is relayed as it came).
Headers Copied(const Headers& in) {
  Headers both[2];
  for (const Crossing where : {Crossing::kRestRequest, Crossing::kRestAnswer}) {
    ForEachCrossing(Make(in), where, [&](std::string_view name, std::string_view value) {
      both[where == Crossing::kRestAnswer].emplace_back(std::string(name), std::string(value));
    });
  }
  EXPECT_EQ(both[0], both[1]);
  return both[0];
}

// Every class, with names of each in any case, at every crossing: the table of
// call/headers.h written out once more, so that a change to either is seen.
TEST(Headers, EveryClassCrossesWhereTheTableSays) {
  struct Row {
    HeaderClass c;
    std::vector<std::string_view> names;
    bool rest_request, rest_answer, grpc_request, grpc_answer;
  };
  const Row rows[] = {
      {HeaderClass::kHopByHop,
       {"Connection", "keep-alive", "Proxy-Connection", "Proxy-Authenticate", "proxy-authorization",
        "TE", "Trailer", "Transfer-Encoding", "upgrade", "Expect"},
       false,
       false,
       false,
       false},
      {HeaderClass::kFraming, {"Host", "content-length"}, false, false, false, false},
      {HeaderClass::kTransport,
       {":authority", ":path", "grpc-timeout", "GRPC-Encoding", "x-trace-bin", "X-Data-BIN"},
       true,
       true,
       false,
       false},
      {HeaderClass::kTranscoded,
       {"Authorization", "content-type", "User-Agent", "accept-encoding"},
       true,
       true,
       false,
       false},
      {HeaderClass::kOpenAi,
       {"x-request-id", "X-Request-Id", "retry-after", "openai-organization", "OpenAI-Project",
        "openai-processing-ms", "x-ratelimit-remaining-tokens", "X-RateLimit-Reset-Requests"},
       true,
       true,
       true,
       true},
      {HeaderClass::kEndToEnd,
       {"Idempotency-Key", "x-stainless-lang", "Accept", "Content-Encoding", "Set-Cookie",
        "Cache-Control", "Date", "Server", "x-requests-id", "openai", "Trailers"},
       true,
       true,
       true,
       false},
  };
  for (const Row& row : rows) {
    for (const std::string_view name : row.names) {
      EXPECT_EQ(Classify(name), row.c) << name;
      EXPECT_EQ(Crosses(Crossing::kRestRequest, name), row.rest_request) << name;
      EXPECT_EQ(Crosses(Crossing::kRestAnswer, name), row.rest_answer) << name;
      EXPECT_EQ(Crosses(Crossing::kGrpcRequest, name), row.grpc_request) << name;
      EXPECT_EQ(Crosses(Crossing::kGrpcAnswer, name), row.grpc_answer) << name;
    }
  }
  EXPECT_FALSE(Crosses(Crossing::kGrpcRequest, ""));  // a header needs a name
}

// Classify reads only the code of a name Beast knows: those it does not list are
// end-to-end without a look at their text. None of Beast's names would read otherwise
// (a transport name, or one of OpenAI's).
TEST(Headers, NamesBeastKnowsAreClassifiedByTheirCode) {
  namespace bhttp = boost::beast::http;
  int end_to_end = 0;
  for (int i = 1; i <= static_cast<int>(bhttp::field::xref); ++i) {
    const auto code = static_cast<bhttp::field>(i);
    const std::string_view name = bhttp::to_string(code);
    EXPECT_EQ(Classify(name), Classify(code, name)) << name;
    if (Classify(code, name) != HeaderClass::kEndToEnd) continue;
    EXPECT_EQ(Classify(bhttp::field::unknown, name), HeaderClass::kEndToEnd) << name;
    ++end_to_end;
  }
  EXPECT_GT(end_to_end, 300);
}

TEST(RestHeaders, DropsHopByHopHeaders) {
  EXPECT_THAT(Copied({{"Connection", "keep-alive"},
                      {"Keep-Alive", "timeout=5"},
                      {"Proxy-Connection", "keep-alive"},
                      {"Proxy-Authenticate", "Basic"},
                      {"Proxy-Authorization", "Basic abc"},
                      {"TE", "trailers"},
                      {"Trailer", "X-Checksum"},
                      {"Transfer-Encoding", "chunked"},
                      {"Upgrade", "h2c"},
                      {"Expect", "100-continue"}}),
              IsEmpty());
}

TEST(RestHeaders, DropsHopByHopHeadersInAnyCase) {
  EXPECT_THAT(Copied({{"connection", "close"},
                      {"TRANSFER-ENCODING", "chunked"},
                      {"keep-alive", "x"},
                      {"te", "trailers"},
                      {"uPgRaDe", "websocket"}}),
              IsEmpty());
}

TEST(RestHeaders, DropsHostAndContentLength) {
  EXPECT_THAT(Copied({{"Host", "gateway:8080"}, {"Content-Length", "12"}, {"host", "x"}}),
              IsEmpty());
}

TEST(RestHeaders, DropsHeadersNamedInConnection) {
  EXPECT_THAT(
      Copied({{"Connection", "close, X-Foo"}, {"X-Foo", "1"}, {"x-foo", "2"}, {"X-Bar", "3"}}),
      ElementsAre(std::pair<std::string, std::string>{"X-Bar", "3"}));
}

TEST(RestHeaders, ConnectionListsAcrossSeveralHeaders) {
  EXPECT_THAT(Copied({{"X-A", "a"},
                      {"Connection", "X-A"},
                      {"Connection", " x-b ,,keep-alive"},
                      {"X-B", "b"},
                      {"X-C", "c"}}),
              ElementsAre(std::pair<std::string, std::string>{"X-C", "c"}));
}

TEST(RestHeaders, ConnectionCannotDropOnlyByPrefix) {
  // "X-Foo" in Connection names X-Foo, not X-Foo-Bar.
  EXPECT_THAT(Copied({{"Connection", "X-Foo"}, {"X-Foo-Bar", "1"}}),
              ElementsAre(std::pair<std::string, std::string>{"X-Foo-Bar", "1"}));
}

TEST(RestHeaders, KeepsEndToEndHeadersVerbatim) {
  const Headers end_to_end = {
      {"Authorization", "Bearer sk-test"},
      {"OpenAI-Organization", "org-1"},
      {"OpenAI-Project", "proj_1"},
      {"OpenAI-Beta", "assistants=v2"},
      {"Idempotency-Key", "stainless-python-retry-1"},
      {"X-Stainless-Lang", "python"},
      {"X-Stainless-Retry-Count", "0"},
      {"Accept", "text/event-stream"},
      {"Content-Type", "application/json; charset=utf-8"},
      {"content-encoding", "gzip"},
      {"x-request-id", "req_123"},
      {"x-ratelimit-remaining-requests", "99"},
      {"x-ratelimit-reset-tokens", "6ms"},
      {"retry-after", "1"},
      {"openai-processing-ms", "42"},
      {"Cache-Control", "no-cache"},
  };
  EXPECT_EQ(Copied(end_to_end), end_to_end);
}

TEST(RestHeaders, KeepsDuplicatesInOrder) {
  EXPECT_EQ(Copied({{"Set-Cookie", "a=1"}, {"Connection", "close"}, {"Set-Cookie", "b=2"}}),
            (Headers{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}}));
}

TEST(RestHeaders, KeepsEmptyValues) {
  EXPECT_EQ(Copied({{"X-Empty", ""}}), (Headers{{"X-Empty", ""}}));
}

TEST(RestHeaders, OnlyHopByHopNamesAreHopByHop) {
  for (const char* name : {"Authorization", "Content-Type", "Content-Encoding", "Trailers",
                           "Accept", "Host", "Content-Length", "Set-Cookie", "", "T"}) {
    EXPECT_NE(Classify(name), HeaderClass::kHopByHop) << name;
  }
}

}  // namespace
}  // namespace oa::call
