#!/usr/bin/env bash
# `buf curl` (from the @bufbuild/buf npm package) against the gateway with nothing but
# server reflection: what a person with grpcurl or buf curl and no .proto files gets.
# Starts the mock and the gateway on loopback, stops both on exit.
# Env: OA_BYPASS_BINARY, OA_MOCK_BINARY (set by CTest).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
buf="$here/node_modules/.bin/buf"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Kept for the suite's key scan (scripts/check-no-keys.py), when CTest asks.
  if [ -n "${OA_TEST_OUTPUT_DIR:-}" ] && [ -f "$work/gateway.log" ]; then
    cp "$work/gateway.log" "$OA_TEST_OUTPUT_DIR/buf-curl-gateway-$$.txt"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
export BUF_CACHE_DIR="$work/cache"
key="sk-buf-curl-test-0123456789SECRET"

# Waits for "listening on HOST:PORT" in a log and prints the port.
port_of() {
  for _ in $(seq 100); do
    if port=$(grep -o -m1 'listening on [0-9.]*:[0-9]*' "$1" | grep -o '[0-9]*$'); then
      echo "$port"
      return
    fi
    sleep 0.1
  done
  echo "no 'listening on' in $1:" >&2
  cat "$1" >&2
  exit 1
}

"$OA_MOCK_BINARY" --port 0 >"$work/mock.log" 2>&1 &
pids+=($!)
mock_port=$(port_of "$work/mock.log")
"$OA_BYPASS_BINARY" --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$mock_port/v1" \
  --workers 1 --log-level debug >"$work/gateway.log" 2>&1 &
pids+=($!)
port=$(port_of "$work/gateway.log")
url="http://127.0.0.1:$port"
curl_grpc=("$buf" curl --protocol grpc --http2-prior-knowledge)

fail() {
  echo "FAIL: $*" >&2
  echo "--- gateway log" >&2
  cat "$work/gateway.log" >&2
  exit 1
}

services=$("${curl_grpc[@]}" --list-services "$url")
grep -qx "openai.v1.ChatService" <<<"$services" || fail "ChatService not listed: $services"
grep -qx "grpc.health.v1.Health" <<<"$services" || fail "Health not listed"

methods=$("${curl_grpc[@]}" --list-methods "$url" | wc -l)
((methods >= 315)) || fail "only $methods methods listed"

model=$("${curl_grpc[@]}" -H "authorization: Bearer $key" -d '{"model": "ft:gpt-4o:acme::x1"}' \
  "$url/openai.v1.ModelsService/RetrieveModel")
grep -q '"id": "ft:gpt-4o:acme::x1"' <<<"$model" || fail "RetrieveModel answered: $model"

health=$("${curl_grpc[@]}" -d '{}' "$url/grpc.health.v1.Health/Check")
grep -q '"status": "SERVING"' <<<"$health" || fail "health answered: $health"

if "${curl_grpc[@]}" -d '{}' "$url/openai.v1.ModelsService/ListModels" >"$work/nokey" 2>&1; then
  fail "a call without a key succeeded"
fi
grep -qi "unauthenticated" "$work/nokey" || fail "no key gave: $(cat "$work/nokey")"

if grep -q "$key" "$work/gateway.log"; then fail "the key is in the gateway's log"; fi
echo "buf curl: $methods methods listed through reflection; calls and health work"
