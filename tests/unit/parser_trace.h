// What net::Http1Parser and Beast's own http::parser (with a buffer_body) make of the
// same bytes, as lines of text to compare: the unit test and the differential fuzz
// target (tests/fuzz/http1_parser_fuzz.cc) hold the two to the same results.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "net/http1_parser.h"

namespace oa::testing {

namespace parser_trace {
namespace bhttp = boost::beast::http;
using net::HeadField;
using net::Http1Parser;
using net::MessageHead;

// What a parser did with a message put in pieces of `step` bytes (the input grows by a
// piece whenever the parser wants more, as a read would), taking the body `room` bytes
// at a time: one line per put() while the head is read, and the body is not chunked;
// then the head as it was once done.
//
// The head is read without going on into the body (as net::ReadHeader reads it), the
// body eagerly. A chunked body is traced whole, as the bytes it gave, how it ended and
// how many bytes the parser took in all: net::Http1Parser reads it with its own decoder
// (net::ChunkedBody), which takes framing in other steps than Beast does, and keeps no
// trailer among the head's fields.
//
// `max_held`, when given, is set to the most bytes the parser left unread while it asked
// for more: what a read loop must keep buffered for it.
template <class Parser, class Head, class Body>
std::vector<std::string> Trace(Parser& parser, std::string_view input, size_t step, size_t room,
                               bool skip, uint32_t header_limit, Head head, Body body,
                               size_t* max_held = nullptr) {
  std::vector<std::string> trace;
  parser.skip(skip);
  parser.header_limit(header_limit);
  size_t used = 0;
  size_t offered = std::min(step, input.size());
  std::string piece(room, '\0');
  std::string head_text;  // once the head is done
  bool chunked = false;   // ... and says the body is chunked
  std::string chunked_body;
  std::string end = "complete";
  for (int puts = 0; puts < 100000 && !parser.is_done(); ++puts) {
    parser.eager(parser.is_header_done());
    body(parser, piece.data(), room);
    boost::beast::error_code ec;
    const size_t n = parser.put(boost::asio::buffer(input.data() + used, offered - used), ec);
    used += n;
    const size_t got = room - body(parser, nullptr, 0);
    if (chunked) {
      chunked_body.append(piece, 0, got);
    } else {
      trace.push_back(ec.message() + " " + std::to_string(n) + " [" + piece.substr(0, got) + "]");
    }
    if (head_text.empty() && parser.is_header_done()) {
      head_text = head(parser);
      chunked = parser.chunked() && !parser.is_done();
    }
    // Beast's put() of no bytes into a body says Success, not need_more; a read would
    // have waited for more either way.
    if (ec == bhttp::error::need_more && max_held != nullptr) {
      *max_held = std::max(*max_held, offered - used);
    }
    if (ec == bhttp::error::need_more || (!ec && n == 0 && offered == used)) {
      if (offered == input.size()) {
        parser.put_eof(ec);
        end = "eof " + ec.message();
        if (!chunked) trace.push_back(end);
        break;
      }
      offered = std::min(offered + step, input.size());
    } else if (ec && ec != bhttp::error::need_buffer) {
      end = ec.message();
      break;
    }
  }
  if (chunked) {
    trace.push_back(StrCat("chunked body [", chunked_body, "] ",
                           parser.is_done() ? std::string("complete") : end, ", took ", used));
  }
  if (parser.is_header_done()) {
    const auto length = parser.content_length();
    trace.push_back(StrCat("keep-alive ", parser.keep_alive() ? "yes" : "no", " chunked ",
                           parser.chunked() ? "yes" : "no", " length ",
                           length ? std::to_string(*length) : "none"));
  }
  trace.push_back(head_text.empty() ? head(parser) : head_text);
  return trace;
}

// A head as text, to compare: the start line's parts (the reason is left out: Beast's
// reason() makes up the usual phrase for an empty one), then one line per field. Beast's
// fields keep those of one name together (a repeat goes after the last of its name), so
// the fields are put in the order of their names, a stable sort keeping each name's own.
struct HeadText {
  std::string start;
  std::vector<std::pair<std::string, std::string>> fields;  // lowercased name, line

  void Request(std::string_view method, std::string_view target, bool unknown_method,
               unsigned version) {
    start = StrCat(method, "|", target, "|", unknown_method ? "unknown" : "known", " ", version);
  }
  void Response(unsigned status, unsigned version) { start = StrCat(status, " ", version); }
  void Field(bhttp::field code, std::string_view name, std::string_view value) {
    fields.emplace_back(AsciiLower(name), StrCat(static_cast<int>(code), " ", name, "|", value));
  }
  std::string Text() {
    std::stable_sort(fields.begin(), fields.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string text = start + "\n";
    for (const auto& field : fields) text += field.second + "\n";
    return text;
  }
};

template <bool isRequest>
std::vector<std::string> BeastsTrace(std::string_view input, size_t step, size_t room, bool skip,
                                     uint32_t header_limit = 8192) {
  bhttp::parser<isRequest, bhttp::buffer_body> parser;
  const auto head = [](const auto& p) {
    const auto& m = p.get();
    HeadText out;
    if constexpr (isRequest) {
      out.Request(m.method_string(), m.target(), m.method() == bhttp::verb::unknown, m.version());
    } else {
      // Before its head is done, Beast's message holds its defaults (200).
      out.Response(p.is_header_done() ? m.result_int() : 0, m.version());
    }
    for (const auto& f : m) out.Field(f.name(), f.name_string(), f.value());
    return out.Text();
  };
  const auto body = [](auto& p, char* data, size_t size) -> size_t {
    if (data != nullptr) {
      p.get().body().data = data;
      p.get().body().size = size;
    }
    return p.get().body().size;
  };
  return Trace(parser, input, step, room, skip, header_limit, head, body);
}

template <bool isRequest>
std::vector<std::string> OursTrace(std::string_view input, size_t step, size_t room, bool skip,
                                   uint32_t header_limit = 8192, size_t* max_held = nullptr) {
  Http1Parser<isRequest> parser;
  const auto head = [](const auto& p) {
    const MessageHead& m = p.head();
    HeadText out;
    if constexpr (isRequest) {
      out.Request(m.method_string(), m.target(), m.method() == bhttp::verb::unknown, m.version());
    } else {
      out.Response(p.is_header_done() ? m.status() : 0, m.version());
    }
    for (const HeadField f : m.fields()) out.Field(f.code, f.name, f.value);
    return out.Text();
  };
  const auto body = [](auto& p, char* data, size_t size) -> size_t {
    if (data != nullptr) p.BodyInto(data, size);
    return p.body_room();
  };
  return Trace(parser, input, step, room, skip, header_limit, head, body, max_held);
}

}  // namespace parser_trace

using parser_trace::BeastsTrace;
using parser_trace::OursTrace;

}  // namespace oa::testing
