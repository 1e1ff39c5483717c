// Contracts the code relies on. Both kinds guard against our own mistakes, never against
// input, which is always handled as an error; a broken one aborts the process with the
// file, the line and the condition, so it fails the test or is a crash the fuzzer keeps.
// - OA_CHECK is always on: for what the code cannot go on without (a queue's links, a
//   target that must stay under the base path). Keep it to a comparison or two.
// - OA_DCHECK is on in the sanitizer and fuzz builds (OA_CHECKS, set by CMakeLists.txt)
//   and compiled out of release builds: for checks that cost on a hot path.
// Neither prints values that may be a caller's (targets, headers): the condition's text
// and the explanation are enough to find the mistake.
//
//   OA_CHECK(!entry.queued(), "an entry added twice");
//   OA_DCHECK(buffer.size() <= limit, "held %zu bytes past the limit %zu", size, limit);
#pragma once

#include <cstdio>
#include <cstdlib>

// Aborts unless `cond` holds, naming `kind` ("contract", or a fuzz target's "property"),
// the condition, and a printf-style explanation. Always on: OA_DCHECK and the fuzz
// targets' FUZZ_CHECK choose when to use it.
#define OA_ABORT_UNLESS(cond, kind, ...)                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "\n%s broken at %s:%d: %s\n", kind, __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                                \
      std::fputc('\n', stderr);                                                            \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

#define OA_CHECK(cond, ...) OA_ABORT_UNLESS(cond, "invariant", __VA_ARGS__)

#ifdef OA_CHECKS
#define OA_DCHECK(cond, ...) OA_ABORT_UNLESS(cond, "contract", __VA_ARGS__)
#else
#define OA_DCHECK(cond, ...) \
  do {                       \
  } while (false)
#endif
