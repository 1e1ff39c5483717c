#!/usr/bin/env bash
# Installs what building and testing oa-bypass needs on Debian 12, and nothing that is
# already there. Safe to run again: every step checks before it acts. Debian packages
# given as arguments are installed too (scripts/fuzz.sh adds clang and libFuzzer).
#
#   scripts/setup.sh --run     only what building and running the gateway needs (the run
#                              command); the tests' packages and npm modules are left out
set -euo pipefail
cd "$(dirname "$0")/.."

run_only=""
if [ "${1:-}" = --run ]; then
  run_only=1
  shift
fi

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-program-options1.81-dev  # Beast/Asio; flags and environment
  libboost-json1.81-dev                              # gRPC front: JSON of OpenAI's answers
  libtomlplusplus-dev libyaml-cpp-dev                # the --config file, TOML or YAML
  libssl-dev openssl                                 # upstream TLS; test certificates
  libprotobuf-dev protobuf-compiler                  # descriptors for the route table
  libgrpc++-dev protobuf-compiler-grpc grpc-proto    # gRPC front
  libnghttp2-dev                                     # gRPC front: HTTP/2 on the workers
  golang-github-gogo-googleapis-dev                  # google/api/http.proto, annotations.proto
  libabsl-dev                                        # status, formatting, durations
  libjemalloc-dev                                    # the gateway's allocator
  zlib1g-dev                                         # gRPC messages a client compressed
)
test_packages=(
  libgtest-dev libgmock-dev                          # unit and integration tests
  redis-server                                       # shared rate limits, tested for real
  nginx-light                                        # the isolation test's peer proxy
  python3-grpcio python3-protobuf python3-yaml       # gRPC client tests; proto/ checks
  python3-h2                                         # hostile gRPC clients, frame by frame
  chromium-headless-shell                            # a browser's WebSocket, in a page
  golang-go protoc-gen-go protoc-gen-go-grpc         # typed Go clients (gen-clients.sh):
  golang-google-grpc-dev golang-google-protobuf-dev  # Go's gRPC and protobuf libraries,
  golang-google-genproto-dev                         # google/api annotations for Go, and
  golang-github-golang-protobuf-1-5-dev              # 1.5, not the 1.3 apt picks for grpc
)
if [ -z "$run_only" ]; then
  packages+=("${test_packages[@]}")
  # The client tests need Node.js and npm; a machine may have its own, outside Debian's
  # packages, which is used as it is.
  command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
fi
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # Packages with a service (redis-server, nginx-light) would start it, listening on
  # every interface; the tests start their own, on loopback. A policy-rc.d that denies
  # every start keeps the install from starting anything, where no init system does it.
  policy=/usr/sbin/policy-rc.d
  denied=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    denied=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" || { [ -z "$denied" ] || $sudo rm -f "$policy"; exit 1; }
  [ -z "$denied" ] || $sudo rm -f "$policy"
fi

[ -z "$run_only" ] || exit 0
# The client tests use the real openai npm package, pinned by the lock file.
if [ ! -d tests/clients/node_modules ] ||
   [ tests/clients/package-lock.json -nt tests/clients/node_modules/.package-lock.json ]; then
  (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi
