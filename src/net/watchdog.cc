#include "net/watchdog.h"

#include <boost/asio/steady_timer.hpp>

namespace oa::net {

namespace {
constexpr Clock::time_point kNever = Clock::time_point::max();
}  // namespace

struct Watchdog::State {
  State(const asio::any_io_executor& executor, std::function<void()> callback)
      : timer(executor), on_expire(std::move(callback)) {}

  // Starts a wait until `when`, replacing any pending one. A replaced wait may already
  // have completed (its handler queued, unable to be cancelled): `generation` tells its
  // handler that it is stale.
  static void Arm(const std::shared_ptr<State>& self, Clock::time_point when) {
    self->armed_until = when;
    self->timer.expires_at(when);
    self->timer.async_wait([self, generation = ++self->generation](const error_code& ec) {
      if (!ec && generation == self->generation) self->Woke(self);
    });
  }

  void Woke(const std::shared_ptr<State>& self) {
    armed_until = kNever;
    if (at == kNever || !on_expire) return;  // cleared: sleep until the next Expire()
    if (at > Clock::now()) {
      Arm(self, at);  // the deadline moved on while the timer slept
      return;
    }
    at = kNever;
    expired = true;
    on_expire();
  }

  asio::steady_timer timer;
  std::function<void()> on_expire;         // empty once the Watchdog is gone
  Clock::time_point at = kNever;           // the deadline; kNever while clear
  Clock::time_point armed_until = kNever;  // when the pending wait ends; kNever: none
  uint64_t generation = 0;                 // of the current wait
  bool expired = false;
};

Watchdog::Watchdog(const asio::any_io_executor& executor, std::function<void()> on_expire)
    : state_(std::make_shared<State>(executor, std::move(on_expire))) {}

Watchdog::~Watchdog() {
  state_->on_expire = nullptr;
  ++state_->generation;
  CancelWaits(state_->timer);
}

void Watchdog::ExpireAt(Clock::time_point at) {
  state_->at = at;
  if (at < state_->armed_until) State::Arm(state_, at);
}

void Watchdog::Clear() { state_->at = kNever; }

bool Watchdog::expired() const { return state_->expired; }

}  // namespace oa::net
