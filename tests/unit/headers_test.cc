// Header policy: end-to-end headers cross unchanged, hop-by-hop ones never do.
#include "upstream/header_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "parsed_head.h"

namespace oa::upstream {
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

Headers Copied(const Headers& in) {
  Headers out;
  ForEachEndToEnd(Make(in), [&](std::string_view name, std::string_view value) {
    out.emplace_back(std::string(name), std::string(value));
  });
  return out;
}

TEST(HeaderPolicy, DropsHopByHopHeaders) {
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

TEST(HeaderPolicy, DropsHopByHopHeadersInAnyCase) {
  EXPECT_THAT(Copied({{"connection", "close"},
                      {"TRANSFER-ENCODING", "chunked"},
                      {"keep-alive", "x"},
                      {"te", "trailers"},
                      {"uPgRaDe", "websocket"}}),
              IsEmpty());
}

TEST(HeaderPolicy, DropsHostAndContentLength) {
  EXPECT_THAT(Copied({{"Host", "gateway:8080"}, {"Content-Length", "12"}, {"host", "x"}}),
              IsEmpty());
}

TEST(HeaderPolicy, DropsHeadersNamedInConnection) {
  EXPECT_THAT(
      Copied({{"Connection", "close, X-Foo"}, {"X-Foo", "1"}, {"x-foo", "2"}, {"X-Bar", "3"}}),
      ElementsAre(std::pair<std::string, std::string>{"X-Bar", "3"}));
}

TEST(HeaderPolicy, ConnectionListsAcrossSeveralHeaders) {
  EXPECT_THAT(Copied({{"X-A", "a"},
                      {"Connection", "X-A"},
                      {"Connection", " x-b ,,keep-alive"},
                      {"X-B", "b"},
                      {"X-C", "c"}}),
              ElementsAre(std::pair<std::string, std::string>{"X-C", "c"}));
}

TEST(HeaderPolicy, ConnectionCannotDropOnlyByPrefix) {
  // "X-Foo" in Connection names X-Foo, not X-Foo-Bar.
  EXPECT_THAT(Copied({{"Connection", "X-Foo"}, {"X-Foo-Bar", "1"}}),
              ElementsAre(std::pair<std::string, std::string>{"X-Foo-Bar", "1"}));
}

TEST(HeaderPolicy, KeepsEndToEndHeadersVerbatim) {
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

TEST(HeaderPolicy, KeepsDuplicatesInOrder) {
  EXPECT_EQ(Copied({{"Set-Cookie", "a=1"}, {"Connection", "close"}, {"Set-Cookie", "b=2"}}),
            (Headers{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}}));
}

TEST(HeaderPolicy, KeepsEmptyValues) {
  EXPECT_EQ(Copied({{"X-Empty", ""}}), (Headers{{"X-Empty", ""}}));
}

TEST(HeaderPolicy, IsHopByHop) {
  for (const char* name :
       {"Connection", "keep-alive", "Proxy-Connection", "Proxy-Authenticate", "proxy-authorization",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Expect"}) {
    EXPECT_TRUE(IsHopByHop(name)) << name;
  }
  for (const char* name : {"Authorization", "Content-Type", "Content-Encoding", "Trailers",
                           "Accept", "Host", "Content-Length", "Set-Cookie", "", "T"}) {
    EXPECT_FALSE(IsHopByHop(name)) << name;
  }
}

}  // namespace
}  // namespace oa::upstream
