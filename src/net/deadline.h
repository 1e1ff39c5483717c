// A deadline that may move while it is watched: one timer per connection, re-armed only
// when the deadline moves earlier. Used as
//
//   Deadline deadline(executor);
//   auto r = co_await (Work() || deadline.Watch([&] { socket.close(); }));
//
// where Work() calls deadline.Expire(after) before each operation that must be bounded
// and deadline.Clear() after it. Once the clock passes the deadline, Watch() calls
// `on_expire` (typically closing the socket, so pending operations fail at once) and
// returns, which makes `||` cancel the work. When the work finishes first, `||` cancels
// Watch(), which returns without acting.
//
// The `||` cancels the work wherever it stands, which a name lookup (connect, Redis)
// needs. Where closing one socket ends the work, net::Watchdog keeps the deadline with a
// callback instead, without the two coroutines that `||` spawns.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "absl/time/time.h"
#include "base/check.h"
#include "net/asio.h"

namespace oa::net {

class Deadline {
 public:
  static constexpr Clock::time_point kNever = Clock::time_point::max();

  explicit Deadline(const asio::any_io_executor& executor) : timer_(executor, kNever) {}

  void Expire(absl::Duration after) { ExpireAt(Clock::now() + absl::ToChronoNanoseconds(after)); }
  void ExpireAt(Clock::time_point at) {
    at_ = at;
    // Waking the watcher early is needed only when the deadline moved before the time
    // it sleeps until; a later deadline is picked up when it wakes.
    if (at < timer_.expiry()) timer_.expires_at(at);
  }
  void Clear() { at_ = kNever; }
  bool expired() const { return expired_; }

  // REQUIRES: at most one Watch() at a time; the Deadline outlives it.
  template <class OnExpire>
  asio::awaitable<void> Watch(OnExpire on_expire) {
    OA_DCHECK(!watching_, "a second Watch() of one Deadline: the first would never wake");
    watching_ = true;
    const struct Unwatch {
      bool& watching;
      ~Unwatch() { watching = false; }
    } unwatch{watching_};
    for (;;) {
      if (at_ <= Clock::now()) break;
      timer_.expires_at(at_);
      co_await timer_.async_wait(kNoThrow);
      const auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) co_return;  // the work won
      // Otherwise the timer fired, or ExpireAt moved the deadline earlier: look again.
    }
    expired_ = true;
    on_expire();
  }

 private:
  asio::steady_timer timer_;
  Clock::time_point at_ = kNever;
  bool expired_ = false;
  bool watching_ = false;  // a Watch() is under way
};

}  // namespace oa::net
