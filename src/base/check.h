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

#ifdef OA_CHECKS
#define OA_DCHECK(cond, ...) OA_ABORT_UNLESS(cond, "contract", __VA_ARGS__)
#else
#define OA_DCHECK(cond, ...) \
  do {                       \
  } while (false)
#endif
