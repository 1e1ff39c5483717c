// Waiting in tests for what another thread or process brings about: a condition polled
// until it holds, within a bound, rather than a sleep that guesses how long it takes. A
// test that waits this way is as quick as the machine allows and fails, rather than
// passing by luck, when the condition never comes.
//
//   ASSERT_TRUE(WaitUntil([&] { return mock.open_connections() == 0; }, 3000ms));
//
// Tests of the gateway process wait on what they can observe from outside: the mock's
// counters, a line of the gateway's log, a value of its /metrics, a socket's state.
#pragma once

#include <chrono>
#include <thread>

namespace oa::testing {

// Polls `condition` every `poll` until it holds or `timeout` has passed; returns its last
// value (one that comes true at the last moment counts).
template <class Condition>
bool WaitUntil(Condition&& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= give_up) return condition();
    std::this_thread::sleep_for(poll);  // between polls: what is awaited is `condition`
  }
  return true;
}

}  // namespace oa::testing
