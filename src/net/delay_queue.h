// Work deferred by one fixed delay, for many entries at once, with one timer: each
// entry's action runs once `delay` has passed since it was added, unless the entry left
// the queue first. Adding and leaving are constant-time and allocate nothing, so a call
// may enrol an entry it usually withdraws moments later.
//
// The Forwarder uses it to watch only the callers whose upstream is slow: a call that
// ends within the delay never pays for the watch's system call.
//
// Usage (on one thread, the executor's):
//   DelayQueue queue(executor, absl::Milliseconds(20));
//   DelayQueue::Entry entry;                 // typically a member of the deferring object
//   queue.Add(entry, [this] { StartTheExpensiveThing(); });
//   ...
//   if (entry.queued()) entry.Leave();       // done in time: the action never runs
//
// Because the delay is the same for every entry, the queue is in order of due time; the
// timer sleeps until the first entry is due and, woken, runs every entry that is. A
// queue with a zero delay runs each action at once, inside Add().
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "net/asio.h"

namespace oa::net {

class DelayQueue {
  using Hook =
      boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

 public:
  // An entry leaves the queue by itself when it is destroyed.
  class Entry : public Hook {
   public:
    bool queued() const { return is_linked(); }
    void Leave() { unlink(); }

   private:
    friend class DelayQueue;
    Clock::time_point due_;
    std::function<void()> action_;  // a small capture ([this], say) allocates nothing
  };

  DelayQueue(const asio::any_io_executor& executor, absl::Duration delay);
  // Entries still queued leave without their actions running.
  ~DelayQueue();

  DelayQueue(const DelayQueue&) = delete;
  DelayQueue& operator=(const DelayQueue&) = delete;

  // REQUIRES: `entry` is not queued and outlives its stay in the queue.
  void Add(Entry& entry, std::function<void()> action);

 private:
  void Arm();
  void Woke();

  Clock::duration delay_;
  asio::steady_timer timer_;
  bool armed_ = false;
  // Checked by the timer's handler: a wait cancelled by the destructor may still be
  // queued to run with success.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  boost::intrusive::list<Entry, boost::intrusive::constant_time_size<false>> entries_;
};

}  // namespace oa::net
