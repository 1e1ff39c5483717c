#!/usr/bin/env bash
# Lints proto/ with buf (STANDARD rules, config in proto/buf.yaml) and checks that it is
# laid out as `buf format` would write it; offline.
# buf cannot fetch google/api from the BSR here, so this builds a temporary module with
# symlinks: our protos, proto/buf.yaml, and google/api/{annotations,http}.proto from
# Debian's golang-github-gogo-googleapis-dev; only our files are linted (--path).
# Usage: buf-lint.sh [PROTO_DIR]   (default: the repository's proto/)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
proto="$(cd "${1:-$root/proto}" && pwd)"
googleapis="${OA_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"
buf="${BUF:-$root/tests/clients/node_modules/.bin/buf}"
if [[ ! -x "$buf" ]]; then
  echo "buf-lint: $buf not found: run scripts/setup.sh (npm ci in tests/clients)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/google/api"
ln -s "$proto/buf.yaml" "$work/buf.yaml"
ln -s "$proto/openai" "$work/openai"
for f in annotations.proto http.proto; do
  ln -s "$googleapis/google/api/$f" "$work/google/api/$f"
done
export BUF_CACHE_DIR="$work/.cache"
cd "$work"
status=0
"$buf" lint --path openai || status=$?
if ! "$buf" format --diff --exit-code --path openai; then
  echo "buf-lint: proto/ is not laid out as buf format writes it (diff above)" >&2
  status=1
fi
((status == 0)) && echo "buf lint and buf format: proto/ passes"
exit "$status"
