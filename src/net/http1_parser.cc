#include "net/http1_parser.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "base/check.h"
#include "base/strings.h"
#include "net/http_chars.h"

namespace oa::net {

namespace bhttp = boost::beast::http;

std::string_view MessageHead::Value(bhttp::field code) const {
  for (const Field& field : fields_) {
    if (field.code == code) return View(field.value);
  }
  return {};
}

std::string_view MessageHead::Value(std::string_view name) const {
  for (const Field& field : fields_) {
    if (EqualsIgnoreCase(View(field.name), name)) return View(field.value);
  }
  return {};
}

size_t MessageHead::Count(bhttp::field code) const {
  size_t n = 0;
  for (const Field& field : fields_) n += field.code == code;
  return n;
}

// Offsets fit: Beast limits a head to header_limit, a uint32_t, and every piece kept is
// a part of the head.
MessageHead::Text MessageHead::Keep(std::string_view piece) {
  const Text text{static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(piece.size())};
  text_.append(piece);
  return text;
}

namespace {

// Room for most heads in one allocation (a request from an SDK is about 600 bytes).
constexpr size_t kTypicalHeadBytes = 1024;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The first byte from `p` on that is not a tchar, or `end`. Names are letters, digits
// and dashes sixteen bytes at a time where SSE2 is; the table goes on from there.
const char* SkipToken(const char* p, const char* end) {
#ifdef __SSE2__
  for (; end - p >= 16; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // As signed bytes, 0x80 and up are negative and in neither range.
    const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    const __m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
    const __m128i taken = _mm_or_si128(_mm_or_si128(letter, digit), dash);
    const unsigned other = ~static_cast<unsigned>(_mm_movemask_epi8(taken)) & 0xffff;
    if (other != 0) {
      p += __builtin_ctz(other);
      break;
    }
  }
#endif
  while (p < end && IsTokenChar(*p)) ++p;
  return p;
}

// The first byte from `p` on that is not printable ASCII from `kFirst` to '~' (nor, with
// kTab, a tab), or `end`: how far a target (from '!'), a value or a reason (from ' ', and
// tabs) goes. Beast also takes obs-text (bytes from 0x80) in these, which the plain path
// leaves to it. Sixteen bytes at a time where SSE2 is, which is every x86-64.
template <char kFirst, bool kTab>
const char* SkipPrintable(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i below = _mm_set1_epi8(kFirst - 1);
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i tab = _mm_set1_epi8('\t');
  for (; end - p >= 16; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // As signed bytes, 0x80 and up are negative: above `below` is kFirst to 0x7f.
    __m128i taken = _mm_andnot_si128(_mm_cmpeq_epi8(x, del), _mm_cmpgt_epi8(x, below));
    if constexpr (kTab) taken = _mm_or_si128(taken, _mm_cmpeq_epi8(x, tab));
    const unsigned refused = ~static_cast<unsigned>(_mm_movemask_epi8(taken)) & 0xffff;
    if (refused != 0) return p + __builtin_ctz(refused);
  }
#endif
  for (; p < end; ++p) {
    const bool taken = (*p >= kFirst && *p < 0x7f) || (kTab && *p == '\t');
    if (!taken) break;
  }
  return p;
}

// The end of "CRLF" at `p`, or nullptr when `p` does not start one within `end`.
const char* LineEnd(const char* p, const char* end) {
  return end - p >= 2 && p[0] == '\r' && p[1] == '\n' ? p + 2 : nullptr;
}

}  // namespace

template <bool isRequest>
size_t Http1Parser<isRequest>::put(boost::asio::const_buffer buffer, error_code& ec) {
  const std::string_view input(static_cast<const char*>(buffer.data()), buffer.size());
  if (!decided_ && !input.empty()) {
    decided_ = true;
    if (const size_t head_size = ReadPlainHead(input)) {
      plain_ = true;
      ec = {};
      if (remaining_ == 0 || !eager() || head_size == input.size()) return head_size;
      return head_size + PutPlainBody(input.substr(head_size), ec);
    }
  }
  if (!plain_) return chunks_ ? PutChunked(input, ec) : PutBeast(input, ec);
  if (remaining_ == 0) {
    ec = bhttp::error::stale_parser;  // as Beast says of a parser used past its message
    return 0;
  }
  return PutPlainBody(input, ec);
}

// Beast reads the head without going on into the body (it is never eager), so that a
// chunked body is ours from its first byte; any other body is Beast's, read on at once
// when eager, as Beast's own eager put() would.
template <bool isRequest>
size_t Http1Parser<isRequest>::PutBeast(std::string_view input, error_code& ec) {
  const bool header_done = beast_.is_header_done();
  beast_.eager(header_done && eager_);
  size_t used = beast_.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (ec || header_done || !beast_.is_header_done() || beast_.is_done()) return used;
  if (beast_.chunked()) {
    chunks_.emplace(header_limit_, body_limit_);
  }
  if (!eager_ || used == input.size()) return used;
  return used + put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
}

template <bool isRequest>
size_t Http1Parser<isRequest>::PutChunked(std::string_view input, error_code& ec) {
  if (chunks_->done()) {
    ec = bhttp::error::stale_parser;
    return 0;
  }
  return chunks_->Put(
      input,
      [this](std::string_view piece, error_code& take_ec) { return TakeBody(piece, take_ec); }, ec);
}

template <bool isRequest>
void Http1Parser<isRequest>::put_eof(error_code& ec) {
  if (chunks_) {
    ec = chunks_->done() ? error_code() : error_code(bhttp::error::partial_message);
    return;
  }
  if (!plain_) return beast_.put_eof(ec);
  ec = remaining_ > 0 ? error_code(bhttp::error::partial_message) : error_code();
}

template <bool isRequest>
boost::optional<std::uint64_t> Http1Parser<isRequest>::content_length() const {
  OA_DCHECK(is_header_done(), "content_length() before the header was parsed");
  return plain_ ? content_length_ : beast_.content_length();
}

template <bool isRequest>
size_t Http1Parser<isRequest>::PutPlainBody(std::string_view input, error_code& ec) {
  ec = {};
  const size_t n = TakeBody(input.substr(0, std::min<uint64_t>(remaining_, input.size())), ec);
  remaining_ -= n;
  return n;
}

// As Beast's buffer_body: copy what fits, and ask for room when some does not.
template <bool isRequest>
size_t Http1Parser<isRequest>::TakeBody(std::string_view body, error_code& ec) {
  if (body_at_ == nullptr) {
    ec = bhttp::error::need_buffer;
    return 0;
  }
  const size_t n = std::min(body.size(), body_room_);
  std::memcpy(body_at_, body.data(), n);
  body_at_ += n;
  body_room_ -= n;
  if (n < body.size()) {
    ec = bhttp::error::need_buffer;
  } else {
    ec = {};
  }
  return n;
}

// Takes a head only where Beast's grammar and framing would read it the same way, and
// declines (returns 0) at the first thing it does not handle, before changing anything
// but head_.fields_, which it then clears. The head is read within header_limit_, which
// is stricter than Beast (it limits the start line and the fields each).
template <bool isRequest>
size_t Http1Parser<isRequest>::ReadPlainHead(std::string_view input) {
  const char* const begin = input.data();
  const char* const end = begin + std::min<size_t>(input.size(), header_limit_);
  const auto at = [begin](const char* p) { return static_cast<uint32_t>(p - begin); };
  const auto text = [&at](const char* from, const char* to) {
    return MessageHead::Text{at(from), static_cast<uint32_t>(to - from)};
  };
  const char* p = begin;

  // The start line.
  MessageHead::Text method;
  MessageHead::Text target;
  MessageHead::Text reason;
  unsigned status = 0;
  if constexpr (isRequest) {
    const char* q = SkipToken(p, end);
    if (q == p || q == end || *q != ' ') return 0;
    method = text(p, q);
    p = ++q;
    q = SkipPrintable<'!', false>(q, end);
    if (q == p || q == end || *q != ' ') return 0;
    target = text(p, q);
    p = q + 1;
  } else {
    if (end - p < 13 || p[8] != ' ' || !IsDigit(p[9]) || !IsDigit(p[10]) || !IsDigit(p[11]) ||
        p[12] != ' ') {
      return 0;
    }
    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  }
  if (end - p < 8 || std::memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')) return 0;
  const unsigned version = 10 + (p[7] - '0');
  if constexpr (isRequest) {
    p += 8;
  } else {
    // 1xx (a Continue, say, comes before the answer) is Beast's.
    if (status < 200 || status > 599) return 0;
    p += 13;
    const char* const q = SkipPrintable<' ', true>(p, end);
    reason = text(p, q);
    p = q;
  }
  p = LineEnd(p, end);
  if (p == nullptr) return 0;

  // The fields, up to the empty line.
  bool close = false;
  bool keep_alive = false;
  boost::optional<uint64_t> length;
  const auto decline = [this] {
    head_.fields_.clear();
    return size_t{0};
  };
  for (;;) {
    if (const char* const after = LineEnd(p, end)) {
      p = after;
      break;
    }
    const char* q = SkipToken(p, end);
    if (q == p || q == end || *q != ':') return decline();
    const std::string_view name(p, q - p);
    ++q;
    while (q < end && (*q == ' ' || *q == '\t')) ++q;
    const char* const value_begin = q;
    q = SkipPrintable<' ', true>(q, end);
    const char* const line_end = LineEnd(q, end);
    // Beast looks one byte past a line, for a fold (a line that starts with a space).
    if (line_end == nullptr || line_end == end || *line_end == ' ' || *line_end == '\t') {
      return decline();
    }
    while (q > value_begin && (q[-1] == ' ' || q[-1] == '\t')) --q;
    const std::string_view value(value_begin, q - value_begin);
    const bhttp::field code = bhttp::string_to_field(name);
    switch (code) {
      case bhttp::field::content_length: {
        // One plain number; a list, a repeat and every error are Beast's.
        if (length || value.empty() || value.size() > 18) return decline();
        uint64_t n = 0;
        for (const char c : value) {
          if (!IsDigit(c)) return decline();
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        length = n;
        break;
      }
      case bhttp::field::connection:
        if (EqualsIgnoreCase(value, "close")) {
          close = true;
        } else if (EqualsIgnoreCase(value, "keep-alive")) {
          keep_alive = true;
        } else {
          return decline();  // a list, or an upgrade
        }
        break;
      case bhttp::field::transfer_encoding:
      case bhttp::field::proxy_connection:
      case bhttp::field::upgrade:
        return decline();
      default:
        break;
    }
    head_.fields_.push_back({code, text(name.data(), name.data() + name.size()),
                             text(value.data(), value.data() + value.size())});
    p = line_end;
  }

  // The framing, as Beast's finish_header decides it: a message it would read to the end
  // of the connection, or refuse for its size, is left to it.
  bool bodiless = skip_;
  if constexpr (!isRequest) bodiless = bodiless || status == 204 || status == 304;
  if (!bodiless) {
    if constexpr (!isRequest) {
      if (!length) return decline();
    }
    if (length && body_limit_ && *length > *body_limit_) return decline();
  }

  const size_t head_size = p - begin;
  head_.text_.assign(begin, head_size);
  head_.version_ = version;
  if constexpr (isRequest) {
    head_.method_text_ = method;
    head_.method_ = bhttp::string_to_verb(head_.View(method));
    head_.target_ = target;
  } else {
    head_.status_ = status;
    head_.reason_ = reason;
  }
  content_length_ = length;
  remaining_ = bodiless || !length ? 0 : *length;
  keep_alive_ = version == 11 ? !close : keep_alive;
  return head_size;
}

template <bool isRequest>
void Http1Parser<isRequest>::BeastParser::on_request_impl(bhttp::verb method,
                                                          string_view method_string,
                                                          string_view target, int version,
                                                          error_code&) {
  MessageHead& head = owner_.head_;
  head.text_.reserve(kTypicalHeadBytes);
  head.method_ = method;
  head.method_text_ = head.Keep(method_string);
  head.target_ = head.Keep(target);
  head.version_ = static_cast<unsigned>(version);
}

template <bool isRequest>
void Http1Parser<isRequest>::BeastParser::on_response_impl(int status, string_view reason,
                                                           int version, error_code&) {
  MessageHead& head = owner_.head_;
  head.text_.reserve(kTypicalHeadBytes);
  head.status_ = static_cast<unsigned>(status);
  head.reason_ = head.Keep(reason);
  head.version_ = static_cast<unsigned>(version);
}

template <bool isRequest>
void Http1Parser<isRequest>::BeastParser::on_field_impl(bhttp::field code, string_view name,
                                                        string_view value, error_code&) {
  MessageHead& head = owner_.head_;
  MessageHead::Field field{code, head.Keep(name), {}};
  field.value = head.Keep(value);
  head.fields_.push_back(field);
}

template class Http1Parser<true>;
template class Http1Parser<false>;

bool ChunkedAtMost(const MessageHead& head) {
  int codings = 0;
  for (const HeadField field : head.fields()) {
    if (field.code != bhttp::field::transfer_encoding) continue;
    for (const std::string_view coding : Split(field.value, ',')) {
      if (++codings > 1 || !EqualsIgnoreCase(TrimAscii(coding), "chunked")) return false;
    }
  }
  return true;
}

}  // namespace oa::net
