// A chunked body (RFC 9112, section 7.1) read as it arrives, in pieces of any size: the
// relay's parser (http1_parser.h) reads every chunked body with it, requests and answers.
//
// It exists because a chunked body is the one part of a message whose framing an attacker
// can make as long as they like: chunk-size lines with extensions, and trailers, hold no
// body bytes, and Beast's parser kept each whole in the read buffer until it ended, with
// no limit, rescanning an open quoted extension on every read (one connection took 520 MB
// in 2 s; 48 MiB of one extension cost 23 s of CPU). Here every byte is looked at once
// and then dropped: what is held between reads is a few counters, whatever the input.
//
// What it takes, and how it differs from Beast's reading:
//   - chunk-size: hex digits, at most 2^64 - 1;
//   - chunk extensions as RFC 9112 gives them (BWS ";" BWS name [BWS "=" BWS value],
//     value a token or a quoted string); they are checked, then dropped, as Beast drops
//     them. A quoted string holds no control character: Beast let a quote run over the
//     line's CRLF, and a request then waited for a closing quote that a proxy in front
//     of the gateway would never have framed as part of the chunk line;
//   - a chunk-size line, extensions included, and the trailer section are each at most
//     `line_limit` bytes (error::header_limit beyond: the limit of a head applies);
//   - trailers are field lines, checked and dropped (the relay passes none on); a line
//     folded onto the one before is refused (RFC 9112, section 5.2 allows that), and so
//     is a trailer that would frame the message (Content-Length, Transfer-Encoding,
//     Connection and the like);
//   - the body is at most `body_limit` bytes (error::body_limit), counted as each
//     chunk-size is read, as Beast counts it;
//   - lines end in CRLF; anything else is an error, as with Beast.
//
//   ChunkedBody chunks(max_header_bytes, max_body_bytes);
//   size_t used = chunks.Put(input, take_body, ec);  // take_body(piece, ec) -> bytes taken
//   // ec: {} after body bytes, or at the end (done()); need_more: give it more input;
//   // need_buffer: take_body took less than it was given; anything else: malformed.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace oa::net {

class ChunkedBody {
 public:
  using error_code = boost::beast::error_code;
  // Takes what it can of a piece of body; sets need_buffer when it took less.
  using TakeBody = absl::FunctionRef<size_t(std::string_view piece, error_code& ec)>;

  ChunkedBody(uint32_t line_limit, boost::optional<uint64_t> body_limit)
      : line_limit_(line_limit), body_limit_(body_limit) {}

  // Reads from `input` until it ends, the body ends, take_body wants no more, or an
  // error. Returns the bytes of `input` used; those are never needed again.
  size_t Put(std::string_view input, TakeBody take_body, error_code& ec);

  bool done() const { return state_ == State::kDone; }

 private:
  enum class State {
    kSize,            // chunk-size: the first hex digit
    kSizeMore,        // ... more digits, or what follows them
    kExtBws,          // white space after the size or a value: ';' must follow
    kExtNameStart,    // after ';' (and white space): the extension's name
    kExtName,         // ... more of it
    kExtNameBws,      // white space after a name: ';' or '=' must follow
    kExtValueStart,   // after '=' (and white space): a token or a quoted string
    kExtToken,        // ... a token value
    kExtQuoted,       // ... inside a quoted string
    kExtQuotedPair,   // ... after a backslash in it
    kExtAfterQuoted,  // after its closing quote
    kSizeLineLf,      // after the line's CR
    kData,            // chunk-data, `left_` bytes to go
    kDataCr,          // the CRLF that ends chunk-data
    kDataLf,
    kTrailerStart,  // a trailer line, or the CRLF that ends the body
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kEndLf,
    kDone,
  };

  // Counts a byte of the current line (or trailer section) against line_limit_.
  bool CountLineByte(error_code& ec);

  uint32_t line_limit_;
  boost::optional<uint64_t> body_limit_;  // what is left of it
  State state_ = State::kSize;
  uint64_t size_ = 0;       // the chunk-size being read
  uint64_t left_ = 0;       // chunk-data bytes still to come
  uint32_t line_used_ = 0;  // bytes of the current chunk-size line or trailer section
  // The current trailer's name, as far as it could be one that frames the message.
  static constexpr size_t kLongestFramingName = 17;  // "transfer-encoding"
  std::string trailer_name_;
};

}  // namespace oa::net
