// A test with an io_context of its own, run a while at a time: for what timers drive
// (net::Watchdog, net::DelayQueue).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "net/asio.h"

namespace oa::testing {

class LoopTest : public ::testing::Test {
 protected:
  // Runs the loop for `for_ms`, or until it runs out of work.
  void RunFor(int for_ms) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(for_ms));
  }

  net::asio::io_context io_;
};

}  // namespace oa::testing
