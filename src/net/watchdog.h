// A deadline that can move while it is being watched: the asynchronous timeout pattern of
// one timer per connection, used as
//
//   Clock::time_point deadline = Clock::now() + 30s;
//   auto r = co_await (Work() || Watchdog(deadline, [&] { socket.close(); }));
//
// Work() may push `deadline` forward (or to Clock::time_point::max()) at any time; the
// watchdog only acts once the clock has really passed it. On expiry it calls `on_expire`
// (typically closing the socket, so pending operations fail at once) and returns, which
// makes `||` cancel the work. When the work finishes first, `||` cancels the watchdog,
// which then returns without acting.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "net/asio.h"

namespace oa::net {

template <class OnExpire>
asio::awaitable<void> Watchdog(const Clock::time_point& deadline, OnExpire on_expire) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (auto now = Clock::now(); deadline > now; now = Clock::now()) {
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec == asio::error::operation_aborted) co_return;  // The work finished first.
  }
  on_expire();
}

}  // namespace oa::net
