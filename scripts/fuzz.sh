#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan) into build-fuzz/ and
# runs each for a bounded time, starting from its committed seed corpus.
#
#   scripts/fuzz.sh                  every target, FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh --smoke          every target for a few seconds (FUZZ_SECONDS=5): CI
#   scripts/fuzz.sh sse_fuzz ...     only these targets
#   scripts/fuzz.sh --update-corpus  also merge the inputs that found new coverage into
#                                    tests/fuzz/corpus/ (minimised; review, then commit)
#
# FUZZ_JOBS=2 runs two targets at once (at most 2: the machine's other builds need the
# rest). Inputs found go to build-fuzz/fuzz/<target>/corpus/, which starts as a copy of
# the seeds and keeps growing from run to run; the committed corpus is written only with
# --update-corpus. A crash, leak, timeout or broken property leaves its input in
# build-fuzz/fuzz/<target>/crashes/ (replay: build-fuzz/tests/fuzz/<target> <file>) and
# makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
update=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --update-corpus) update=1 ;;
    -h | --help)
      sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "fuzz.sh: unknown option $arg (see --help)" >&2
      exit 2
      ;;
    *) targets+=("$arg") ;;
  esac
done
all=(http_template_fuzz route_match_fuzz sse_fuzz transcode_fuzz http_front_fuzz http1_parser_fuzz
     upstream_fuzz websocket_fuzz)
((${#targets[@]})) || targets=("${all[@]}")
seconds=${FUZZ_SECONDS:-$((smoke ? 5 : 60))}
parallel=${FUZZ_JOBS:-1}
((parallel >= 1 && parallel <= 2)) || { echo "fuzz.sh: FUZZ_JOBS must be 1 or 2" >&2; exit 2; }
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}

# The libraries of the normal build, and clang with libFuzzer, which only this needs.
scripts/setup.sh clang-14 libclang-rt-14-dev

if [ ! -f "$build_dir/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOA_FUZZ=ON "${launcher[@]}"
fi
cmake --build "$build_dir" --target fuzz_targets -- -j2

# Per target: the largest input worth trying.
max_len() {
  case "$1" in
    http_template_fuzz) echo 256 ;;
    route_match_fuzz) echo 512 ;;
    http_front_fuzz) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local t=$1 work="$build_dir/fuzz/$1"
  local bin="$build_dir/tests/fuzz/$t"
  mkdir -p "$work/corpus" "$work/crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
  find "$work/crashes" -type f | sort >"$work/crashes.before"
  local status=0
  "$bin" "$work/corpus" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=25 \
    -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$work/crashes/" \
    >"$work/last.log" 2>&1 || status=$?
  find "$work/crashes" -type f | sort | comm -13 "$work/crashes.before" - >"$work/crashes.new"
  echo "$status $(wc -l <"$work/crashes.new")" >"$work/last.status"
}

echo "fuzz.sh: ${targets[*]}: ${seconds}s each, $parallel at a time"
for t in "${targets[@]}"; do
  [ -x "$build_dir/tests/fuzz/$t" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  if ((parallel > 1)); then
    while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
    run_target "$t" &
  else
    run_target "$t"
  fi
done
wait

failed=0
printf '%-20s %12s %8s %7s %7s %9s %8s\n' target execs exec/s cov ft corpus crashes
for t in "${targets[@]}"; do
  work="$build_dir/fuzz/$t"
  read -r status crashes <"$work/last.status"
  log="$work/last.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$work/corpus" -type f | wc -l)
  printf '%-20s %12s %8s %7s %7s %9s %8s\n' "$t" "${execs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "$corpus" "$crashes"
  if ((status != 0 || crashes > 0)); then
    failed=1
    echo "  $t failed (exit $status); log: $log" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|property broken)' "$log" | head -5 | sed 's/^/  /' >&2 || true
    sed 's/^/  input: /' "$work/crashes.new" >&2
  fi
done

if ((update)); then
  for t in "${targets[@]}"; do
    "$build_dir/tests/fuzz/$t" -merge=1 -max_len="$(max_len "$t")" "tests/fuzz/corpus/$t" \
      "$build_dir/fuzz/$t/corpus" >"$build_dir/fuzz/$t/merge.log" 2>&1
    echo "fuzz.sh: tests/fuzz/corpus/$t now holds $(find "tests/fuzz/corpus/$t" -type f | wc -l) inputs"
  done
fi
exit "$failed"
