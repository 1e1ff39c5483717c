#!/usr/bin/env bash
# Builds the gateway's image with podman and checks it running as docker/Dockerfile and
# docker/compose.yaml mean it to (scripts/check-docker.py checks the same files without an
# engine). Debian 12, as root. From nothing, about 10 min on 2 cores, most of it compiling
# the gateway in the image build; 20 s on a later run when nothing that CMake reads changed.
#
#   1. installs podman, runc, podman-compose and mmdebstrap from Debian where missing;
#   2. makes debian:12 (and debian:12-slim, the same image) from this machine's apt
#      sources with mmdebstrap, where podman has none: no registry is used;
#   3. builds docker/Dockerfile as oa-bypass:check in Docker's format (podman's OCI format
#      drops HEALTHCHECK);
#   4. runs it read-only as Docker does (no writable tmpfs either), as the image's user,
#      published on 127.0.0.1 only: /health and /ready answer 200, a /v1 call without a
#      key 401 with OpenAI's error JSON, the HEALTHCHECK passes, SIGTERM ends it with 0;
#   5. starts compose.yaml's gateway service with podman-compose (Debian's 1.0.3), from a
#      copy that differs only in publishing on a free loopback port, with no OA_* variable
#      set: the container has compose's environment, read_only, restart and healthcheck;
#      /health and /ready answer 200, the healthcheck passes, /ready answers 503 during
#      OA_SHUTDOWN_DELAY, and a stop ends it with 0 within stop_grace_period.
# Requests go to 127.0.0.1 only, and only to what the gateway answers itself: no call
# reaches an upstream. Containers, the compose network and temporary files go on exit,
# failed or not; the images stay, and with them the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
image=oa-bypass:check
name=oa-bypass-check
project=oa-bypass-check  # podman-compose's project: names its image, network, container

fail() {
  echo "check-image: FAILED: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "run as root (rootful podman)"

# Without systemd podman cannot time healthchecks and logs so at every container start and
# removal; the checks run them by hand, so those lines are dropped.
pm() {
  { podman "$@" 2>&1 1>&3 | { grep -v 'unable to get systemd connection' >&2 || true; }; } 3>&1
}

# Removes what this script starts: also at the start, after a run that was killed.
remove_ours() {
  pm rm -f -t 0 "$name" >/dev/null 2>&1 || true
  local ids
  mapfile -t ids < <(podman ps -aq --filter "label=io.podman.compose.project=$project" 2>/dev/null)
  ((${#ids[@]} == 0)) || pm rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  # The same image as oa-bypass:check: rmi drops only this name (untag would drop both).
  podman rmi "${project}_gateway" >/dev/null 2>&1 || true
}

phase_start=$(date +%s)
timings=()
phase_done() {
  local took=$(($(date +%s) - phase_start))
  timings+=("$(printf '  %-12s %5d s' "$1" "$took")")
  echo "check-image: $1 done in $took s"
  phase_start=$(date +%s)
}
started=$(date +%s)

# --- 1. tools ---------------------------------------------------------------------------
# runc: the runtime known to work here (without it, Debian's podman brings crun). No
# recommends: rootful podman needs none of them (CNI networking comes as a dependency).
packages=(podman runc podman-compose mmdebstrap python3-yaml curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "check-image: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
fi

work=$(mktemp -d /tmp/oa-check-image.XXXXXX)
forward=$(sysctl -n net.ipv4.ip_forward)
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  remove_ours
  # podman's bridge networking turns on IP forwarding; give the host back its setting
  # when nothing else of podman's still runs.
  if [ "$forward" = 0 ] && [ -z "$(podman ps -q 2>/dev/null)" ]; then
    sysctl -qw net.ipv4.ip_forward=0 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private containers.conf (CONTAINERS_CONF: podman reads it alone, /etc stays as it is).
# Rootful podman gives containers nofile=1048576 and nproc=4194304, which root cannot
# raise its hard limits to here: set both to what podman's own process has (podman lowers
# its nproc to kernel.pid_max).
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
[ "$nproc" != unlimited ] && ((nproc < pid_max)) || nproc=$pid_max
ulimits="\"nproc=$nproc:$nproc\""
[ "$nofile" = unlimited ] || ulimits="\"nofile=$nofile:$nofile\", $ulimits"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = [$ulimits]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf
# Docker's image format keeps HEALTHCHECK, for podman-compose's build too.
export BUILDAH_FORMAT=docker
remove_ours
phase_done tools

# --- 2. base images ---------------------------------------------------------------------
if ! podman image exists debian:12 || ! podman image exists debian:12-slim; then
  # This machine's Debian sources (those of bookworm), which the image's apt then uses.
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.{list,sources}; do
    [ -f "$f" ] && grep -Eq '(^|\s)bookworm(-[a-z]+)?(\s|$)' "$f" && sources+=("$f")
  done
  ((${#sources[@]})) || fail "no apt source of bookworm in /etc/apt/sources.list(.d)"
  echo "check-image: making debian:12 from ${sources[*]}"
  mmdebstrap --variant=minbase bookworm "$work/debian12.tar" "${sources[@]}" \
    >"$work/mmdebstrap.log" 2>&1 || { tail -n 20 "$work/mmdebstrap.log"; fail "mmdebstrap"; }
  # With the Docker Hub image's PATH and CMD.
  podman image exists debian:12 ||
    podman import -q --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$work/debian12.tar" debian:12 >/dev/null
  podman image exists debian:12-slim || podman tag debian:12 debian:12-slim
  rm -f "$work/debian12.tar"
fi
phase_done base-images

# --- 3. build ---------------------------------------------------------------------------
echo "check-image: building $image (from scratch, compiling takes minutes)"
if ! podman build --format docker --pull=never -f docker/Dockerfile -t "$image" . \
  >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  fail "docker/Dockerfile does not build"
fi
[ "$(podman image inspect -f '{{if .Config.Healthcheck}}yes{{end}}' "$image")" = yes ] ||
  fail "$image has no HEALTHCHECK"
user=$(podman image inspect -f '{{.Config.User}}' "$image")
case "$user" in "" | root | 0 | 0:* | root:*) fail "$image runs as root" ;; esac
phase_done build

free_port() {
  python3 -c 'import socket; print(socket.create_server(("127.0.0.1", 0)).getsockname()[1])'
}
# probe PORT PATH: the HTTP status (000 when nothing answers); the body in $work/body.
probe() {
  curl -sS --noproxy '*' --max-time 5 -o "$work/body" -w '%{http_code}' \
    "http://127.0.0.1:$1$2" 2>/dev/null || true
}
expect() {  # expect PORT PATH STATUS
  local got
  got=$(probe "$1" "$2")
  [ "$got" = "$3" ] || fail "GET $2 answered $got, not $3: $(head -c 300 "$work/body")"
  echo "check-image: GET $2 -> $got"
}
wait_serving() {  # wait_serving CONTAINER PORT
  for _ in $(seq 60); do
    [ "$(probe "$2" /health)" = 200 ] && return 0
    [ "$(podman inspect -f '{{.State.Running}}' "$1")" = true ] ||
      { pm logs "$1" | tail -n 20; fail "container $1 exited before serving"; }
    sleep 0.5
  done
  pm logs "$1" | tail -n 20
  fail "container $1 did not answer /health on 127.0.0.1:$2 within 30 s"
}
loopback_only() {  # loopback_only CONTAINER PORT: published there and nowhere else
  local published
  published=$(podman port "$1")
  [ "$published" = "${published%%/*}/tcp -> 127.0.0.1:$2" ] ||
    fail "container $1 is published as '$published', not on 127.0.0.1:$2 alone"
}
healthy() {  # healthy CONTAINER: runs its healthcheck now
  pm healthcheck run "$1" >/dev/null || fail "the healthcheck of container $1 failed"
  [ "$(podman inspect -f '{{.State.Healthcheck.Status}}' "$1")" = healthy ] ||
    fail "container $1 is not healthy after its healthcheck"
  echo "check-image: healthcheck -> healthy"
}

# --- 4. the image, run as Docker's --read-only ------------------------------------------
# The upstream moves to the container's own loopback (where nothing listens), so that no
# mistake here can send a call out.
port=$(free_port)
pm run -d --name "$name" --read-only --read-only-tmpfs=false -p "127.0.0.1:$port:8080" \
  -e OA_UPSTREAM=http://127.0.0.1:9/v1 "$image" >/dev/null
wait_serving "$name" "$port"
loopback_only "$name" "$port"
uid=$(pm exec "$name" id -u)
[ "$uid" != 0 ] || fail "the gateway runs as root in $name"
echo "check-image: runs as $user (uid $uid)"
! pm exec "$name" touch /tmp/written 2>/dev/null || fail "$name can write to /tmp"
expect "$port" /health 200
expect "$port" /ready 200
expect "$port" /v1/models 401
python3 - "$work/body" <<'EOF' ||
import json, sys
e = json.load(open(sys.argv[1]))["error"]
ok = isinstance(e["message"], str) and e["message"] and isinstance(e["type"], str)
sys.exit(0 if ok and "param" in e and isinstance(e["code"], (str, type(None))) else 1)
EOF
  fail "the 401's body is not OpenAI's error JSON: $(head -c 300 "$work/body")"
echo "check-image: the 401 is OpenAI's error JSON"
healthy "$name"
sent=$(date +%s)
pm kill -s TERM "$name" >/dev/null
status=$(timeout 15 podman wait "$name") || fail "$name did not exit within 15 s of SIGTERM"
[ "$status" = 0 ] || fail "$name exited $status after SIGTERM"
echo "check-image: SIGTERM -> exit 0 in $(($(date +%s) - sent)) s"
pm rm -f "$name" >/dev/null
phase_done run

# --- 5. compose.yaml's gateway service --------------------------------------------------
# podman-compose 1.0.3 knows no profiles (it would start the redis service too: name only
# the gateway) and ignores stop_grace_period (read here and given to podman stop).
port=$(free_port)
python3 - docker/compose.yaml "$work/compose.yaml" "$port" >"$work/compose.env" <<'EOF'
import json, os, re, sys, yaml
source, copy, port = sys.argv[1:]
compose = yaml.safe_load(open(source))
gateway = compose["services"]["gateway"]
# The copy lives elsewhere: its build context becomes absolute.
build = gateway["build"]
build["context"] = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(source)),
                                                 build.get("context", ".")))
# Published on loopback only, on a free port; the container's side stays as written.
ports = gateway["ports"]
assert len(ports) == 1, "the gateway publishes one port"
gateway["ports"] = [f"127.0.0.1:{port}:{str(ports[0]).split(':')[-1]}"]
yaml.safe_dump(compose, open(copy, "w"), sort_keys=False)
# What the container should get, as compose resolves it on a host that sets none:
# "${X:-default}" is the default, "${X}" empty, a name without value not set at all.
env = {k: None if v is None else
       re.sub(r"\$\{[A-Z0-9_]+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(v))
       for k, v in (gateway.get("environment") or {}).items()}
grace = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(gateway.get("stop_grace_period", "10s")))
print(json.dumps(env))
print(int(grace.group(1) or 0) * 60 + int(grace.group(2) or 0))
# read_only, restart and what the healthcheck calls, as podman inspect shows them.
print(str(bool(gateway.get("read_only"))).lower(), gateway.get("restart", "no"),
      gateway["healthcheck"]["test"][-1])
EOF
{ read -r expected_env; read -r grace; read -r expected_settings; } <"$work/compose.env"
# Compose resolves ${OA_...} from the host: set none of them.
mapfile -t host_vars < <(compgen -e | grep '^OA_' || true)
((${#host_vars[@]} == 0)) || unset "${host_vars[@]}"
podman-compose -p "$project" -f "$work/compose.yaml" up -d --build gateway \
  >"$work/compose.log" 2>&1 || { tail -n 40 "$work/compose.log"; fail "podman-compose up"; }
ctr=$(podman ps -aq --filter "label=io.podman.compose.project=$project")
[ "$(wc -w <<<"$ctr")" = 1 ] ||
  { tail -n 40 "$work/compose.log"; fail "podman-compose started not one gateway but '$ctr'"; }
wait_serving "$ctr" "$port"
loopback_only "$ctr" "$port"
python3 - "$expected_env" "$(podman inspect -f '{{json .Config.Env}}' "$ctr")" <<'EOF' ||
import json, sys
expected = json.loads(sys.argv[1])
got = dict(v.split("=", 1) for v in json.loads(sys.argv[2]))
wrong = {k: (v, got.get(k)) for k, v in expected.items() if got.get(k) != v}
sys.exit(f"(compose.yaml's, the container's): {wrong}" if wrong else 0)
EOF
  fail "the compose container's environment is not compose.yaml's"
host='{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.RestartPolicy.Name}}'
settings=$(podman inspect -f "$host {{.Config.Healthcheck.Test}}" "$ctr")
read -r ro restart url <<<"$expected_settings"
[[ "$settings" == "$ro $restart "*"$url"* ]] ||
  fail "the compose container has '$settings': not compose.yaml's read_only, restart, healthcheck"
echo "check-image: compose's environment, read_only, restart and healthcheck are in place"
expect "$port" /health 200
expect "$port" /ready 200
healthy "$ctr"
# podman stop, as compose's own stop: SIGTERM, SIGKILL after the grace period. The gateway
# keeps serving through compose's OA_SHUTDOWN_DELAY, with /ready 503.
sent=$(date +%s)
pm stop -t "$grace" "$ctr" >/dev/null &
stopping=$!
sleep 1
expect "$port" /ready 503
wait "$stopping" || fail "podman stop of the compose container failed"
took=$(($(date +%s) - sent))
status=$(podman inspect -f '{{.State.ExitCode}}' "$ctr")
[ "$status" = 0 ] || fail "the compose container exited $status after SIGTERM"
((took < grace)) || fail "the compose container took $took s to stop: past its grace of $grace s"
echo "check-image: compose stop -> exit 0 in $took s (grace $grace s)"
phase_done compose

echo "check-image: passed; times:"
printf '%s\n' "${timings[@]}"
printf '  %-12s %5d s\n' total $(($(date +%s) - started))
