#!/usr/bin/env bash
# Configures (once) and builds oa-bypass and its tests into build/ with Ninja and ccache
# (the tests when GoogleTest is installed: scripts/test.sh installs it, run.sh does not).
# BUILD_DIR and CMAKE_ARGS may be set, e.g. CMAKE_ARGS=-DOA_SANITIZE=address,undefined.
# Arguments name the targets to build (default: all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# A tree the run command configured before GoogleTest was installed is configured again
# once it is (scripts/test.sh installs it), to add the tests.
if [ ! -f "$build_dir/build.ninja" ] ||
   { grep -q '^OA_HAVE_TESTS:INTERNAL=\(FALSE\|0\|OFF\|\)$' "$build_dir/CMakeCache.txt" &&
     pkg-config --exists gtest; }; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" ${CMAKE_ARGS:-}
fi
cmake --build "$build_dir" ${1:+--target "$@"}
