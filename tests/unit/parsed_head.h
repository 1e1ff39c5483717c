// A message head as the relay's parser gives it, for tests of what reads heads.
#pragma once

#include <boost/asio/buffer.hpp>
#include <optional>
#include <string_view>

#include "net/http1_parser.h"

namespace oa::testing {

// The head in `text` (a start line and fields, ending with the empty line), or nullopt
// when the parser refuses it.
template <bool isRequest>
std::optional<net::MessageHead> ParseHead(std::string_view text) {
  net::Http1Parser<isRequest> parser;
  parser.eager(false);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(text.data(), text.size()), ec);
  if (ec || !parser.is_header_done()) return std::nullopt;
  return std::move(parser.head());
}

}  // namespace oa::testing
