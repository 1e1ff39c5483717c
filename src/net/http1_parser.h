// An HTTP/1 parser for the relay. It reads a message as Beast's basic_parser does, with
// the same results and errors, and keeps what it reads in a form that costs little to
// fill and to read.
//
//   - Most messages take the plain path: a head that arrived whole in the first bytes
//     offered, with nothing in it but the common grammar (a token method or an HTTP/1.x
//     status line, token names, printable ASCII values, no folding) and a body framed by
//     Content-Length or by nothing. That head is read in one pass and copied once, and
//     its body is counted off here. Everything else (a head in pieces, chunked or
//     close-delimited bodies, Transfer-Encoding, Upgrade, 1xx, obs-text, and every
//     malformed message) goes to Beast's basic_parser, which also gives every error: the
//     plain path only ever accepts what Beast would accept the same way, and declines
//     the rest before taking anything. Beast's own parsing went through a head byte by
//     byte with several branches each: with the field callbacks, about a quarter of the
//     relay's instructions per call.
//   - The head (start line and fields) is held as text in one string, in the order sent,
//     with the fields as offsets into it. Beast's own http::parser builds a basic_fields,
//     a heap element and a tree insertion per field.
//   - The body goes where BodyInto() says, as with Beast's buffer_body: put() stops with
//     error::need_buffer when that room is full (or was never given).
//   - A chunked body is read by ChunkedBody (chunked_body.h), not by Beast: in linear
//     time, holding nothing between reads, with each chunk-size line and the trailers
//     bounded by header_limit. Beast kept those whole in the read buffer, unbounded.
//
//   net::RequestParser parser;
//   auto [ec, n] = co_await net::ReadHeader(stream, buffer, parser);
//   std::string_view key = parser.head().Value(http::field::authorization);
//   parser.BodyInto(piece, size);
//   auto [ec, n] = co_await net::ReadSome(stream, buffer, parser);  // piece: size - body_room()
//
// One parser reads one message, as Beast's do.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "net/chunked_body.h"

namespace oa::net {

// One header line of a parsed head, as the peer sent it.
struct HeadField {
  boost::beast::http::field code;  // Beast's code for the name; field::unknown if it has none
  std::string_view name;
  std::string_view value;
};

// The parsed head of one message. For a request, method and target; for a response,
// status and reason; for both, the version and the fields. Views stay valid while the
// head lives and is not changed.
class MessageHead {
 private:
  struct Text {
    uint32_t at = 0;
    uint32_t size = 0;
  };
  struct Field {
    boost::beast::http::field code = boost::beast::http::field::unknown;
    Text name;
    Text value;
  };

 public:
  // The fields in the order sent, as HeadFields: `for (const HeadField f : head.fields())`.
  class Fields {
   public:
    class iterator {
     public:
      using value_type = HeadField;
      using difference_type = std::ptrdiff_t;
      iterator() = default;
      HeadField operator*() const {
        return {field_->code, head_->View(field_->name), head_->View(field_->value)};
      }
      iterator& operator++() {
        ++field_;
        return *this;
      }
      bool operator==(const iterator& other) const { return field_ == other.field_; }

     private:
      friend class Fields;
      iterator(const MessageHead* head, const Field* field) : head_(head), field_(field) {}
      const MessageHead* head_ = nullptr;
      const Field* field_ = nullptr;
    };

    iterator begin() const { return {head_, head_->fields_.data()}; }
    iterator end() const { return {head_, head_->fields_.data() + head_->fields_.size()}; }
    size_t size() const { return head_->fields_.size(); }

   private:
    friend class MessageHead;
    explicit Fields(const MessageHead* head) : head_(head) {}
    const MessageHead* head_;
  };

  // 11 for HTTP/1.1, 10 for HTTP/1.0.
  unsigned version() const { return version_; }

  // Requests. The method string as sent; method() is verb::unknown for one Beast does
  // not know. The target is empty until the request line was parsed.
  boost::beast::http::verb method() const { return method_; }
  std::string_view method_string() const { return View(method_text_); }
  std::string_view target() const {
    return target_override_ ? std::string_view(*target_override_) : View(target_);
  }
  // Replaces the target (an absolute-form one by its origin-form, say).
  void set_target(std::string target) { target_override_ = std::move(target); }

  // Responses. The reason phrase as sent, which may be empty.
  unsigned status() const { return status_; }
  std::string_view reason() const { return View(reason_); }

  Fields fields() const { return Fields(this); }
  // The value of the first field with this code or name (empty if there is none), and
  // how many there are. Names compare ignoring case.
  std::string_view Value(boost::beast::http::field code) const;
  std::string_view Value(std::string_view name) const;
  size_t Count(boost::beast::http::field code) const;

 private:
  template <bool isRequest>
  friend class Http1Parser;

  std::string_view View(Text text) const { return {text_.data() + text.at, text.size}; }
  Text Keep(std::string_view piece);

  std::string text_;  // the start line's parts and the fields' names and values
  absl::InlinedVector<Field, 12> fields_;
  unsigned version_ = 11;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  Text method_text_;
  Text target_;
  std::optional<std::string> target_override_;
  unsigned status_ = 0;
  Text reason_;
};

// True when `head` has no Transfer-Encoding, or exactly "chunked": the only framing the
// relay reads and writes again. Any other coding (gzip before chunked, say) would reach
// the other side decoded of its chunks but still gzip, with nothing saying so, since
// Transfer-Encoding is hop-by-hop: such a message is refused, never relabelled.
bool ChunkedAtMost(const MessageHead& head);

template <bool isRequest>
class Http1Parser {
 public:
  using error_code = boost::beast::error_code;

  Http1Parser() = default;
  Http1Parser(const Http1Parser&) = delete;  // Beast's part points back at this one
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Beast's basic_parser interface, as far as the relay uses it, with its meaning.
  size_t put(boost::asio::const_buffer buffer, error_code& ec);
  void put_eof(error_code& ec);
  bool got_some() const { return plain_ || beast_.got_some(); }
  bool is_header_done() const { return plain_ || beast_.is_header_done(); }
  bool is_done() const {
    if (plain_) return remaining_ == 0;
    return chunks_ ? chunks_->done() : beast_.is_done();
  }
  bool eager() const { return eager_; }
  void eager(bool v) { eager_ = v; }
  void header_limit(std::uint32_t v) {
    header_limit_ = v;
    beast_.header_limit(v);
  }
  // Also the most this parser leaves unread while it asks for more (error::need_more):
  // a head, or a chunk-size line, in progress (ChunkedBody holds none).
  std::uint32_t header_limit() const { return header_limit_; }
  void body_limit(boost::optional<std::uint64_t> v) {
    body_limit_ = v;
    beast_.body_limit(v);
  }
  void skip(bool v) {
    skip_ = v;
    beast_.skip(v);
  }
  // REQUIRES: is_header_done().
  boost::optional<std::uint64_t> content_length() const;
  bool chunked() const { return !plain_ && beast_.chunked(); }
  bool keep_alive() const { return plain_ ? keep_alive_ : beast_.keep_alive(); }

  // Whether the plain path read this message (for tests and profiles).
  bool read_plain() const { return plain_; }

  // Complete once is_header_done(); what was parsed of it before.
  const MessageHead& head() const { return head_; }
  MessageHead& head() { return head_; }

  // The next body bytes go to `data`, up to `size` of them.
  void BodyInto(char* data, size_t size) {
    body_at_ = data;
    body_room_ = size;
  }
  // What is left of that room.
  size_t body_room() const { return body_room_; }

 private:
  using string_view = boost::beast::string_view;

  // Beast's parser, reporting what it reads to the Http1Parser it belongs to.
  class BeastParser final : public boost::beast::http::basic_parser<isRequest> {
   public:
    explicit BeastParser(Http1Parser& owner) : owner_(owner) {}

   private:
    void on_request_impl(boost::beast::http::verb method, string_view method_string,
                         string_view target, int version, error_code& ec) override;
    void on_response_impl(int status, string_view reason, int version, error_code& ec) override;
    void on_field_impl(boost::beast::http::field code, string_view name, string_view value,
                       error_code& ec) override;
    void on_header_impl(error_code& ec) override { ec = {}; }
    void on_body_init_impl(const boost::optional<uint64_t>&, error_code& ec) override { ec = {}; }
    size_t on_body_impl(string_view body, error_code& ec) override {
      return owner_.TakeBody(body, ec);
    }
    void on_chunk_header_impl(uint64_t, string_view, error_code&) override {}
    size_t on_chunk_body_impl(uint64_t, string_view body, error_code& ec) override {
      return owner_.TakeBody(body, ec);
    }
    void on_finish_impl(error_code& ec) override { ec = {}; }

    Http1Parser& owner_;
  };

  // The plain path's head: its size when `input` starts with one it takes (and then the
  // head and the framing are set), else 0 with nothing changed.
  size_t ReadPlainHead(std::string_view input);
  // Body bytes of the plain path's message, as Beast's parse_body takes them.
  size_t PutPlainBody(std::string_view input, error_code& ec);
  // Copies what fits of `body` where BodyInto() said; need_buffer when not all did.
  size_t TakeBody(std::string_view body, error_code& ec);
  // Beast reads the head (and a body that is not chunked); a chunked body goes to
  // chunks_ as soon as the head is done.
  size_t PutBeast(std::string_view input, error_code& ec);
  size_t PutChunked(std::string_view input, error_code& ec);

  BeastParser beast_{*this};
  bool decided_ = false;  // whether the first bytes were offered (and the path chosen)
  bool plain_ = false;    // the plain path reads this message
  // The plain path's framing.
  bool keep_alive_ = false;
  boost::optional<std::uint64_t> content_length_;
  std::uint64_t remaining_ = 0;  // body bytes still to come
  // Limits and settings, as given to Beast's part too.
  std::uint32_t header_limit_ = 8192;  // Beast's defaults
  boost::optional<std::uint64_t> body_limit_ = isRequest ? 1 << 20 : 8 << 20;
  bool skip_ = false;
  bool eager_ = false;  // Beast's default: stop after the head

  std::optional<ChunkedBody> chunks_;  // set once the head says the body is chunked
  MessageHead head_;
  char* body_at_ = nullptr;
  size_t body_room_ = 0;
};

extern template class Http1Parser<true>;
extern template class Http1Parser<false>;

using RequestParser = Http1Parser<true>;
using ResponseParser = Http1Parser<false>;

}  // namespace oa::net
