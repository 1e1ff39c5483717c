#!/usr/bin/python3
"""Runs one typed gRPC client of tests/clients/typed/ against the gateway in front of the
project's mock OpenAI.

    run_typed_client.py LANG GEN_DIR [CPP_BINARY]      LANG: py, ts, go or cpp

For py, ts and go it first generates that language's stubs from proto/ into GEN_DIR/LANG
with scripts/gen-clients.sh and builds the client there (ts: tsc --strict; go: go build);
the C++ client is built by CMake (tests/clients/CMakeLists.txt) and given as CPP_BINARY.
Then it starts the mock and a gateway (debug log), runs the client with the gateway's
address, the mock's URL and the key in OPENAI_API_KEY, and checks that the client passed
and that the key is nowhere in the gateway's log. Prints how long each step took.

Run by CTest (typed_client_py, _ts, _go, _cpp) with OA_BYPASS_BINARY and OA_MOCK_BINARY;
by hand, from the repository after a build:
    /usr/bin/python3 tests/clients/typed/run_typed_client.py go build/tests/clients/typed
    /usr/bin/python3 tests/clients/typed/run_typed_client.py cpp build/tests/clients/typed \
        build/tests/clients/typed_client_cpp
"""

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "support"))
from oa_test_support import GATEWAY_BINARY, MOCK_BINARY, ROOT, Process  # noqa: E402

KEY = "sk-typed-client-test-key-0123456789SECRET"
NODE_MODULES = os.path.join(ROOT, "tests", "clients", "node_modules")
START_TIMEOUT_S = 20
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120
NAMES = {"py": "Python", "ts": "TypeScript", "go": "Go", "cpp": "C++"}


class Failed(Exception):
    pass


def run(step, args, timeout, **kwargs):
    """Runs a build step; its output is shown only when it fails."""
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as expired:
        raise Failed(f"{step}: did not finish within {timeout} s:\n"
                     f"{(expired.output or b'').decode(errors='replace')}") from None
    if done.returncode != 0:
        raise Failed(f"{step}: exit code {done.returncode}:\n"
                     f"{done.stdout.decode(errors='replace')}")
    return done.stdout.decode(errors="replace")


def timed(label, function, *args):
    started = time.monotonic()
    result = function(*args)
    print(f"[{label}: {time.monotonic() - started:.1f} s]", flush=True)
    return result


def generate(lang, gen_dir):
    out = run(f"generating the {NAMES[lang]} stubs (scripts/gen-clients.sh)",
              [os.path.join(ROOT, "scripts", "gen-clients.sh"), gen_dir, lang], 300)
    print(out.strip())


def go_env(gen_dir):
    """Go in vendor mode (gen-clients.sh links Debian's Go libraries as vendor/), offline."""
    env = dict(os.environ, GOFLAGS="-mod=vendor -trimpath", GOPROXY="off", GO111MODULE="on")
    # go wants a build cache; without HOME it has none. -trimpath lets the cache serve
    # another build tree, so a second build (build-asan/) reuses the first one's.
    if not any(env.get(v) for v in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = os.path.join(gen_dir, "go-cache")
    return env


def build(lang, gen_dir):
    """The command that runs the client, once built."""
    source = os.path.join(HERE, "typed_client." + lang)
    if lang == "py":
        return ["/usr/bin/python3", source], {"PYTHONPATH": os.path.join(gen_dir, "py")}
    if lang == "ts":
        ts = os.path.join(gen_dir, "ts")
        shutil.copy(source, ts)
        # Only the client and what it imports, not every generated file.
        with open(os.path.join(ts, "tsconfig.typed.json"), "w") as f:
            f.write('{ "extends": "./tsconfig.json", "include": ["typed_client.ts"] }\n')
        run("compiling the TypeScript client (tsc --strict)",
            [os.path.join(NODE_MODULES, ".bin", "tsc"), "--strict", "-p",
             os.path.join(ts, "tsconfig.typed.json")], BUILD_TIMEOUT_S)
        return ["node", os.path.join(ts, "dist", "typed_client.js")], {}
    if lang == "go":
        go = os.path.join(gen_dir, "go")
        os.makedirs(os.path.join(go, "cmd", "typed_client"), exist_ok=True)
        shutil.copy(source, os.path.join(go, "cmd", "typed_client", "main.go"))
        binary = os.path.join(go, "typed_client")
        env = go_env(gen_dir)
        run("compiling the Go client (go build)",
            ["go", "build", "-o", binary, "./cmd/typed_client"], BUILD_TIMEOUT_S, cwd=go, env=env)
        return [binary], {}
    raise AssertionError(lang)


def start_mock_and_gateway():
    mock = Process([MOCK_BINARY, "--host", "127.0.0.1", "--port", "0"], "stdout")
    try:
        port = mock.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S).group(1)
        mock_url = f"http://127.0.0.1:{port}"
        gateway = Process([GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--upstream",
                           f"{mock_url}/v1", "--workers", "2", "--log-level", "debug"], "stderr")
    except Exception:
        mock.stop()
        raise
    try:
        port = gateway.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S).group(1)
    except Exception:
        gateway.stop()
        mock.stop()
        raise
    return mock, mock_url, gateway, f"127.0.0.1:{port}"


def run_client(command, extra_env, address, mock_url):
    env = dict(os.environ, OPENAI_API_KEY=KEY, **extra_env)
    try:
        done = subprocess.run(command + [address, mock_url], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as expired:
        return None, (expired.output or b"").decode(errors="replace")
    except OSError as error:
        raise Failed(f"cannot run the client: {error}") from None
    return done.returncode, done.stdout.decode(errors="replace")


def mask(text):
    return text.replace(KEY, "<key>").replace(KEY[len("sk-"):], "<key>")


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in NAMES:
        sys.exit("usage: run_typed_client.py py|ts|go|cpp GEN_DIR [CPP_BINARY]")
    lang, gen_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    name = NAMES[lang]
    try:
        if lang == "cpp":
            if len(sys.argv) != 4:
                raise Failed("the C++ client's binary is an argument (built by CMake)")
            command, extra_env = [sys.argv[3]], {}
        else:
            timed(f"{name}: generate", generate, lang, gen_dir)
            command, extra_env = timed(f"{name}: build", build, lang, gen_dir)

        mock, mock_url, gateway, address = start_mock_and_gateway()
        try:
            code, output = timed(f"{name}: run", run_client, command, extra_env, address,
                                 mock_url)
        finally:
            gateway.stop()
            mock.stop()
        log = gateway.output()
        # Nothing with the key in it is printed: CTest keeps what tests print.
        print(mask(output), end="" if output.endswith("\n") else "\n")
        if mask(output) != output:
            raise Failed("the client printed the API key")
        if mask(log) != log:
            raise Failed("the API key leaked into the gateway's log")
        if code != 0:
            failure = (f"the client did not finish within {RUN_TIMEOUT_S} s" if code is None
                       else f"the client failed (exit code {code})")
            tail = "\n".join(log.splitlines()[-20:])
            raise Failed(f"{failure}; the gateway's log ends with:\n{tail}")
        for method in ("CreateChatCompletion", "CreateResponse", "CreateEmbedding", "CreateFile"):
            if method not in log:
                raise Failed(f"the gateway's debug log does not name {method}")
        print(f"ok   {name}: the key is not in the gateway's debug log")
    except Failed as failure:
        print(f"FAIL typed client, {name}: {failure}", flush=True)
        sys.exit(1)
    print(f"PASS typed client, {name}")


if __name__ == "__main__":
    main()
