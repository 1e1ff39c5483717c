#include "net/delay_queue.h"

#include "base/check.h"

namespace oa::net {

DelayQueue::DelayQueue(const asio::any_io_executor& executor, absl::Duration delay)
    : delay_(std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(delay))),
      timer_(executor) {}

DelayQueue::~DelayQueue() {
  *alive_ = false;
  entries_.clear();  // auto-unlink hooks: each entry is left unlinked, not destroyed
}

void DelayQueue::Add(Entry& entry, std::function<void()> action) {
  OA_CHECK(!entry.queued(), "an entry added while queued would break the queue's links");
  if (delay_ <= Clock::duration::zero()) {
    action();
    return;
  }
  entry.due_ = Clock::now() + delay_;
  entry.action_ = std::move(action);
  entries_.push_back(entry);
  if (!armed_) Arm();
}

void DelayQueue::Arm() {
  armed_ = true;
  timer_.expires_at(entries_.front().due_);
  timer_.async_wait([this, alive = alive_](const error_code& ec) {
    if (*alive && !ec) Woke();
  });
}

void DelayQueue::Woke() {
  armed_ = false;
  const Clock::time_point now = Clock::now();
  while (!entries_.empty() && entries_.front().due_ <= now) {
    Entry& entry = entries_.front();
    entries_.pop_front();
    // Moved out first: the action may destroy the entry, or queue it again.
    const std::function<void()> action = std::move(entry.action_);
    action();
  }
  if (!entries_.empty() && !armed_) Arm();
}

}  // namespace oa::net
