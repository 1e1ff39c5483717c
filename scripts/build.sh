#!/usr/bin/env bash
# Configures (once) and builds oa-bypass and its tests into build/ with Ninja and ccache.
# BUILD_DIR and CMAKE_ARGS may be set, e.g. CMAKE_ARGS=-DOA_SANITIZE=address,undefined.
# Arguments name the targets to build (default: all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" ${CMAKE_ARGS:-}
fi
cmake --build "$build_dir" ${1:+--target "$@"}
