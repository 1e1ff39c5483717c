// net::Watchdog: a deadline kept by a callback, re-armed lazily.
#include "net/watchdog.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <thread>

#include "loop_test.h"

namespace oa::net {
namespace {

using std::chrono::milliseconds;

class WatchdogTest : public oa::testing::LoopTest {
 protected:
  int fired_ = 0;
};

TEST_F(WatchdogTest, FiresOnceWhenTheDeadlinePasses) {
  Watchdog watchdog(io_.get_executor(), [&] { ++fired_; });
  watchdog.Expire(absl::Milliseconds(20));
  RunFor(300);
  EXPECT_EQ(fired_, 1);
  EXPECT_TRUE(watchdog.expired());
}

TEST_F(WatchdogTest, ClearedInTimeNeverFires) {
  Watchdog watchdog(io_.get_executor(), [&] { ++fired_; });
  watchdog.Expire(absl::Milliseconds(20));
  watchdog.Clear();
  RunFor(200);
  EXPECT_EQ(fired_, 0);
  EXPECT_FALSE(watchdog.expired());
}

TEST_F(WatchdogTest, ADeadlineMovedLaterIsKeptNotTheFirst) {
  const auto start = Clock::now();
  std::optional<Clock::duration> fired_after;
  Watchdog watchdog(io_.get_executor(), [&] {
    ++fired_;
    fired_after = Clock::now() - start;
  });
  watchdog.Expire(absl::Milliseconds(20));
  watchdog.Expire(absl::Milliseconds(150));  // the timer wakes at 20 ms and sleeps on
  RunFor(1000);
  ASSERT_TRUE(fired_after.has_value());
  EXPECT_GE(*fired_after, milliseconds(150));
  EXPECT_EQ(fired_, 1);
}

TEST_F(WatchdogTest, ADeadlineMovedEarlierFiresEarly) {
  const auto start = Clock::now();
  std::optional<Clock::duration> fired_after;
  Watchdog watchdog(io_.get_executor(), [&] { fired_after = Clock::now() - start; });
  watchdog.Expire(absl::Seconds(60));
  watchdog.Expire(absl::Milliseconds(20));
  RunFor(2000);
  ASSERT_TRUE(fired_after.has_value());
  EXPECT_LT(*fired_after, milliseconds(2000));
}

TEST_F(WatchdogTest, ReusedAfterClearOnlyTheLiveDeadlineCounts) {
  Watchdog watchdog(io_.get_executor(), [&] { ++fired_; });
  for (int i = 0; i < 5; ++i) {  // calls on a pooled connection: set, done, cleared
    watchdog.Expire(absl::Milliseconds(30));
    RunFor(5);
    watchdog.Clear();
  }
  RunFor(200);  // the timer wakes to a cleared deadline
  EXPECT_EQ(fired_, 0);
  watchdog.Expire(absl::Milliseconds(10));
  RunFor(300);
  EXPECT_EQ(fired_, 1);
}

TEST_F(WatchdogTest, DestroyedWhileArmedNeverCalls) {
  {
    Watchdog watchdog(io_.get_executor(), [&] { ++fired_; });
    watchdog.Expire(absl::Milliseconds(10));
  }
  RunFor(200);
  EXPECT_EQ(fired_, 0);
}

TEST_F(WatchdogTest, DestroyedAfterItsTimerFiredButBeforeItsHandlerRanNeverCalls) {
  std::optional<Watchdog> watchdog;
  watchdog.emplace(io_.get_executor(), [&] { ++fired_; });
  watchdog->Expire(absl::Milliseconds(10));
  // Another handler, ready in the same turn of the loop and first in it, destroys the
  // watchdog while the watchdog's own completion is already queued.
  asio::steady_timer other(io_, milliseconds(5));
  other.async_wait([&](const error_code&) { watchdog.reset(); });
  // Deliberate: both timers must be due before the loop first looks, so that their
  // completions are ready in the same turn.
  std::this_thread::sleep_for(milliseconds(30));
  RunFor(200);
  EXPECT_EQ(fired_, 0);
}

}  // namespace
}  // namespace oa::net
