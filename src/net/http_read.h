// Beast's http::async_read_some and http::async_read_header, for our Stream and a
// flat_buffer, written as plain loops in a coroutine. They feed Beast's parser exactly as
// Beast's own operations do, and so give the same results and errors; what they leave
// out is the composed operation around each read (its handler wrapping, work tracking and
// copies of the type-erased executor), which profiling found to cost more than the parse.
//
//   auto [ec, n] = co_await net::ReadHeader(stream, buffer, parser);
//   auto [ec, n] = co_await net::ReadSome(stream, buffer, parser);  // a body piece
//
// `n` is the number of bytes the parser took from the buffer, as with Beast.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <tuple>

#include "net/asio.h"
#include "net/http1_parser.h"
#include "net/stream.h"

namespace oa::net {

using ReadResult = std::tuple<error_code, size_t>;

// Reads and parses until the parser has made progress: a piece of body (or need_buffer
// when the parser has nowhere to put it), the header, or the end of the message.
// REQUIRES: the parser is not done.
template <bool isRequest>
asio::awaitable<ReadResult> ReadSome(Stream& stream, boost::beast::flat_buffer& buffer,
                                     Http1Parser<isRequest>& parser);

// Reads and parses until the whole header has been parsed. On an empty buffer it first
// lets the worker's other ready work run (a message awaited has rarely arrived yet).
template <bool isRequest>
asio::awaitable<ReadResult> ReadHeader(Stream& stream, boost::beast::flat_buffer& buffer,
                                       Http1Parser<isRequest>& parser);

// The same for Beast's own parsers (which tests compare with Beast's reads).
template <bool isRequest>
asio::awaitable<ReadResult> ReadSome(Stream& stream, boost::beast::flat_buffer& buffer,
                                     boost::beast::http::basic_parser<isRequest>& parser);
template <bool isRequest>
asio::awaitable<ReadResult> ReadHeader(Stream& stream, boost::beast::flat_buffer& buffer,
                                       boost::beast::http::basic_parser<isRequest>& parser);

}  // namespace oa::net
