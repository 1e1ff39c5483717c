// The clock both bench programs read: bench_upstream writes "t=<ns>" into each SSE event it
// sends, bench_load subtracts it from the event's arrival. Both run on one machine, so
// CLOCK_MONOTONIC is one clock for both.
#pragma once

#include <time.h>

#include <cstdint>

namespace oa::bench {

inline uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return uint64_t(now.tv_sec) * 1'000'000'000u + uint64_t(now.tv_nsec);
}

}  // namespace oa::bench
