// The few Asio spellings every asynchronous file here shares. Errors come back as values
// (as_tuple), never as exceptions thrown across a co_await.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <exception>

namespace oa::net {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// `auto [ec, n] = co_await socket.async_read_some(buffers, kNoThrow);`
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Ends the waits on a timer, where nothing may throw (a destructor, a move). Asio's
// cancel(), its only form without the deprecated API, throws if the reactor fails to
// cancel, which epoll's never does; were it to, the process ends as it would with the
// throw leaving a destructor, with the same message.
template <typename Timer>
void CancelWaits(Timer& timer) noexcept {
  try {
    timer.cancel();
  } catch (...) {
    std::terminate();
  }
}

}  // namespace oa::net
