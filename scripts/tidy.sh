#!/usr/bin/env bash
# Runs clang-tidy 14 with the checks of .clang-tidy over every translation unit of src/
# (not tests/, not the generated *.pb.cc, not third-party headers), two at a time, and
# exits non-zero on any finding.
#
#   scripts/tidy.sh                    every translation unit of src/
#   scripts/tidy.sh src/net src/x.cc   only those under these paths (headers are checked
#                                      through the translation units that include them)
#
# It reads the compile commands of a clang build of its own, build-tidy/ (TIDY_BUILD_DIR),
# configured once like scripts/fuzz.sh's (clang-14, Ninja, ccache) with OA_CHECKS defined
# so that OA_DCHECK conditions are checked too; nothing is compiled there but the
# protobuf sources that src/ includes. TIDY_JOBS (default 2) clang-tidy processes run at
# once. Every finding is printed as clang-tidy gives it, then once more in a sorted
# summary (a header's finding, met through several translation units, once); the whole
# output is kept in build-tidy/tidy.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

case "${1:-}" in
  -h | --help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0
    ;;
esac
build_dir=${TIDY_BUILD_DIR:-build-tidy}
jobs=${TIDY_JOBS:-2}
start=$SECONDS

# The libraries the gateway builds with (not the tests' packages), and clang with
# clang-tidy (run-clang-tidy-14 comes with clang-tidy-14).
scripts/setup.sh --run clang-14 clang-tidy-14

if [ ! -f "$build_dir/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DCMAKE_CXX_FLAGS=-DOA_CHECKS "${launcher[@]}" >/dev/null
else
  # Picks up sources added to or removed from CMakeLists.txt (or its globs) since.
  ninja -C "$build_dir" build.ninja >/dev/null
fi
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
case "$compiler" in
  *clang++-14) ;;
  *)
    echo "tidy.sh: $build_dir is configured for $compiler, not clang++-14: remove it" >&2
    exit 2
    ;;
esac
db="$build_dir/compile_commands.json"

# The translation units of src/ and the generated protobuf sources, from the compile
# commands (absolute paths, symbolic links resolved).
mapfile -t units < <(python3 - "$db" "$root/src" "$build_dir" <<'EOF'
import json, os, sys
db, src, build = sys.argv[1], os.path.realpath(sys.argv[2]), os.path.realpath(sys.argv[3])
for entry in json.load(open(db)):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if path.startswith(src + "/"):
        print("src", path)
    elif path.startswith(build + "/") and path.endswith(".pb.cc"):
        print("gen", os.path.relpath(path, build))
EOF
)

# The generated *.pb.h that src/ includes (google/api/, grpc/). Only their protoc
# commands run: asking Ninja for the files would first build every library that the
# target they belong to links.
generated=()
sources=()
for unit in "${units[@]}"; do
  case "$unit" in
    gen\ *) generated+=("${unit#gen }") ;;
    src\ *) sources+=("${unit#src }") ;;
  esac
done
if ((${#generated[@]})); then
  ninja -C "$build_dir" -t commands -s "${generated[@]}" | sh -e
fi

# Those of the paths given, if any.
selected=()
if (($#)); then
  src_real=$(realpath src)
  prefixes=()
  for path in "$@"; do
    [ -e "$path" ] || { echo "tidy.sh: no such path: $path" >&2; exit 2; }
    full=$(realpath "$path")
    case "$full" in
      "$src_real" | "$src_real"/*) ;;
      *) echo "tidy.sh: $path is not under src/" >&2; exit 2 ;;
    esac
    [ -d "$full" ] && full="$full/"
    prefixes+=("$full")
  done
  for unit in "${sources[@]}"; do
    for prefix in "${prefixes[@]}"; do
      if [ "$unit" = "$prefix" ] || [[ "$prefix" == */ && "$unit" == "$prefix"* ]]; then
        selected+=("$unit")
        break
      fi
    done
  done
else
  selected=("${sources[@]}")
fi
if ((${#selected[@]} == 0)); then
  echo "tidy.sh: no translation unit of src/ under ${*:-src/} (a header is checked through" \
    "the .cc files that include it)" >&2
  exit 2
fi
# run-clang-tidy takes regular expressions, matched against the same absolute paths.
patterns=()
for unit in "${selected[@]}"; do
  # shellcheck disable=SC2001  # one sed escapes a dozen characters
  patterns+=("^$(sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$unit")\$")
done

log="$build_dir/tidy.log"
echo "tidy.sh: clang-tidy-14 over ${#selected[@]} translation units of ${*:-src/}, $jobs at a" \
  "time (full output: $log)"
# run-clang-tidy prints each invocation and colours what clang-tidy says: the log keeps
# the invocations, the terminal gets the findings alone, neither gets the colours.
set +e
run-clang-tidy-14 -clang-tidy-binary clang-tidy-14 -p "$build_dir" -j "$jobs" -quiet \
  "${patterns[@]}" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' | tee "$log" |
  grep --line-buffered -Ev '^(clang-tidy-14 |[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$)'
status=${PIPESTATUS[0]}
set -e

# One line per finding, headers once; a count per check.
findings=$(grep -E '^/[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$log" | sed -e "s|^$root/||" -e 's/,-warnings-as-errors\]$/]/' |
  sort -u -t: -k1,1 -k2,2n -k3,3n -k4 || true)
count=0
[ -z "$findings" ] || count=$(wc -l <<<"$findings")
elapsed=$((SECONDS - start))
if ((count > 0)); then
  echo
  echo "tidy.sh: $count finding(s):"
  echo "$findings"
  echo
  sed -n 's/.*\[\([^]]*\)\]$/\1/p' <<<"$findings" | tr ',' '\n' | sort | uniq -c | sort -rn
fi
if ((count > 0 || status != 0)); then
  echo "tidy.sh: failed after ${elapsed}s ($count finding(s), run-clang-tidy exit $status)" >&2
  exit 1
fi
echo "tidy.sh: no findings (${elapsed}s)"
