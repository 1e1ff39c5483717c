// A deadline kept by a callback instead of a watching coroutine, for the per-call path
// where Deadline's `Work() || deadline.Watch()` would cost a parallel group (two spawned
// coroutines) per call. Used as
//
//   Watchdog watchdog(executor, [&] { socket.close(); });
//   watchdog.Expire(timeout);            // before each operation that must be bounded
//   co_await socket.async_read_some(...);
//   watchdog.Clear();                    // after it
//   if (watchdog.expired()) ...          // the operation failed because time ran out
//
// Once the clock passes the deadline, `on_expire` runs once, on the executor's thread; it
// must end the pending operation (closing its socket does). That suits work bounded by
// one socket; work that closing cannot end (a name lookup) needs Deadline's `||`.
//
// One timer, armed lazily: Expire() re-arms it only when the deadline moves earlier than
// the timer's expiry, and a timer that wakes to a later deadline sleeps again. A deadline
// moved forward on every call (a pooled connection, a keep-alive session) costs no timer
// operation per call.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "net/asio.h"

namespace oa::net {

class Watchdog {
 public:
  Watchdog(const asio::any_io_executor& executor, std::function<void()> on_expire);
  // Disarms: `on_expire` never runs after this, though the timer may wake once more.
  ~Watchdog();

  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Expire(absl::Duration after) { ExpireAt(Clock::now() + absl::ToChronoNanoseconds(after)); }
  void ExpireAt(Clock::time_point at);
  void Clear();
  // `on_expire` has run. Stays set: what it closed stays closed.
  bool expired() const;

 private:
  struct State;  // shared with the timer's pending wait, which may outlive the Watchdog
  std::shared_ptr<State> state_;
};

}  // namespace oa::net
