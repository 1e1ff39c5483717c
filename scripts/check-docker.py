#!/usr/bin/python3
"""Checks docker/ against the binary it ships, where no Docker engine can: every YAML file
parses; every flag and OA_* variable used there is a setting the binary knows; the
binary starts with compose's environment as written (its ${VAR:-default} as compose
resolves them on a host that sets none; the address and upstream moved to loopback) and
exits 0 on SIGTERM; the probe paths answer on a running gateway; the runtime image
installs every Debian package the binary's shared libraries come from.

Usage: check-docker.py OA_BYPASS_BINARY [--skip-libraries]
(--skip-libraries: for a sanitizer build, whose runtimes the image rightly leaves out)
"""
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")


def files():
    for folder, _, names in os.walk(DOCKER):
        for name in sorted(names):
            yield os.path.join(folder, name)


def library_packages(binary):
    """The Debian packages of the binary's shared libraries."""
    packages = set()
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines():
        m = re.search(r"=> (/\S+)", line)
        if not m:
            continue
        path = os.path.realpath(m.group(1))
        for candidate in (path, m.group(1), "/usr" + m.group(1)):
            found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if found.returncode == 0:
                packages.add(found.stdout.split(":")[0])
                break
    # Present on every Debian image: not worth installing by name.
    return packages - {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def probe_paths_answer(binary, paths):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--workers", "1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 10
        while port is None and time.time() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = m.group(1)
        if port is None:
            return ["the gateway did not start"]
        problems = []
        for path in sorted(paths):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    if r.status != 200:
                        problems.append(f"{path} answered {r.status}")
            except urllib.error.URLError as e:
                problems.append(f"{path}: {e}")
        return problems
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def compose_environment(compose):
    """The gateway service's environment as compose passes it when the host sets none of
    its variables: "${X:-default}" is the default, "${X}" empty."""
    env = {}
    service = compose["services"]["gateway"]
    for name, value in (service.get("environment") or {}).items():
        value = "" if value is None else str(value)
        value = re.sub(r"\$\{[A-Z0-9_]+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
        env[name] = value
    return env


def starts_with_compose_environment(binary):
    """Starts the binary with compose's environment; problems, or none."""
    with open(os.path.join(DOCKER, "compose.yaml")) as f:
        env = compose_environment(yaml.safe_load(f))
    # Loopback only, a free port, and an upstream that is never called.
    env.update(OA_LISTEN="127.0.0.1:0", OA_UPSTREAM="http://127.0.0.1:9/v1",
               OA_SHUTDOWN_DELAY="0s")
    proc = subprocess.Popen([binary], env={**env, "PATH": os.environ.get("PATH", "")},
                            stderr=subprocess.PIPE, text=True)
    log = []
    deadline = time.time() + 10
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        if "listening on 127.0.0.1:" in line:
            proc.terminate()
            status = proc.wait(timeout=10)
            if status != 0:
                return [f"with compose's environment, the gateway exited {status} after SIGTERM"]
            return []
    proc.kill()
    proc.wait()
    return ["the gateway does not start with compose's environment "
            f"{sorted(env.items())}: " + "".join(log)[-500:]]


def main(argv):
    if len(argv) not in (2, 3) or argv[2:] not in ([], ["--skip-libraries"]):
        print(__doc__, file=sys.stderr)
        return 2
    binary = argv[1]
    check_libraries = argv[2:] != ["--skip-libraries"]
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"--([a-z][a-z0-9-]*)", help_text))
    problems, flags, variables, paths = [], set(), set(), set()
    for path in files():
        text = open(path).read()
        if path.endswith((".yaml", ".yml")):
            try:
                list(yaml.safe_load_all(text))
            except yaml.YAMLError as e:
                problems.append(f"{path}: not YAML: {e}")
            # The gateway's flags appear in the YAML files' container args; the
            # Dockerfile's --flags are Docker's own.
            flags |= set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)=", text))
        variables |= set(re.findall(r"\bOA_([A-Z0-9_]+)\b", text))
        paths |= set(re.findall(r"(?:path: |127\.0\.0\.1:(?:8080|\$\{OA_LISTEN##\*:\}))"
                                r"(/(?:health|ready)\b)", text))
    for flag in sorted(flags - known):
        problems.append(f"--{flag} is used in docker/ but is no setting of {binary}")
    for var in sorted(variables):
        if var.lower().replace("_", "-") not in known:
            problems.append(f"OA_{var} is used in docker/ but is no setting of {binary}")
    problems += starts_with_compose_environment(binary)
    problems += probe_paths_answer(binary, paths)
    dockerfile = open(os.path.join(DOCKER, "Dockerfile")).read()
    runtime = dockerfile[dockerfile.rindex("FROM "):]
    for package in sorted(library_packages(binary) if check_libraries else []):
        if not re.search(rf"(?<![\w.+-]){re.escape(package)}(?![\w.+-])", runtime):
            problems.append(f"the runtime image does not install {package}, which {binary} needs")
    for p in problems:
        print(p)
    print(f"docker/: {len(flags)} flags, {len(variables)} variables, probe paths "
          f"{sorted(paths)}; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
