// HTTP/1.1 messages written by hand: a head is built in its wire form in one string, and
// each body piece goes out inside its framing in one gather write. A relayed message thus
// costs no copy of its fields into a second container and no serializer (bench/README.md,
// "What profiling changed"). Reading stays with Beast's parsers, which check what comes in.
//
// Usage:
//   WireHead head;
//   head.StatusLine(11, 200, "OK");
//   head.Add("Content-Type", "application/json");
//   head.ContentLength(body.size());
//   head.End();
//   const FramedPiece piece(head.text(), /*chunked=*/false, body, /*last=*/true);
//   auto [ec, n] = co_await asio::async_write(stream, piece.buffers(), net::kNoThrow);
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace oa::upstream {

class WireHead {
 public:
  // "METHOD target HTTP/1.1". REQUIRES: nothing written yet; the method is a token and
  // the target has no space or control character (the front's parser checked both).
  void RequestLine(std::string_view method, std::string_view target);
  // "HTTP/1.x status reason"; an empty reason becomes the status's usual one.
  void StatusLine(unsigned version, unsigned status, std::string_view reason);

  // Appends "name: value". Adds nothing and returns false for a name that is not an
  // HTTP token or a value holding a control character other than a tab (CR, LF, NUL):
  // nothing given here can end the head early or smuggle in a header of its own.
  bool Add(std::string_view name, std::string_view value);
  bool Add(boost::beast::http::field name, std::string_view value) {
    return Add(boost::beast::http::to_string(name), value);
  }
  // Appends a field as Beast's parser read it, unchecked: the parser holds names and
  // values to the rules Add checks (RFC 9110, sections 5.1 and 5.5).
  void AddParsed(std::string_view name, std::string_view value);
  void ContentLength(uint64_t length);

  // Ends the head with its blank line.
  void End() { text_ += "\r\n"; }

  std::string_view text() const { return text_; }

 private:
  std::string text_;
};

// One body piece as it goes on the wire: after `head` when that is not empty (a head
// may wait to go out with the first piece), and inside a chunk when the body is
// chunked. The last piece of a chunked body (`last`) also ends it with the empty chunk.
// Without chunks the bytes go bare: a length or the connection's end delimits them.
// An empty piece writes only the framing that is due. Refers to `head` and `data`,
// which must outlive the write.
class FramedPiece {
 public:
  FramedPiece(std::string_view head, bool chunked, std::string_view data, bool last);
  FramedPiece(const FramedPiece&) = delete;  // the buffers point into it
  FramedPiece& operator=(const FramedPiece&) = delete;

  using Buffers = std::array<boost::asio::const_buffer, 4>;
  const Buffers& buffers() const { return buffers_; }
  // Nothing is due: no head, no bytes and no framing.
  bool empty() const;
  // Drops the first `n` bytes due, which were sent.
  void Consume(size_t n);

 private:
  char size_line_[20] = {};  // hexadecimal size and CRLF
  Buffers buffers_;
};

}  // namespace oa::upstream
