#include "upstream/wire.h"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <charconv>

#include "base/check.h"
#include "net/http_chars.h"

namespace oa::upstream {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

// RFC 9110, section 5.5: visible characters, obs-text, spaces and tabs; no other control
// character (CR, LF and NUL among them). Beast's parser holds values to the same rule.
// Written without an early exit, which lets the compiler check many bytes at a time.
bool SafeValue(std::string_view s) {
  bool bad = false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    bad |= (c < 0x20 && c != '\t') | (c == 0x7f);
  }
  return !bad;
}

template <class Number>
void AppendNumber(std::string& out, Number n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

}  // namespace

void WireHead::RequestLine(std::string_view method, std::string_view target) {
  OA_DCHECK(text_.empty(), "a request line after %zu bytes of head", text_.size());
  text_.reserve(512);
  text_.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
}

void WireHead::StatusLine(unsigned version, unsigned status, std::string_view reason) {
  text_.reserve(512);
  text_.append(version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ");
  AppendNumber(text_, status);
  text_ += ' ';
  if (reason.empty() && bhttp::int_to_status(status) != bhttp::status::unknown) {
    reason = bhttp::obsolete_reason(bhttp::int_to_status(status));
  }
  if (SafeValue(reason)) text_.append(reason);
  text_ += "\r\n";
}

bool WireHead::Add(std::string_view name, std::string_view value) {
  if (!net::IsToken(name) || !SafeValue(value)) return false;
  AddParsed(name, value);
  return true;
}

void WireHead::AddParsed(std::string_view name, std::string_view value) {
  text_.reserve(text_.size() + name.size() + value.size() + 4);
  text_.append(name).append(": ", 2).append(value).append("\r\n", 2);
}

void WireHead::ContentLength(uint64_t length) {
  text_.append("Content-Length: ");
  AppendNumber(text_, length);
  text_ += "\r\n";
}

FramedPiece::FramedPiece(std::string_view head, bool chunked, std::string_view data, bool last) {
  static constexpr std::string_view kChunkEnd = "\r\n0\r\n\r\n";  // a chunk's CRLF, then the last
  buffers_[0] = asio::buffer(head);
  if (!chunked) {
    buffers_[2] = asio::buffer(data);
    return;
  }
  if (!data.empty()) {
    char* end = std::to_chars(size_line_, size_line_ + 16, data.size(), 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    buffers_[1] = asio::buffer(size_line_, end - size_line_);
    buffers_[2] = asio::buffer(data);
    buffers_[3] = asio::buffer(last ? kChunkEnd : kChunkEnd.substr(0, 2));
  } else if (last) {
    buffers_[3] = asio::buffer(kChunkEnd.substr(2));
  }
}

void FramedPiece::Consume(size_t n) {
  for (asio::const_buffer& b : buffers_) {
    const size_t taken = std::min(n, b.size());
    b += taken;
    n -= taken;
  }
}

bool FramedPiece::empty() const {
  for (const asio::const_buffer& b : buffers_) {
    if (b.size() > 0) return false;
  }
  return true;
}

}  // namespace oa::upstream
