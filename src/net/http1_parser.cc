#include "net/http1_parser.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>

#include "base/strings.h"

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

}  // namespace

template <bool isRequest>
void Http1Parser<isRequest>::on_request_impl(bhttp::verb method, string_view method_string,
                                             string_view target, int version, error_code&) {
  head_.text_.reserve(kTypicalHeadBytes);
  head_.method_ = method;
  head_.method_text_ = head_.Keep(method_string);
  head_.target_ = head_.Keep(target);
  head_.version_ = static_cast<unsigned>(version);
}

template <bool isRequest>
void Http1Parser<isRequest>::on_response_impl(int status, string_view reason, int version,
                                              error_code&) {
  head_.text_.reserve(kTypicalHeadBytes);
  head_.status_ = static_cast<unsigned>(status);
  head_.reason_ = head_.Keep(reason);
  head_.version_ = static_cast<unsigned>(version);
}

template <bool isRequest>
void Http1Parser<isRequest>::on_field_impl(bhttp::field code, string_view name, string_view value,
                                           error_code&) {
  MessageHead::Field field{code, head_.Keep(name), {}};
  field.value = head_.Keep(value);
  head_.fields_.push_back(field);
}

template <bool isRequest>
void Http1Parser<isRequest>::on_header_impl(error_code& ec) {
  ec = {};
}

template <bool isRequest>
void Http1Parser<isRequest>::on_body_init_impl(const boost::optional<uint64_t>&, error_code& ec) {
  ec = {};
}

// As Beast's buffer_body: copy what fits, and ask for room when some does not.
template <bool isRequest>
size_t Http1Parser<isRequest>::on_body_impl(string_view body, error_code& ec) {
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

template <bool isRequest>
void Http1Parser<isRequest>::on_chunk_header_impl(uint64_t, string_view, error_code&) {}

template <bool isRequest>
size_t Http1Parser<isRequest>::on_chunk_body_impl(uint64_t, string_view body, error_code& ec) {
  return on_body_impl(body, ec);
}

template <bool isRequest>
void Http1Parser<isRequest>::on_finish_impl(error_code& ec) {
  ec = {};
}

template class Http1Parser<true>;
template class Http1Parser<false>;

}  // namespace oa::net
