#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test with CTest;
# then checks that nothing CTest printed holds a key the tests used.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "$@"
/usr/bin/python3 "$root/scripts/check-no-keys.py" --sources "$root/tests" \
  Testing/Temporary/LastTest.log
