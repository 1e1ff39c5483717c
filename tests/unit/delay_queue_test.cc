// net::DelayQueue: actions deferred by one delay, one timer for all of them.
#include "net/delay_queue.h"

#include <gtest/gtest.h>

#include <vector>

#include "loop_test.h"

namespace oa::net {
namespace {

using std::chrono::milliseconds;

class DelayQueueTest : public oa::testing::LoopTest {};

TEST_F(DelayQueueTest, RunsAnActionOnceItsDelayHasPassed) {
  DelayQueue queue(io_.get_executor(), absl::Milliseconds(40));
  DelayQueue::Entry entry;
  const Clock::time_point added = Clock::now();
  std::vector<Clock::duration> ran_after;
  queue.Add(entry, [&] { ran_after.push_back(Clock::now() - added); });
  EXPECT_TRUE(entry.queued());
  RunFor(500);
  ASSERT_EQ(ran_after.size(), 1u);
  EXPECT_GE(ran_after[0], milliseconds(40));
  EXPECT_FALSE(entry.queued());
}

TEST_F(DelayQueueTest, AnEntryThatLeavesInTimeNeverRuns) {
  DelayQueue queue(io_.get_executor(), absl::Milliseconds(20));
  DelayQueue::Entry stays;
  DelayQueue::Entry leaves;
  int stayed = 0;
  int left = 0;
  queue.Add(leaves, [&] { ++left; });
  queue.Add(stays, [&] { ++stayed; });
  leaves.Leave();
  EXPECT_FALSE(leaves.queued());
  RunFor(300);
  EXPECT_EQ(left, 0);
  EXPECT_EQ(stayed, 1);
}

TEST_F(DelayQueueTest, ADestroyedEntryLeavesByItself) {
  DelayQueue queue(io_.get_executor(), absl::Milliseconds(20));
  int ran = 0;
  {
    DelayQueue::Entry gone;
    queue.Add(gone, [&] { ++ran; });
  }
  DelayQueue::Entry kept;
  queue.Add(kept, [&] { ++ran; });
  RunFor(300);
  EXPECT_EQ(ran, 1);  // only `kept`'s; `gone`'s would have read a destroyed entry
}

// Entries added at different times each wait their own full delay, in the order added,
// though one timer serves them all.
TEST_F(DelayQueueTest, EachEntryWaitsItsOwnDelayInOrder) {
  DelayQueue queue(io_.get_executor(), absl::Milliseconds(60));
  DelayQueue::Entry first;
  DelayQueue::Entry second;
  const Clock::time_point start = Clock::now();
  std::vector<std::pair<int, Clock::duration>> ran;
  queue.Add(first, [&] { ran.emplace_back(1, Clock::now() - start); });
  RunFor(30);  // the first entry is half way
  ASSERT_TRUE(ran.empty());
  const Clock::duration second_added = Clock::now() - start;
  queue.Add(second, [&] { ran.emplace_back(2, Clock::now() - start); });
  RunFor(500);
  ASSERT_EQ(ran.size(), 2u);
  EXPECT_EQ(ran[0].first, 1);
  EXPECT_EQ(ran[1].first, 2);
  EXPECT_GE(ran[0].second, milliseconds(60));
  EXPECT_GE(ran[1].second, second_added + milliseconds(60));
}

TEST_F(DelayQueueTest, AnActionMayQueueItsEntryAgain) {
  DelayQueue queue(io_.get_executor(), absl::Milliseconds(10));
  DelayQueue::Entry entry;
  int runs = 0;
  std::function<void()> again = [&] {
    if (++runs < 3) queue.Add(entry, again);
  };
  queue.Add(entry, again);
  RunFor(500);
  EXPECT_EQ(runs, 3);
  EXPECT_FALSE(entry.queued());
}

TEST_F(DelayQueueTest, AZeroDelayRunsTheActionInsideAdd) {
  DelayQueue queue(io_.get_executor(), absl::ZeroDuration());
  DelayQueue::Entry entry;
  int ran = 0;
  queue.Add(entry, [&] { ++ran; });
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(entry.queued());
}

TEST_F(DelayQueueTest, EntriesOfADestroyedQueueAreLeftUnqueuedAndNeverRun) {
  DelayQueue::Entry entry;
  int ran = 0;
  {
    DelayQueue queue(io_.get_executor(), absl::Milliseconds(10));
    queue.Add(entry, [&] { ++ran; });
  }
  EXPECT_FALSE(entry.queued());
  RunFor(200);  // the cancelled wait, if still queued, finds the queue gone
  EXPECT_EQ(ran, 0);
}

}  // namespace
}  // namespace oa::net
