#!/usr/bin/env bash
# buf on proto/, offline: lint and format, generate, and the breaking-change check.
#
#   scripts/buf.sh lint                  buf lint (rules in proto/buf.yaml) and buf format
#   scripts/buf.sh generate OUT_DIR      buf generate with proto/buf.gen.yaml into OUT_DIR
#   scripts/buf.sh breaking              buf breaking (FILE rules) against gen/released.binpb,
#                                        the image of the last released protos
#   scripts/buf.sh release               writes gen/released.binpb from proto/: run it when a
#                                        version is released, never to silence `breaking`
#
# proto/buf.yaml declares google/api as a dependency on the Buffer Schema Registry
# (buf.build/googleapis/googleapis), which is how users resolve it (`buf dep update`
# once, then `buf generate` in proto/). The BSR is not reachable here, so this script
# builds a temporary module of links instead: our protos, proto/buf.yaml and
# proto/buf.gen.yaml, and google/api/{annotations,http}.proto from Debian's
# golang-github-gogo-googleapis-dev; buf finds the imports locally and asks for nothing.
# OA_PROTO_DIR checks another proto tree (default: the repository's proto/).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
proto="$(cd "${OA_PROTO_DIR:-$root/proto}" && pwd)"
googleapis="${OA_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"
buf="${BUF:-$root/tests/clients/node_modules/.bin/buf}"
usage="usage: scripts/buf.sh lint | generate OUT_DIR | breaking | release"
command="${1:-}"
if [[ ! -x "$buf" ]]; then
  echo "buf.sh: $buf not found: run scripts/setup.sh (npm ci in tests/clients)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/google/api"
for f in buf.yaml buf.gen.yaml openai; do ln -s "$proto/$f" "$work/$f"; done
for f in annotations.proto http.proto; do
  ln -s "$googleapis/google/api/$f" "$work/google/api/$f"
done
export BUF_CACHE_DIR="$work/.cache"

case "$command" in
  lint)
    cd "$work"
    status=0
    "$buf" lint --path openai || status=$?
    if ! "$buf" format --diff --exit-code --path openai; then
      echo "buf.sh: proto/ is not laid out as buf format writes it (diff above)" >&2
      status=1
    fi
    ((status == 0)) && echo "buf lint and buf format: proto/ passes"
    exit "$status"
    ;;
  generate)
    (($# == 2)) || { echo "$usage" >&2; exit 2; }
    mkdir -p "$2"
    out="$(cd "$2" && pwd)"
    # The plugins in buf.gen.yaml are local: Debian's protoc-gen-go(-grpc) and the npm
    # protoc-gen-es of tests/clients.
    export PATH="$root/tests/clients/node_modules/.bin:$PATH"
    cd "$work"
    "$buf" generate --path openai -o "$out"
    echo "buf generate: $(find "$out" -type f | wc -l) files in $out"
    ;;
  breaking)
    against="$root/gen/released.binpb"
    cd "$work"
    # Only our files: google/api and the well-known types are not ours to promise.
    if "$buf" breaking --path openai --exclude-imports --against "$against"; then
      echo "buf breaking: proto/ keeps every promise of gen/released.binpb"
    else
      echo "buf.sh: proto/ breaks clients generated from the last released protos" \
           "(above); keep field numbers, names and types, or release a new version" >&2
      exit 1
    fi
    ;;
  release)
    cd "$work"
    "$buf" build --path openai --exclude-source-info -o "$root/gen/released.binpb"
    echo "gen/released.binpb: the protos of this release, for scripts/buf.sh breaking"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
