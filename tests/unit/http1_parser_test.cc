// net::Http1Parser against Beast's own http::parser with a buffer_body: the same bytes,
// put in the same pieces, must give the same results (errors, bytes taken, body bytes),
// the same framing and the same head, read through the MessageHead. Whole messages put
// at once take the plain path where it applies; in pieces, Beast's.
#include "net/http1_parser.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "parsed_head.h"
#include "parser_trace.h"

namespace oa::net {
namespace {

namespace bhttp = boost::beast::http;

template <bool isRequest>
void ExpectSameAsBeast(const std::vector<std::string>& messages, bool skip = false) {
  for (const std::string& input : messages) {
    for (const size_t step : {input.size(), size_t{1}, size_t{7}}) {
      for (const size_t room : {size_t{1}, size_t{5}, size_t{4096}}) {
        if (step == 0) continue;
        const auto ours = testing::OursTrace<isRequest>(input, step, room, skip);
        EXPECT_EQ(ours, testing::BeastsTrace<isRequest>(input, step, room, skip))
            << ::testing::PrintToString(input) << " step " << step << " room " << room;
        EXPECT_GE(ours.size(), 2u);
      }
    }
  }
}

TEST(Http1Parser, ReadsRequestsAsBeastsParserDoes) {
  ExpectSameAsBeast<true>({
      "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer sk-x\r\n"
      "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":12345}",
      "POST /v1/files HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer-X: 1\r\n\r\n",
      "GET /v1/models?limit=2 HTTP/1.0\r\nX-Custom: a\r\nx-custom: b\r\nX-Empty:\r\n\r\n",
      "BREW /pot HTTP/1.1\r\nHost: gw\r\nX-Folded: one\r\n two\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nshort",
      "GET / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  });
}

// Each line of the plain path's grammar and framing, and just past each of its edges.
TEST(Http1Parser, ReadsPlainRequestsAndTheirEdgesAsBeastsParserDoes) {
  ExpectSameAsBeast<true>({
      "POST /v1/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 007\r\n\r\n1234567",
      "GET / HTTP/1.1\r\nX-Trailing: value \t \r\nX-Tab:\tin\tside\r\nX-Spaces:   \r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
      "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
      "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\na",
      "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
      "GET / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n X-Leading-Space: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nX: 1\r\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
      "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: 1\r\n\r",
      // Past sixteen bytes, where names, targets and values are read sixteen at a time.
      "GET /v1/chat/completions/0123456789?q=1 HTTP/1.1\r\n"
      "X-A-Rather-Long-Name_With.Other~Chars: a value of well over sixteen bytes\t end \r\n"
      "Authorization: Bearer sk-proj-0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n",
      "GET /v1/chat/completions/0123456789\xff HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A-Rather-Long-Name-That(Is-Not-A-Token: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A-Rather-Long-Name-With-\xc3\xa9: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Long: a value of well over sixteen\x01 bytes\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Long: a value of well over sixteen\x7f bytes\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Long: a value of well over sixteen\xc3\xa9 bytes\r\n\r\n",
      "GET / HTTP/1.1\nX-A: 1\n\n",
  });
}

TEST(Http1Parser, ReadsPlainResponsesAndTheirEdgesAsBeastsParserDoes) {
  ExpectSameAsBeast<false>({
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\n\r\n",
      "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 2x0 Odd\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror and more",
  });
}

TEST(Http1Parser, SkipsTheBodyOfAnAnswerToHeadAsBeastsParserDoes) {
  ExpectSameAsBeast<false>(
      {
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
          "HTTP/1.1 200 OK\r\n\r\n",
      },
      /*skip=*/true);
}

// The plain path is what makes the common call cheap: it has to take it.
TEST(Http1Parser, TakesThePlainPathForTheCommonCallOnly) {
  char room[16];
  const auto plain = [&room](auto& parser, std::string_view input) {
    parser.eager(true);
    parser.BodyInto(room, sizeof room);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(input.data(), input.size()), ec);
    return parser.read_plain();
  };
  RequestParser sdk;
  EXPECT_TRUE(
      plain(sdk,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw:8080\r\nConnection: keep-alive\r\n"
            "Authorization: Bearer sk-x\r\nContent-Type: application/json\r\n"
            "User-Agent: OpenAI/JS 4.0\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_TRUE(sdk.is_done());
  ResponseParser answer;
  EXPECT_TRUE(plain(answer,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_1\r\n"
                    "openai-processing-ms: 12\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_TRUE(answer.is_done());
  ResponseParser streamed;
  EXPECT_FALSE(plain(streamed, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  EXPECT_TRUE(streamed.is_done());
  RequestParser split;
  EXPECT_FALSE(plain(split, "POST / HTTP/1.1\r\nContent-Length: 2\r\n"));
}

TEST(Http1Parser, ReadsResponsesAsBeastsParserDoes) {
  ExpectSameAsBeast<false>({
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_1\r\n"
      "Content-Length: 4\r\n\r\n{}\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "d\r\ndata: one\r\n\r\n\r\n0\r\n\r\n",
      "HTTP/1.0 404 \r\nServer: x\r\n\r\nuntil the end",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 299 Made Up\r\nX-A: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
  });
}

TEST(Http1Parser, FindsFieldsByCodeAndByName) {
  const std::optional<MessageHead> head = testing::ParseHead<false>(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: req_1\r\n"
      "Host: a\r\nhost: b\r\nx-request-id: req_2\r\n\r\n");
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->Value(bhttp::field::content_type), "application/json");
  EXPECT_EQ(head->Value(bhttp::field::host), "a");
  EXPECT_EQ(head->Value(bhttp::field::origin), "");
  EXPECT_EQ(head->Count(bhttp::field::host), 2u);
  EXPECT_EQ(head->Count(bhttp::field::origin), 0u);
  EXPECT_EQ(head->Value("x-request-ID"), "req_1");
  EXPECT_EQ(head->Value("HOST"), "a");
  EXPECT_EQ(head->Value("x-request"), "");
  EXPECT_EQ(head->fields().size(), 5u);
}

TEST(Http1Parser, KeepsTheReasonAsSentAndATargetSetLater) {
  std::optional<MessageHead> response = testing::ParseHead<false>("HTTP/1.1 404 \r\n\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status(), 404u);
  EXPECT_EQ(response->reason(), "");

  std::optional<MessageHead> request =
      testing::ParseHead<true>("GET http://h/v1/models HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(request.has_value());
  request->set_target("/v1/models");
  EXPECT_EQ(request->target(), "/v1/models");
  EXPECT_EQ(request->method_string(), "GET");
  EXPECT_EQ(request->Value(bhttp::field::host), "h");  // the rest unchanged
}

TEST(Http1Parser, AHeadLargerThanItsFirstRoomStaysWhole) {
  std::string text = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 200; ++i)
    text += "X-Field-" + std::to_string(i) + ": value " + std::to_string(i) + "\r\n";
  text += "\r\n";
  const std::optional<MessageHead> head = testing::ParseHead<false>(text);
  ASSERT_TRUE(head.has_value());
  ASSERT_EQ(head->fields().size(), 200u);
  int i = 0;
  for (const HeadField f : head->fields()) {
    EXPECT_EQ(f.name, "X-Field-" + std::to_string(i));
    EXPECT_EQ(f.value, "value " + std::to_string(i));
    ++i;
  }
  // A copy keeps its own text.
  const MessageHead copy = *head;
  EXPECT_EQ(copy.Value("x-field-199"), "value 199");
}

}  // namespace
}  // namespace oa::net
