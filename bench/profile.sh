#!/usr/bin/env bash
# Instructions the gateway spends per small chat completion, counted by callgrind: the
# figure that profiling work moves, repeatable whatever else the machine is doing (a
# timed benchmark on shared cores is not). Runs one worker under callgrind against
# bench_upstream, warms it, then counts exactly REQUESTS calls and prints the total per
# call and the functions that cost most. FRONT=grpc makes the calls
# ChatService/CreateChatCompletion on the gRPC front (h2load, as bench/run.py's grpc
# scenario: the same request as a protobuf message), counting every thread of the
# process, grpc++'s included. Installs valgrind if missing and builds what it runs;
# BUILD_DIR as for scripts/build.sh.
#
# What it cannot see: under callgrind the gateway runs tens of times slower, so the
# upstream's answer and the client's next request are always there when it reads, and
# the cost of a read that has to wait (a recv that finds nothing, the reactor's wait) is
# missing. Time and system calls under real load come from bench/run.sh and perf stat.
#
#   bench/profile.sh            # 1500 calls
#   REQUESTS=3000 bench/profile.sh
#   OA_BYPASS_BINARY=/tmp/old/oa-bypass bench/profile.sh   # another build of the gateway
#   FRONT=grpc bench/profile.sh # the same calls over gRPC
#   GATEWAY_ARGS=--grpc-server=workers FRONT=grpc bench/profile.sh  # more gateway flags
set -euo pipefail
cd "$(dirname "$0")/.."
front=${FRONT:-rest}
case "$front" in
  rest) scripts/setup.sh valgrind curl ;;
  grpc) scripts/setup.sh valgrind curl nghttp2-client python3-protobuf ;;
  *) echo "profile.sh: FRONT is rest or grpc, not $front" >&2; exit 2 ;;
esac
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh oa-bypass bench_upstream bench_load
build=$(realpath "${BUILD_DIR:-build}")
requests=${REQUESTS:-1500}
work=$(mktemp -d)
trap 'kill $gateway $upstream 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

"$build/bench/bench_upstream" > "$work/upstream.out" &
upstream=$!
until grep -q "listening on" "$work/upstream.out" 2>/dev/null; do sleep 0.1; done
upstream_port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/upstream.out")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
  "${OA_BYPASS_BINARY:-$build/oa-bypass}" --workers=1 --listen="127.0.0.1:$port" \
  --upstream="http://127.0.0.1:$upstream_port/v1" ${GATEWAY_ARGS:-} > "$work/gateway.log" 2>&1 &
gateway=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.5; done

echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}' > "$work/chat.json"
load() {
  "$build/bench/bench_load" --mode=rate --port="$port" --body-file="$work/chat.json" \
    --header="authorization: Bearer sk-profile-not-a-real-key" --connections=8 "$@"
}
grpc_load() {  # $1 calls, over 8 connections of one stream each
  h2load -n "$1" -c 8 -m 1 -d "$work/chat.grpc" -H "content-type: application/grpc" \
    -H "te: trailers" -H "authorization: Bearer sk-profile-not-a-real-key" \
    "http://127.0.0.1:$port/openai.v1.ChatService/CreateChatCompletion"
}
if [ "$front" = rest ]; then
  load --rate=100 --seconds=2 > /dev/null  # warm: pool, caches, lazy initialisation
  callgrind_control --instr=on "$gateway" > /dev/null
  load --rate=300 --seconds="$(/usr/bin/python3 -c "print($requests / 300)")" > "$work/load.json"
else
  # The same request as bench/run.py's grpc scenario sends, framed as one gRPC message.
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, "bench"); import run
open(sys.argv[1], "wb").write(run.grpc_message(False))' "$work/chat.grpc"
  grpc_load 200 > /dev/null
  callgrind_control --instr=on "$gateway" > /dev/null
  grpc_load "$requests" | grep -E "^(finished|requests|status codes):" | tr '\n' ' ' \
    > "$work/load.json"
fi
callgrind_control -d "$gateway" > /dev/null
dump=$(ls -t "$work"/callgrind.out.* | head -1)
total=$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "load: $(cat "$work/load.json")"
echo "instructions per call ($front): $((total / requests)) ($total for $requests calls)"
callgrind_annotate "$dump" | sed -n '/file:function/,$p' | sed -n 2,26p | cut -c1-160
