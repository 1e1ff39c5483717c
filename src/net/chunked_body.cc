#include "net/chunked_body.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <string_view>

#include "net/http_chars.h"

namespace oa::net {
namespace {

namespace bhttp = boost::beast::http;

bool IsBws(unsigned char c) { return c == ' ' || c == '\t'; }
// qdtext: HTAB / SP / "!" / %x23-5B / %x5D-7E / obs-text.
bool IsQdText(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}
// Trailers that would change how the message is framed or whether its connection goes
// on. The relay drops every trailer, so none of these could act; they are refused anyway,
// as Beast refuses some of them, so that no reader of the same bytes (a proxy in front
// that merges trailers into the head) frames the message otherwise than the gateway.
bool FramesTheMessage(std::string_view name) {
  for (const std::string_view framing :
       {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
        "upgrade", "te", "trailer", "host"}) {
    if (name.size() == framing.size() &&
        std::equal(name.begin(), name.end(), framing.begin(), [](char a, char b) {
          return (a >= 'A' && a <= 'Z' ? a - 'A' + 'a' : a) == b;
        })) {
      return true;
    }
  }
  return false;
}

int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool ChunkedBody::CountLineByte(error_code& ec) {
  if (++line_used_ <= line_limit_) return true;
  ec = bhttp::error::header_limit;
  return false;
}

size_t ChunkedBody::Put(std::string_view input, TakeBody take_body, error_code& ec) {
  ec = {};
  size_t i = 0;
  bool took_body = false;  // body bytes went out during this call
  while (i < input.size() && state_ != State::kDone) {
    if (state_ == State::kData) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left_, input.size() - i));
      error_code take_ec;
      const size_t taken = take_body(input.substr(i, want), take_ec);
      i += taken;
      left_ -= taken;
      took_body = took_body || taken > 0;
      if (left_ == 0) state_ = State::kDataCr;
      if (take_ec) {
        ec = take_ec;
        return i;
      }
      continue;
    }
    const char ch = input[i];
    const auto c = static_cast<unsigned char>(ch);
    const bool in_size_line = state_ < State::kData;
    const bool in_trailers = state_ >= State::kTrailerStart;
    if ((in_size_line || in_trailers) && !CountLineByte(ec)) return i;
    ++i;  // taken, unless it turns out wrong: an error returns i - 1
    switch (state_) {
      case State::kSize:
        if (HexValue(c) < 0) {
          ec = bhttp::error::bad_chunk;
          return i - 1;
        }
        size_ = static_cast<uint64_t>(HexValue(c));
        state_ = State::kSizeMore;
        break;
      case State::kSizeMore:
        if (const int digit = HexValue(c); digit >= 0) {
          if (size_ > UINT64_MAX / 16) {
            ec = bhttp::error::bad_chunk;
            return i - 1;
          }
          size_ = size_ * 16 + static_cast<uint64_t>(digit);
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (IsBws(c)) {
          state_ = State::kExtBws;
        } else if (c == '\r') {
          state_ = State::kSizeLineLf;
        } else {
          ec = bhttp::error::bad_chunk;
          return i - 1;
        }
        break;
      case State::kExtBws:
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (!IsBws(c)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtNameStart:
        if (IsTokenChar(ch)) {
          state_ = State::kExtName;
        } else if (!IsBws(c)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtName:
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (IsBws(c)) {
          state_ = State::kExtNameBws;
        } else if (c == '\r') {
          state_ = State::kSizeLineLf;
        } else if (!IsTokenChar(ch)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtNameBws:
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (!IsBws(c)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtValueStart:
        if (c == '"') {
          state_ = State::kExtQuoted;
        } else if (IsTokenChar(ch)) {
          state_ = State::kExtToken;
        } else if (!IsBws(c)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtToken:
      case State::kExtAfterQuoted:
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (IsBws(c)) {
          state_ = State::kExtBws;
        } else if (c == '\r') {
          state_ = State::kSizeLineLf;
        } else if (state_ == State::kExtAfterQuoted || !IsTokenChar(ch)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtQuoted:
        if (c == '"') {
          state_ = State::kExtAfterQuoted;
        } else if (c == '\\') {
          state_ = State::kExtQuotedPair;
        } else if (!IsQdText(c)) {  // a CR or LF inside quotes, say
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        break;
      case State::kExtQuotedPair:
        if (!IsFieldChar(ch)) {
          ec = bhttp::error::bad_chunk_extension;
          return i - 1;
        }
        state_ = State::kExtQuoted;
        break;
      case State::kSizeLineLf:
        if (c != '\n') {
          ec = bhttp::error::bad_line_ending;
          return i - 1;
        }
        line_used_ = 0;
        if (size_ == 0) {
          state_ = State::kTrailerStart;
          break;
        }
        if (body_limit_) {
          if (size_ > *body_limit_) {
            ec = bhttp::error::body_limit;
            return i - 1;
          }
          *body_limit_ -= size_;
        }
        left_ = size_;
        state_ = State::kData;
        break;
      case State::kDataCr:
        if (c != '\r') {
          ec = bhttp::error::bad_chunk;
          return i - 1;
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          ec = bhttp::error::bad_chunk;
          return i - 1;
        }
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kEndLf;
        } else if (IsTokenChar(ch)) {
          state_ = State::kTrailerName;
          trailer_name_.assign(1, ch);
        } else {
          ec = bhttp::error::bad_field;  // a folded line, or no name
          return i - 1;
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          if (FramesTheMessage(trailer_name_)) {
            ec = bhttp::error::bad_field;
            return i - 1;
          }
          state_ = State::kTrailerValue;
        } else if (IsTokenChar(ch)) {
          // Only names as long as those FramesTheMessage() knows need keeping.
          if (trailer_name_.size() < kLongestFramingName + 1) trailer_name_ += ch;
        } else {
          ec = bhttp::error::bad_field;
          return i - 1;
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!IsFieldChar(ch)) {
          ec = bhttp::error::bad_value;
          return i - 1;
        }
        break;
      case State::kTrailerLf:
      case State::kEndLf:
        if (c != '\n') {
          ec = bhttp::error::bad_line_ending;
          return i - 1;
        }
        state_ = state_ == State::kEndLf ? State::kDone : State::kTrailerStart;
        break;
      case State::kData:
      case State::kDone:
        break;  // handled above
    }
  }
  // Framing alone (a chunk-size line, trailers) is not progress: ask for more input.
  if (state_ != State::kDone && !took_body) ec = bhttp::error::need_more;
  return i;
}

}  // namespace oa::net
