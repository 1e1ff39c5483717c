#include "net/stream.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace oa::net {

size_t Stream::WriteNow(absl::Span<const asio::const_buffer> buffers, error_code& ec) {
  if (tls() != nullptr) {
    ec = asio::error::would_block;
    return 0;
  }
  constexpr size_t kMaxPieces = 8;
  iovec pieces[kMaxPieces];
  size_t count = 0;
  for (const asio::const_buffer& b : buffers) {
    if (b.size() == 0) continue;
    if (count == kMaxPieces) break;
    pieces[count++] = {const_cast<void*>(b.data()), b.size()};
  }
  ec = {};
  if (count == 0) return 0;
  msghdr message{};
  message.msg_iov = pieces;
  message.msg_iovlen = count;
  for (;;) {
    // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
    const ssize_t n = ::sendmsg(socket().native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    ec = error_code(errno, asio::error::get_system_category());
    return 0;
  }
}

}  // namespace oa::net
