// Hand-written HTTP/1.1: heads in wire form, and body pieces in their framing, read back
// by Beast's parser as a peer would read them.
#include "upstream/wire.h"

#include <gtest/gtest.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace oa::upstream {
namespace {

namespace bhttp = boost::beast::http;

// What a FramedPiece puts on the wire.
std::string Wire(const FramedPiece& piece) {
  std::string out;
  for (const auto& b : piece.buffers()) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

// Parses a whole response as a client would; fails the test on any parse error.
bhttp::response<bhttp::string_body> ParseResponse(const std::string& wire) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  const size_t used = parser.put(boost::asio::buffer(wire), ec);
  EXPECT_FALSE(ec) << ec.message() << " in: " << wire;
  EXPECT_EQ(used, wire.size());
  EXPECT_TRUE(parser.is_done()) << wire;
  return parser.release();
}

TEST(WireHead, RequestLineFieldsAndEnd) {
  WireHead head;
  head.RequestLine("POST", "/v1/chat/completions?x=1");
  EXPECT_TRUE(head.Add("Authorization", "Bearer sk-x"));
  EXPECT_TRUE(head.Add(bhttp::field::host, "api.openai.com"));
  head.ContentLength(12);
  head.End();
  EXPECT_EQ(head.text(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
            "Authorization: Bearer sk-x\r\n"
            "Host: api.openai.com\r\n"
            "Content-Length: 12\r\n"
            "\r\n");
}

TEST(WireHead, StatusLineKeepsTheReasonOrFillsTheUsualOne) {
  WireHead given;
  given.StatusLine(11, 429, "Slow Down");
  EXPECT_EQ(given.text(), "HTTP/1.1 429 Slow Down\r\n");
  WireHead usual;
  usual.StatusLine(10, 404, "");
  EXPECT_EQ(usual.text(), "HTTP/1.0 404 Not Found\r\n");
  WireHead unknown;  // no usual reason: the phrase stays empty, which HTTP allows
  unknown.StatusLine(11, 299, "");
  EXPECT_EQ(unknown.text(), "HTTP/1.1 299 \r\n");
}

TEST(WireHead, RefusesWhatCouldSplitTheHead) {
  WireHead head;
  head.StatusLine(11, 200, "OK");
  EXPECT_FALSE(head.Add("X-A", "1\r\nX-Injected: yes"));
  EXPECT_FALSE(head.Add("X-B", std::string_view("a\0b", 3)));
  EXPECT_FALSE(head.Add("X-C", "line\nbreak"));
  EXPECT_FALSE(head.Add("Bad Name", "v"));
  EXPECT_FALSE(head.Add("X-D:", "v"));
  EXPECT_FALSE(head.Add("", "v"));
  EXPECT_TRUE(head.Add("X-Empty", ""));
  EXPECT_TRUE(head.Add("x-odd!#$%&'*+-.^_`|~9", "tab\there, obs-text \xe9"));
  head.End();
  EXPECT_EQ(head.text(),
            "HTTP/1.1 200 OK\r\n"
            "X-Empty: \r\n"
            "x-odd!#$%&'*+-.^_`|~9: tab\there, obs-text \xe9\r\n"
            "\r\n");
}

TEST(FramedPiece, BareBodyFollowsItsHead) {
  WireHead head;
  head.StatusLine(11, 200, "OK");
  head.ContentLength(5);
  head.End();
  const FramedPiece piece(head.text(), /*chunked=*/false, "hello", /*last=*/true);
  const auto response = ParseResponse(Wire(piece));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "hello");
}

TEST(FramedPiece, ChunkedPiecesAndTheirEnd) {
  WireHead head;
  head.StatusLine(11, 200, "OK");
  head.Add(bhttp::field::transfer_encoding, "chunked");
  head.End();
  const std::string big(300, 'x');  // a size of more than one hex digit
  std::string wire;
  {
    const FramedPiece first(head.text(), true, "data: 1\n\n", false);
    EXPECT_EQ(Wire(first), std::string(head.text()) + "9\r\ndata: 1\n\n\r\n");
    wire += Wire(first);
  }
  {
    const FramedPiece nothing({}, true, {}, false);  // nothing is due
    EXPECT_TRUE(nothing.empty());
  }
  {
    const FramedPiece middle({}, true, big, false);
    EXPECT_EQ(Wire(middle), "12c\r\n" + big + "\r\n");
    wire += Wire(middle);
  }
  {
    const FramedPiece last({}, true, "end", true);  // the last piece also ends the body
    EXPECT_EQ(Wire(last), "3\r\nend\r\n0\r\n\r\n");
    wire += Wire(last);
  }
  EXPECT_EQ(ParseResponse(wire).body(), "data: 1\n\n" + big + "end");
}

TEST(FramedPiece, AnEmptyLastPieceOnlyEndsTheChunks) {
  const FramedPiece end({}, true, {}, true);
  EXPECT_FALSE(end.empty());
  EXPECT_EQ(Wire(end), "0\r\n\r\n");
  // Unchunked, an empty last piece has nothing to say.
  EXPECT_TRUE(FramedPiece({}, false, {}, true).empty());
}

TEST(FramedPiece, AHeadAloneGoesAlone) {
  WireHead head;
  head.StatusLine(11, 204, "No Content");
  head.End();
  const FramedPiece piece(head.text(), false, {}, true);
  EXPECT_EQ(Wire(piece), head.text());
  EXPECT_EQ(ParseResponse(Wire(piece)).result_int(), 204);
}

TEST(FramedPiece, ConsumeDropsWhatWasSentAcrossItsParts) {
  const std::string head = "HEAD\r\n";
  const std::string whole = head + "5\r\nhello\r\n0\r\n\r\n";
  for (size_t sent = 0; sent <= whole.size(); ++sent) {
    FramedPiece piece(head, true, "hello", true);
    piece.Consume(sent);
    EXPECT_EQ(Wire(piece), whole.substr(sent)) << sent;
    EXPECT_EQ(piece.empty(), sent == whole.size()) << sent;
  }
}

}  // namespace
}  // namespace oa::upstream
