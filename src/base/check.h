// Contracts the code relies on, checked where checking is cheap enough to leave on: in
// the sanitizer and fuzz builds (OA_CHECKS, set by CMakeLists.txt), where a broken one
// aborts the process, and so fails the test or is a crash the fuzzer keeps. Release
// builds compile them out: these guard against our own mistakes, never against input,
// which is always handled as an error.
//
//   OA_DCHECK(buffer.size() <= limit, "held %zu bytes past the limit %zu", size, limit);
#pragma once

#include <cstdio>
#include <cstdlib>

#ifdef OA_CHECKS
#define OA_DCHECK(cond, ...)                                                               \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "\ncontract broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                                \
      std::fputc('\n', stderr);                                                            \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)
#else
#define OA_DCHECK(cond, ...) \
  do {                       \
  } while (false)
#endif
