#!/usr/bin/env bash
# The run command: installs what is missing, builds, and starts the gateway in the
# foreground. Arguments go to oa-bypass (see ./build/oa-bypass --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --run     # what the gateway needs; the tests' packages are test.sh's
scripts/build.sh oa-bypass  # only what it runs; scripts/test.sh builds the rest
exec "${BUILD_DIR:-build}/oa-bypass" "$@"
