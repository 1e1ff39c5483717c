#!/usr/bin/env bash
# The whole test suite under a sanitizer, in a build directory of its own:
#   scripts/sanitize.sh asan   AddressSanitizer + UBSan, into build-asan/
#   scripts/sanitize.sh tsan   ThreadSanitizer, into build-tsan/
# Further arguments go to CTest (e.g. -R Relay). Every report aborts the process that
# made it (-fno-sanitize-recover=all), so a report anywhere fails the test it ran in:
# the integration fixtures expect their gateways to exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?"usage: scripts/sanitize.sh asan|tsan [ctest arguments]"}
shift
case "$kind" in
  asan)
    export BUILD_DIR=${BUILD_DIR:-build-asan}
    export CMAKE_ARGS="-DOA_SANITIZE=address,undefined ${CMAKE_ARGS:-}"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
  tsan)
    export BUILD_DIR=${BUILD_DIR:-build-tsan}
    export CMAKE_ARGS="-DOA_SANITIZE=thread ${CMAKE_ARGS:-}"
    # tests/tsan.supp: what gRPC, Abseil and OpenSSL (built without TSan) do among their
    # own threads; each entry says why. Added to any TSAN_OPTIONS given.
    tsan_defaults=halt_on_error=1:abort_on_error=1:second_deadlock_stack=1
    export TSAN_OPTIONS="${TSAN_OPTIONS:-$tsan_defaults}:suppressions=$PWD/tests/tsan.supp"
    ;;
  *)
    echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2
    exit 2
    ;;
esac
exec scripts/test.sh "$@"
