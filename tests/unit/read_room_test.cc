#include "net/read_room.h"

#include <gtest/gtest.h>

namespace oa::net {
namespace {

using boost::beast::flat_buffer;

// Stands for one parser read: `read` bytes arrive, the parser takes `consumed` of them.
size_t Read(flat_buffer& buffer, size_t read, size_t consumed, size_t limit) {
  const ReadRoom room(buffer);
  buffer.commit(boost::asio::buffer_size(buffer.prepare(read)));
  buffer.consume(consumed);
  room.GrowIfFilled(buffer, consumed, limit);
  return buffer.capacity();
}

TEST(ReadRoom, ReadsThatFillTheBufferDoubleItUpToTheLimit) {
  flat_buffer buffer;
  buffer.reserve(512);
  EXPECT_EQ(Read(buffer, 512, 512, 4096), 1024u);
  EXPECT_EQ(Read(buffer, 1024, 1024, 4096), 2048u);
  EXPECT_EQ(Read(buffer, 2048, 2048, 4096), 4096u);
  EXPECT_EQ(Read(buffer, 4096, 4096, 4096), 4096u);  // the limit holds
}

TEST(ReadRoom, SmallMessagesKeepASmallBuffer) {
  flat_buffer buffer;
  buffer.reserve(512);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Read(buffer, 250, 250, 65536), 512u);
}

TEST(ReadRoom, BytesLeftForTheNextMessageCountAsRead) {
  flat_buffer buffer;
  buffer.reserve(512);
  // The whole room was read; the parser took only a head and left the body in the buffer.
  EXPECT_EQ(Read(buffer, 512, 200, 65536), 1024u);
  EXPECT_EQ(buffer.size(), 312u);  // kept through the growth
}

}  // namespace
}  // namespace oa::net
