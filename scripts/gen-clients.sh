#!/usr/bin/env bash
# Generates typed gRPC clients for the API in proto/, offline, from Debian's packages and
# the npm modules of tests/clients (both installed by scripts/setup.sh), for tests that
# call the gateway with messages built by the generated constructors.
#
#   scripts/gen-clients.sh [--check] OUT_DIR [go|ts|py|cpp ...]    (no language: all)
#
# Each language goes to OUT_DIR/<lang>, emptied first. --check then compiles or imports
# what was generated (go build, tsc, python3 import), so a failure names the step.
# OA_PROTO_DIR reads another proto tree than the repository's proto/; OA_GOOGLEAPIS_DIR
# is where google/api/{annotations,http}.proto come from (Debian's
# golang-github-gogo-googleapis-dev); google/protobuf/*.proto come from /usr/include.
#
# Layout of OUT_DIR:
#   go/   a Go module (go.mod: module github.com/oa-bypass/oa-bypass, go 1.19) whose
#         generated package is ./gen/go/openai/v1 (import it as
#         openaiv1 "github.com/oa-bypass/oa-bypass/gen/go/openai/v1"). Its vendor/ links
#         to /usr/share/gocode/src, where Debian's Go libraries are (grpc 1.33, protobuf
#         1.28, genproto), with an empty vendor/modules.txt: Go then builds in vendor mode
#         (its default when vendor/ exists) and never asks a module proxy. Put a program in
#         go/cmd/NAME/main.go and run `cd OUT_DIR/go && go build -trimpath ./...` (or go
#         run -trimpath ./cmd/NAME): -trimpath lets the build cache serve another OUT_DIR
#         (the generated package alone takes some 20 s to compile). Debian's grpc is
#         1.33: grpc.WithInsecure(), no credentials/insecure package.
#         google/api/annotations.proto maps to genproto's
#         google.golang.org/genproto/googleapis/api/annotations, since the go_package in
#         the gogo copy ("api") is not a Go import path. Files without a go_package are
#         mapped to github.com/oa-bypass/oa-bypass/gen/go/<dir>.
#   ts/   TypeScript from protoc-gen-es (protobuf-es v2): openai/v1/*_pb.ts (messages:
#         create(XSchema, {...}); services: XService for @connectrpc/connect's
#         createClient) and google/api/*_pb.ts; package.json ("type": "module"),
#         tsconfig.json (strict, NodeNext, emits to ts/dist) and node_modules, a link to
#         tests/clients/node_modules. Put a program in ts/NAME.ts, then
#         `tests/clients/node_modules/.bin/tsc -p OUT_DIR/ts && node OUT_DIR/ts/dist/NAME.js`.
#         64-bit integers are bigint ([jstype = JS_STRING]: string; JS_NUMBER is ignored).
#   py/   Python for Debian's /usr/bin/python3 (python3-protobuf 3.21, python3-grpcio
#         1.51): openai/v1/*_pb2.py (+ .pyi) and *_pb2_grpc.py (XServiceStub), and
#         google/api/*_pb2.py, which Debian does not package for Python. With OUT_DIR/py
#         first on sys.path: `from openai.v1 import models_pb2, models_pb2_grpc`.
#         openai/ has an __init__.py, so it wins over an installed `openai` package.
#   cpp/  protoc's C++ and grpc_cpp_plugin's services (*.pb.h/cc, *.grpc.pb.h/cc),
#         google/api included; not compiled here.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"

check=""
if [[ "${1:-}" == --check ]]; then
  check=1
  shift
fi
if (($# < 1)) || [[ -z "$1" || "$1" == -* ]]; then
  echo "usage: scripts/gen-clients.sh [--check] OUT_DIR [go|ts|py|cpp ...]" >&2
  exit 2
fi
mkdir -p "$1"
out="$(cd "$1" && pwd)"
shift
langs=("$@")
((${#langs[@]})) || langs=(go ts py cpp)
for l in "${langs[@]}"; do
  case "$l" in
    go | ts | py | cpp) ;;
    *) echo "gen-clients: unknown language '$l' (go, ts, py, cpp)" >&2; exit 2 ;;
  esac
done

proto="$(cd "${OA_PROTO_DIR:-$root/proto}" && pwd)"
googleapis="${OA_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"
gocode=/usr/share/gocode/src
node_modules="$root/tests/clients/node_modules"
go_module=github.com/oa-bypass/oa-bypass

# Everything missing for the languages asked for, each with the package that has it.
missing=()
need() { # need PATH PACKAGE: a file, or a command on PATH
  if [[ "$1" == /* ]]; then [[ -e "$1" ]] || missing+=("$1 ($2)")
  else command -v "$1" >/dev/null || missing+=("$1 ($2)"); fi
}
need_deb() { # need_deb PACKAGE WHY: a Debian package that no single file tells apart
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$2 (Debian package $1)")
}
need protoc "Debian package protobuf-compiler"
need /usr/include/google/protobuf/descriptor.proto "Debian package libprotobuf-dev"
need "$googleapis/google/api/annotations.proto" "Debian package golang-github-gogo-googleapis-dev"
for l in "${langs[@]}"; do
  case "$l" in
    go)
      need go "Debian package golang-go"
      need protoc-gen-go "Debian package protoc-gen-go"
      need protoc-gen-go-grpc "Debian package protoc-gen-go-grpc"
      need "$gocode/google.golang.org/grpc/server.go" "Debian package golang-google-grpc-dev"
      need "$gocode/google.golang.org/protobuf/proto/encode.go" "Debian package golang-google-protobuf-dev"
      need "$gocode/google.golang.org/genproto/googleapis/api/annotations/annotations.pb.go" \
        "Debian package golang-google-genproto-dev"
      # grpc-dev accepts either; with 1.3 the client panics at run time
      # ("protobuf tag not enough fields")
      need_deb golang-github-golang-protobuf-1-5-dev "github.com/golang/protobuf v1.5"
      ;;
    ts)
      need node "Debian package nodejs"
      need "$node_modules/.bin/protoc-gen-es" "npm module @bufbuild/protoc-gen-es: scripts/setup.sh, or npm ci in tests/clients"
      need "$node_modules/.bin/tsc" "npm module typescript: scripts/setup.sh, or npm ci in tests/clients"
      need "$node_modules/@connectrpc/connect-node/package.json" "npm module @connectrpc/connect-node: scripts/setup.sh, or npm ci in tests/clients"
      ;;
    py)
      need /usr/bin/grpc_python_plugin "Debian package protobuf-compiler-grpc"
      if [[ -n "$check" ]]; then
        need /usr/bin/python3 "Debian package python3"
        /usr/bin/python3 -c 'import grpc' 2>/dev/null || missing+=("python3 grpc (Debian package python3-grpcio)")
        /usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || missing+=("python3 protobuf (Debian package python3-protobuf)")
      fi
      ;;
    cpp)
      need /usr/bin/grpc_cpp_plugin "Debian package protobuf-compiler-grpc"
      ;;
  esac
done
if ((${#missing[@]})); then
  echo "gen-clients: missing, for ${langs[*]} (scripts/setup.sh installs them all):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

# Our protos, relative to $proto, and google/api's, which ts, py and cpp generate too
# (Go uses genproto's; the google/protobuf ones ship with each runtime).
mapfile -t ours < <(cd "$proto" && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
if ((${#ours[@]} == 0)); then
  echo "gen-clients: no .proto files under $proto" >&2
  exit 1
fi
google_api=(google/api/annotations.proto google/api/http.proto)
includes=(-I "$proto" -I "$googleapis" -I /usr/include)

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
fresh() { # fresh DIR: an empty DIR under $out
  rm -rf "${out:?}/$1"
  mkdir -p "$out/$1"
}

gen_go() {
  fresh go
  local dir="$out/go" m=() f pkg gp
  # google/api: genproto's package (gogo's go_package "api" is refused by protoc-gen-go).
  for f in "${google_api[@]}"; do
    m+=("M$f=google.golang.org/genproto/googleapis/api/annotations")
  done
  for f in "${ours[@]}"; do
    gp="$(sed -n 's/^option go_package = "\([^"]*\)";.*/\1/p' "$proto/$f" | head -1)"
    if [[ -z "$gp" ]]; then # openai/v1/x.proto: .../gen/go/openai/v1;openaiv1
      pkg="$(dirname "$f")"
      gp="$go_module/gen/go/$pkg;$(tr -d '/_.-' <<<"$pkg")"
      m+=("M$f=$gp")
    fi
    if [[ "$gp" != "$go_module/"* ]]; then
      echo "gen-clients: $f has go_package \"$gp\", outside module $go_module" >&2
      return 1
    fi
  done
  local opts
  opts="module=$go_module$(printf ',%s' "${m[@]}")"
  protoc "${includes[@]}" --go_out="$dir" --go_opt="$opts" \
    --go-grpc_out="$dir" --go-grpc_opt="$opts" "${ours[@]}"
  local gov
  gov="$(go env GOVERSION | sed -n 's/^go\([0-9]*\.[0-9]*\).*/\1/p')"
  printf 'module %s\n\ngo %s\n' "$go_module" "${gov:-1.19}" >"$dir/go.mod"
  mkdir -p "$dir/vendor"
  : >"$dir/vendor/modules.txt"
  for f in "$gocode"/*; do
    ln -s "$f" "$dir/vendor/$(basename "$f")"
  done
}

gen_ts() {
  fresh ts
  local dir="$out/ts"
  protoc "${includes[@]}" --plugin=protoc-gen-es="$node_modules/.bin/protoc-gen-es" \
    --es_out="$dir" --es_opt=target=ts,import_extension=js "${google_api[@]}" "${ours[@]}"
  ln -s "$node_modules" "$dir/node_modules"
  printf '{ "private": true, "type": "module" }\n' >"$dir/package.json"
  cat >"$dir/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "rootDir": ".",
    "outDir": "dist",
    "types": ["node"]
  },
  "include": ["**/*.ts"],
  "exclude": ["dist", "node_modules"]
}
EOF
}

gen_py() {
  fresh py
  local dir="$out/py" d
  protoc "${includes[@]}" --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
    --python_out="$dir" --pyi_out="$dir" --grpc_python_out="$dir" \
    "${google_api[@]}" "${ours[@]}"
  # Regular packages for ours (google/ stays a namespace package, shared with
  # google.protobuf from python3-protobuf).
  while IFS= read -r d; do
    [[ "$d" == google || "$d" == google/* ]] || touch "$dir/$d/__init__.py"
  done < <(cd "$dir" && find . -mindepth 1 -type d -printf '%P\n')
}

gen_cpp() {
  fresh cpp
  protoc "${includes[@]}" --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin \
    --cpp_out="$out/cpp" --grpc_out="$out/cpp" "${google_api[@]}" "${ours[@]}"
}

check_go() {
  # go wants a build cache; without HOME (some CI environments) it has none
  [[ -n "${GOCACHE:-}${XDG_CACHE_HOME:-}${HOME:-}" ]] || export GOCACHE=/tmp/go-build-cache
  (cd "$out/go" && GOFLAGS="-mod=vendor -trimpath" GOPROXY=off go build ./...)
}
check_ts() {
  "$node_modules/.bin/tsc" -p "$out/ts" --noEmit
}
check_py() {
  /usr/bin/python3 - "$out/py" <<'EOF'
import importlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(root))
for p in sorted(root.rglob("*_pb2*.py")):
    importlib.import_module(".".join(p.relative_to(root).with_suffix("").parts))
EOF
}

# The step under way, named if it fails (called plainly, not under `if`, so that set -e
# still stops a step at its first failing command).
step=""
on_exit() {
  local rc=$?
  [[ $rc == 0 || -z "$step" ]] || echo "gen-clients: $step failed (see above)" >&2
}
trap on_exit EXIT
for l in "${langs[@]}"; do
  t="$(now)"
  step="$l: generating into $out/$l"
  "gen_$l"
  msg="gen-clients: $l: $(find "$out/$l" \( -name node_modules -o -name vendor \) -prune -o -type f -print | wc -l) files in $out/$l, $(took "$t")"
  if [[ -n "$check" && "$l" != cpp ]]; then
    t="$(now)"
    step="$l: compiling or importing the generated code"
    "check_$l"
    msg+="; checked in $(took "$t")"
  fi
  step=""
  echo "$msg"
done
