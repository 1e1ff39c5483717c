// An awaitable notification that another thread may give: the bridge from gRPC's
// callback threads to a worker's coroutine.
//
// Usage (the state holding it is shared, so it outlives posted work):
//   Notification done(worker_executor);
//   // any thread:   asio::post(worker_executor, [state] { state->done.Notify(); });
//   // worker:       bool given = co_await done.Wait();   // false: cancelled instead
//
// Notify() and Wait() run on the worker's thread only (hence the post). A notification
// given while nobody waits is kept for the next Wait(); Wait() consumes it unless it is
// sticky (a notification that, once given, stays given: "the call was cancelled").
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "net/asio.h"

namespace oa::net {

class Notification {
 public:
  explicit Notification(const asio::any_io_executor& executor, bool sticky = false)
      : timer_(executor, Clock::time_point::max()), sticky_(sticky) {}

  void Notify() {
    given_ = true;
    timer_.cancel();
  }
  bool given() const { return given_; }

  // True once notified; false if the waiting coroutine was cancelled first.
  asio::awaitable<bool> Wait() {
    while (!given_) {
      co_await timer_.async_wait(kNoThrow);
      if (given_) break;
      const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
      if (cancelled != asio::cancellation_type::none) co_return false;
    }
    if (!sticky_) given_ = false;
    co_return true;
  }

 private:
  asio::steady_timer timer_;
  bool sticky_;
  bool given_ = false;
};

}  // namespace oa::net
