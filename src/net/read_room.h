// Room for the next read of a Beast parser. A parser reads through a flat_buffer, and
// how much one read may take is the buffer's free capacity (at least 512 bytes); a body
// parser that consumes everything leaves it as small as it began, so a 100 MB download
// would move 512 bytes per system call. ReadRoom doubles the capacity after a read that
// filled it, up to a limit: bulk bodies soon move in large reads, while connections that
// only ever see small messages (an SSE stream's events, a chat completion) keep a small
// buffer, which is what lets ten thousand streams fit in little memory.
//
//   net::ReadRoom room(buffer);
//   auto [ec, n] = co_await net::ReadSome(stream, buffer, parser);
//   room.GrowIfFilled(buffer, n, kMaxReadBytes);
#pragma once

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>

namespace oa::net {

class ReadRoom {
 public:
  explicit ReadRoom(const boost::beast::flat_buffer& buffer)
      : room_(buffer.capacity() - buffer.size()), held_(buffer.size()) {}

  // `consumed`: the bytes the parser took from the buffer during the read.
  void GrowIfFilled(boost::beast::flat_buffer& buffer, size_t consumed, size_t limit) const {
    // Every byte held before was consumed or is still held; the rest came with this read.
    const size_t read = consumed + buffer.size() - held_;
    if (read < std::max<size_t>(room_, 512) || buffer.capacity() >= limit) return;
    buffer.reserve(std::min(limit, 2 * std::max<size_t>(buffer.capacity(), 512)));
  }

 private:
  size_t room_;  // free capacity before the read
  size_t held_;  // bytes held before the read
};

}  // namespace oa::net
