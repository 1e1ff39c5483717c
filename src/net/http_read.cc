#include "net/http_read.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <stdexcept>

#include "base/check.h"

namespace oa::net {
namespace {

namespace bhttp = boost::beast::http;

// Beast's read_some_op, and with `whole_header` its read_op for the header, as one loop:
// parse what the buffer holds; when the parser needs more, read once and parse again.
template <class Parser>
asio::awaitable<ReadResult> Read(Stream& stream, boost::beast::flat_buffer& buffer, Parser& parser,
                                 bool whole_header) {
  // The most a read takes, as in Beast; ReadRoom decides how much of it is offered.
  constexpr size_t kMaxReadBytes = 65536;
  size_t parsed = 0;
  if (whole_header && parser.is_header_done()) co_return ReadResult{};
  OA_DCHECK(!parser.is_done(), "a read for a message already read whole would wait for ever");
  if (whole_header && buffer.size() == 0) {
    // A message is awaited and none of it is here: the next request on a kept-alive
    // connection, or the answer to a request just sent. Asio tries every read on the
    // socket before it waits for it, and this early the try nearly always finds nothing:
    // a system call for nothing, on every call. The other calls ready on this worker go
    // first instead, which gives the peer that time to send.
    co_await asio::post(stream.get_executor(), asio::use_awaitable);
  }
  for (;;) {
    if (buffer.size() > 0) {
      error_code ec;
      const size_t used = parser.put(buffer.data(), ec);
      parsed += used;
      buffer.consume(used);
      if constexpr (requires { parser.header_limit(); }) {
        // What a client or an upstream makes the gateway hold is bounded: a parser that
        // wants more keeps no more than a head's worth (chunk framing included).
        OA_DCHECK(ec != bhttp::error::need_more || buffer.size() <= parser.header_limit(),
                  "%zu bytes held, past the limit of %u", buffer.size(), parser.header_limit());
      }
      if (ec != bhttp::error::need_more) {
        // A read_some is complete; read_header goes on while the header is not.
        if (ec || !whole_header || parser.is_header_done()) co_return ReadResult{ec, parsed};
        continue;
      }
    }
    const size_t size = boost::beast::read_size(buffer, kMaxReadBytes);
    if (size == 0) co_return ReadResult{bhttp::error::buffer_overflow, parsed};
    boost::beast::flat_buffer::mutable_buffers_type space;
    try {
      space = buffer.prepare(size);
    } catch (const std::length_error&) {
      co_return ReadResult{bhttp::error::buffer_overflow, parsed};
    }
    auto [ec, n] = co_await stream.async_read_some(space, kNoThrow);
    buffer.commit(n);
    if (ec == asio::error::eof) {
      // The end of the connection ends a message that has no other end; before any of a
      // message arrived it is the end of the stream.
      if (!parser.got_some()) co_return ReadResult{bhttp::error::end_of_stream, parsed};
      error_code end;
      parser.put_eof(end);
      co_return ReadResult{end, parsed};
    }
    if (ec) co_return ReadResult{ec, parsed};
  }
}

}  // namespace

template <bool isRequest>
asio::awaitable<ReadResult> ReadSome(Stream& stream, boost::beast::flat_buffer& buffer,
                                     Http1Parser<isRequest>& parser) {
  return Read(stream, buffer, parser, /*whole_header=*/false);
}

template <bool isRequest>
asio::awaitable<ReadResult> ReadHeader(Stream& stream, boost::beast::flat_buffer& buffer,
                                       Http1Parser<isRequest>& parser) {
  parser.eager(false);  // as Beast's: stop at the header, leave the body to ReadSome
  return Read(stream, buffer, parser, /*whole_header=*/true);
}

template <bool isRequest>
asio::awaitable<ReadResult> ReadSome(Stream& stream, boost::beast::flat_buffer& buffer,
                                     bhttp::basic_parser<isRequest>& parser) {
  return Read(stream, buffer, parser, /*whole_header=*/false);
}

template <bool isRequest>
asio::awaitable<ReadResult> ReadHeader(Stream& stream, boost::beast::flat_buffer& buffer,
                                       bhttp::basic_parser<isRequest>& parser) {
  parser.eager(false);
  return Read(stream, buffer, parser, /*whole_header=*/true);
}

template asio::awaitable<ReadResult> ReadSome(Stream&, boost::beast::flat_buffer&,
                                              Http1Parser<true>&);
template asio::awaitable<ReadResult> ReadSome(Stream&, boost::beast::flat_buffer&,
                                              Http1Parser<false>&);
template asio::awaitable<ReadResult> ReadHeader(Stream&, boost::beast::flat_buffer&,
                                                Http1Parser<true>&);
template asio::awaitable<ReadResult> ReadHeader(Stream&, boost::beast::flat_buffer&,
                                                Http1Parser<false>&);
template asio::awaitable<ReadResult> ReadSome(Stream&, boost::beast::flat_buffer&,
                                              bhttp::basic_parser<true>&);
template asio::awaitable<ReadResult> ReadSome(Stream&, boost::beast::flat_buffer&,
                                              bhttp::basic_parser<false>&);
template asio::awaitable<ReadResult> ReadHeader(Stream&, boost::beast::flat_buffer&,
                                                bhttp::basic_parser<true>&);
template asio::awaitable<ReadResult> ReadHeader(Stream&, boost::beast::flat_buffer&,
                                                bhttp::basic_parser<false>&);

}  // namespace oa::net
