#!/usr/bin/env bash
# The benchmarks, in one command: installs what they need (Debian's wrk, nginx, h2load,
# gnuplot; the Portkey gateway from npm), builds the gateway and the bench programs, then
# runs bench/run.py, which writes bench/results/ and the results section of
# bench/README.md. Arguments go to run.py (--quick for a short trial, --help for more).
# Not part of the tests: it takes about 15 minutes (the WebSocket scenario
# about 3 of them) and measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh wrk nginx-light nghttp2-client gnuplot-nox curl
if [ ! -d bench/portkey/node_modules ] ||
   [ bench/portkey/package-lock.json -nt bench/portkey/node_modules/.package-lock.json ]; then
  (cd bench/portkey && npm ci --no-audit --no-fund --loglevel=error)
fi

build_dir=${BUILD_DIR:-build}
BUILD_DIR=$build_dir scripts/build.sh oa-bypass bench_upstream bench_load

# Ten thousand streams through a proxy hold twenty thousand descriptors in it. Where the
# hard limit is lower (20,000 in some containers) and cannot be raised, two gateway
# processes share the port, as nginx's two worker processes do.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
processes=1
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 20100 ]; then processes=2; fi
exec /usr/bin/python3 bench/run.py --build-dir "$build_dir" --gateway-processes "$processes" "$@"
