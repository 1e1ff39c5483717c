#!/usr/bin/python3
"""Runs the benchmarks: the same scenarios against each target, round after round in
turn, and writes the figures to bench/results/ and bench/README.md.

Targets, all on loopback and all relaying to the same bench_upstream:
  direct    the upstream itself: the limit of this machine and load generator
  oa-bypass this repository's gateway (REST, and gRPC for the gRPC scenarios)
  nginx     Debian's nginx as a reverse proxy, tuned: upstream keep-alive, no buffering
  portkey   the Portkey AI gateway from npm, pointed at the upstream as a custom host

Scenarios (--scenarios, all by default): json, rate, sse, transfer, streams, grpc,
websocket. A run of some of them merges its figures into results/latest.json, beside those
of the last run of the others, and the report says which run each section comes from.

Run through bench/run.sh, which builds and installs what this needs. Uses Debian's
python3 (for python3-protobuf, to encode the gRPC requests).
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
KEY = "sk-bench-not-a-real-key-0000000000000000"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
# The same request as the typed API's message, in proto3's JSON mapping: a union is a
# oneof, here the user message's variant and its content's text.
CHAT_GRPC = {"model": "gpt-4o-mini", "messages": [{"user": {"content": {"text": "Hello"}}}]}
GRPC_UNARY = "/openai.v1.ChatService/CreateChatCompletion"
GRPC_STREAM = "/openai.v1.ChatService/CreateChatCompletionStream"
MiB = 1 << 20
# The path of the WebSocket upgrades: the Realtime API's, which the gateway models.
WS_PATH = "/v1/realtime?model=gpt-4o-realtime-preview"
# Each scenario's keys in the results, and how its failures begin.
SCENARIOS = {
    "json": (["json"], ["json on"]),
    "rate": (["rate"], ["rate on"]),
    "sse": (["sse"], ["sse on"]),
    "transfer": (["upload", "download"], ["upload on", "download on"]),
    "streams": (["streams"], ["streams"]),
    "grpc": (["grpc", "grpc_first", "grpc_transfer", "grpc_streams"], ["grpc"]),
    "websocket": (["ws_echo", "ws_idle", "ws_large"], ["websocket"]),
}


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


def process_tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def family(pids):
    """The processes and all their descendants."""
    return {q for pid in pids for q in process_tree(pid)}


def rss_kib(pids):
    """Resident memory of the processes and their descendants, in KiB."""
    total = 0
    for p in family(pids):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_ticks(pids):
    """User and kernel CPU time of the processes and their descendants, in clock ticks."""
    user = kernel = 0
    for p in family(pids):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        user, kernel = user + int(fields[11]), kernel + int(fields[12])
    return user, kernel


def settled_rss(pids, most_s=20):
    """rss_kib() once it has stopped falling (by less than 512 KiB in 2 s), or after most_s:
    an allocator gives back what was freed before over some seconds (jemalloc's decay, 10 s),
    and what it still holds would take in the next sockets unseen."""
    last, deadline = rss_kib(pids), time.monotonic() + most_s
    while time.monotonic() < deadline:
        time.sleep(2)
        now = rss_kib(pids)
        if last - now < 512:
            return now
        last = now
    return last


class PeakRss:
    """Samples a process tree's RSS every 20 ms while in use; .peak is the highest."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pids))
            self._stop.wait(0.02)

    def __enter__(self):
        self.peak = rss_kib(self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Target:
    def __init__(self, name, port, pids, headers=()):
        self.name, self.port, self.pids, self.headers = name, port, pids, list(headers)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


class Fleet:
    """Starts and stops the upstream and the targets."""

    def __init__(self, args, workdir):
        self.args, self.workdir, self.procs = args, workdir, []
        self.build = Path(args.build_dir).resolve()

    def start(self, name, argv, port=None, env=None, ready_line=None):
        out = open(self.workdir / f"{name}.log", "w")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE if ready_line else out,
                                stderr=out, env=env, cwd=self.workdir, text=True,
                                start_new_session=True)
        self.procs.append(proc)
        if ready_line:
            line = proc.stdout.readline()
            if ready_line not in line:
                raise RuntimeError(f"{name}: expected '{ready_line}', got {line!r}")
            port = int(line.rsplit(":", 1)[1])
        wait_port(port, proc)
        return proc, port

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def upstream(self):
        proc, port = self.start("upstream", [str(self.build / "bench/bench_upstream"),
                                             "--threads", str(self.args.upstream_threads)],
                                ready_line="listening on")
        self.upstream_port = port
        return Target("direct", port, [proc.pid])

    def oa_bypass(self, name="oa-bypass", extra=()):
        """One gateway process, or --gateway-processes of them sharing the port (SO_REUSEPORT),
        each with its share of the cores, as nginx runs a worker process per core. `extra`:
        more flags (the gRPC scenario's second gateway serves gRPC on its workers)."""
        port = free_port()
        count = self.args.gateway_processes
        workers = max(1, (os.cpu_count() or 1) // count)
        pids = []
        for i in range(count):
            proc, _ = self.start(f"{name}-{i}", [
                str(self.build / "oa-bypass"), f"--listen=127.0.0.1:{port}",
                f"--upstream=http://127.0.0.1:{self.upstream_port}/v1", f"--workers={workers}",
                # The open-streams scenario holds 10,000 upstream connections, past the
                # default cap of 4,096 a worker; nginx runs with worker_connections 32768.
                "--upstream-pool-max-idle=1024", "--upstream-max-connections=16384", *extra]
                + (["--listen-shared"] if count > 1 else []),
                port=port)
            pids.append(proc.pid)
            # The port answers as soon as the first process listens: wait for each one's line.
            log_file = self.workdir / f"{name}-{i}.log"
            deadline = time.monotonic() + 30
            while "listening on" not in log_file.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"oa-bypass process {i} did not start: "
                                       f"{log_file.read_text()[-500:]}")
                time.sleep(0.05)
        return Target(name, port, pids)

    def nginx(self):
        port = free_port()
        conf = self.workdir / "nginx.conf"
        (self.workdir / "nginx-logs").mkdir(exist_ok=True)
        conf.write_text((BENCH / "nginx.conf.in").read_text()
                        .replace("@WORKDIR@", str(self.workdir))
                        .replace("@PORT@", str(port))
                        .replace("@UPSTREAM_PORT@", str(self.upstream_port)))
        proc, _ = self.start("nginx", ["nginx", "-p", str(self.workdir), "-c", str(conf),
                                       "-g", "daemon off;"], port=port)
        return Target("nginx", port, [proc.pid])

    def portkey(self):
        port = free_port()
        env = dict(os.environ, NODE_ENV="production")
        script = BENCH / "portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
        proc, _ = self.start("portkey", ["node", str(script), f"--port={port}", "--headless"],
                             port=port, env=env)
        return Target("portkey", port, [proc.pid], [
            "x-portkey-provider: openai",
            f"x-portkey-custom-host: http://127.0.0.1:{self.upstream_port}/v1"])


# ---- scenarios -------------------------------------------------------------------------


def wrk_json(target, seconds, connections, workdir):
    """Small chat completions at fixed concurrency, through wrk."""
    script = workdir / f"wrk-{target.name}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = '{json.dumps(CHAT)}'",
             'wrk.headers["Content-Type"] = "application/json"',
             f'wrk.headers["Authorization"] = "Bearer {KEY}"']
    for header in target.headers:
        name, value = header.split(": ", 1)
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    script.write_text("\n".join(lines) + "\n")
    cpu_before = cpu_ticks(target.pids)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), target.url("/v1/chat/completions")],
                         capture_output=True, text=True, check=True).stdout
    cpu_after = cpu_ticks(target.pids)
    result = {"non_2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        words = line.split()
        if " requests in " in line:
            # The target's CPU time a call: at 60,000 calls/s for 8 s, a clock tick (10 ms)
            # is 0.02 µs of it.
            tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
            calls = int(words[0])
            result["user_us"] = (cpu_after[0] - cpu_before[0]) * tick_us / calls
            result["kernel_us"] = (cpu_after[1] - cpu_before[1]) * tick_us / calls
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif words[:1] == ["50%"]:
            result["p50_ms"] = wrk_ms(words[1])
        elif words[:1] == ["99%"]:
            result["p99_ms"] = wrk_ms(words[1])
        elif line.strip().startswith("Non-2xx"):
            result["non_2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors"):
            result["socket_errors"] = sum(int(w.strip(",")) for w in words[3::2])
    if "rps" not in result:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    return result


def wrk_ms(text):
    for suffix, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * scale
    raise ValueError(text)


def bench_load(fleet, target, mode, body, extra, headers=()):
    body_file = fleet.workdir / ("stream.json" if body.get("stream") else "chat.json")
    body_file.write_text(json.dumps(body))
    argv = [str(fleet.build / "bench/bench_load"), f"--mode={mode}", f"--port={target.port}",
            f"--body-file={body_file}", f"--header=authorization: Bearer {KEY}", *extra]
    argv += [f"--header={h}" for h in [*target.headers, *headers]]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if not proc.stdout.strip():
        raise RuntimeError(f"bench_load failed: {proc.stderr}")
    return json.loads(proc.stdout)


def fixed_rate(fleet, target, rate, seconds):
    r = bench_load(fleet, target, "rate", CHAT,
                   [f"--rate={rate}", f"--seconds={seconds}", "--connections=64"])
    return {"p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "achieved_rps": r["achieved_rps"], "errors": r["errors"]}


def sse(fleet, target, events, gap_ms, streams):
    r = bench_load(fleet, target, "sse", dict(CHAT, stream=True), [f"--streams={streams}"],
                   [f"x-bench-events: {events}", f"x-bench-gap-ms: {gap_ms}"])
    return {"first_event_p50_ms": r["first_event_p50_us"] / 1000,
            "first_event_p99_ms": r["first_event_p99_us"] / 1000,
            "relay_delay_p50_ms": r["relay_delay_p50_us"] / 1000,
            "relay_delay_p99_ms": r["relay_delay_p99_us"] / 1000,
            "events": r["events"], "expected_events": events * streams,
            "completed": r["completed"], "errors": r["errors"], "first_error": r["first_error"]}


def hold_open(target, argv, ready, before, hold_s, ramp_ms):
    """Runs bench_load (argv, plus the target's headers) until it writes `ready` (all its
    connections open) or ends: whether all opened, the target's RSS then (else its peak
    from `before`), and bench_load's output once it ends."""
    argv = argv + [f"--header={h}" for h in target.headers]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = before
    while proc.poll() is None and not ready.exists():
        peak = max(peak, rss_kib(target.pids))
        time.sleep(0.05)
    all_open = ready.exists()
    during = rss_kib(target.pids) if all_open else peak
    try:
        out, err = proc.communicate(timeout=max(60, hold_s * 4 + ramp_ms / 1000 * 4))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return all_open, during, out, err


def open_streams(fleet, target, count, hold_s):
    """count streams open at once; the target's RSS once all have had their first event."""
    ready = fleet.workdir / f"ready-{target.name}-{count}"
    ready.unlink(missing_ok=True)
    time.sleep(1)
    before = rss_kib(target.pids)
    body_file = fleet.workdir / "stream.json"
    body_file.write_text(json.dumps(dict(CHAT, stream=True)))
    ramp_ms = max(1000, count // 2)
    events = int((ramp_ms / 1000 + hold_s) / 0.5) + 1
    argv = [str(fleet.build / "bench/bench_load"), "--mode=sse", f"--port={target.port}",
            f"--body-file={body_file}", f"--streams={count}", f"--ramp-ms={ramp_ms}",
            f"--ready-file={ready}", f"--header=authorization: Bearer {KEY}",
            f"--header=x-bench-events: {events}", "--header=x-bench-gap-ms: 500"]
    all_open, during, out, err = hold_open(target, argv, ready, before, hold_s, ramp_ms)
    r = json.loads(out) if out.strip() else {"completed": 0, "errors": count}
    return {"streams": count, "all_open": all_open, "completed": r["completed"],
            "errors": r["errors"], "first_error": r.get("first_error", ""),
            "rss_before_mib": before / 1024,
            "rss_open_mib": during / 1024,
            "kib_per_stream": (during - before) / count if all_open else None}


def first_event(target, rest, count):
    """Time from a stream's request to its first event, `count` streams one after another
    on one connection (the same Python client shape both ways, so its own cost is on both
    sides): REST's SSE over HTTP/1.1, or gRPC's CreateChatCompletionStream over HTTP/2
    (python3-h2). Returns the median and p99 in ms."""
    times = []
    sock = socket.create_connection(("127.0.0.1", target.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(10)
    try:
        if rest:
            body = json.dumps(dict(CHAT, stream=True)).encode()
            request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\n"
                       b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                       % len(body) + body)
            for _ in range(count):
                start = time.perf_counter()
                sock.sendall(request)
                seen, first = b"", None
                while not seen.endswith(b"\r\n0\r\n\r\n"):  # the chunked body's end
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise RuntimeError("the REST stream ended early")
                    seen += chunk
                    if first is None and b"data:" in seen:
                        first = time.perf_counter() - start
                times.append(first)
        else:
            import h2.config
            import h2.connection
            import h2.events
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            message = grpc_message(True)
            for _ in range(count):
                stream = conn.get_next_available_stream_id()
                start = time.perf_counter()
                conn.send_headers(stream, [
                    (":method", "POST"), (":scheme", "http"), (":authority", "bench"),
                    (":path", GRPC_STREAM), ("content-type", "application/grpc"),
                    ("te", "trailers"), ("authorization", f"Bearer {KEY}")])
                conn.send_data(stream, message, end_stream=True)
                sock.sendall(conn.data_to_send())
                first, ended = None, False
                while not ended:
                    data = sock.recv(65536)
                    if not data:
                        raise RuntimeError("the gRPC connection ended early")
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.DataReceived):
                            conn.acknowledge_received_data(event.flow_controlled_length,
                                                           event.stream_id)
                            if first is None and event.stream_id == stream:
                                first = time.perf_counter() - start
                        elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                            ended = ended or event.stream_id == stream
                    sock.sendall(conn.data_to_send())
                times.append(first)
    finally:
        sock.close()
    times.sort()
    return {"streams": count, "first_event_p50_ms": statistics.median(times) * 1000,
            "first_event_p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000}


def grpc_streams(fleet, target, count, hold_s):
    """count gRPC server streams (CreateChatCompletionStream) open at once, by h2load over
    connections of 100 streams each; the target's RSS once every stream has reached the
    upstream, less before, per stream."""
    time.sleep(1)
    before = rss_kib(target.pids)
    body = fleet.workdir / "grpc-stream.bin"
    body.write_bytes(grpc_message(True))
    events = int(hold_s / 0.5) + 20
    argv = ["h2load", "-n", str(count), "-c", str(-(-count // 100)), "-m", "100",
            "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"authorization: Bearer {KEY}", "-H", f"x-bench-events: {events}",
            "-H", "x-bench-gap-ms: 500", target.url(GRPC_STREAM)]
    reached_before = upstream_requests(fleet)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + hold_s + 30
    peak = before
    all_open = False
    while proc.poll() is None and time.monotonic() < deadline:
        peak = max(peak, rss_kib(target.pids))
        if upstream_requests(fleet) - reached_before >= count:
            all_open = True
            break
        time.sleep(0.1)
    time.sleep(0.5)  # every stream has had its first event
    during = rss_kib(target.pids) if all_open else peak
    try:
        out, _ = proc.communicate(timeout=events * 0.5 + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    succeeded = 0
    for line in out.splitlines():
        if line.startswith("requests:"):
            succeeded = int(line.split()[7])
    return {"streams": count, "all_open": all_open, "completed": succeeded,
            "rss_before_mib": before / 1024, "rss_open_mib": during / 1024,
            "kib_per_stream": (during - before) / count if all_open else None}


def pb_field(number, payload):
    """A length-delimited protobuf field (bytes, string or message), as the wire has it."""
    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def grpc_frame(message):
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_transfer(fleet, target, direction, megabytes):
    """A file of `megabytes` MiB over gRPC by h2load: up through FilesService/
    CreateFileUpload (a client stream of 1 MiB messages, the first with the file's name
    and purpose), or down through FilesService/DownloadFile (a stream of HttpBody)."""
    if direction == "upload":
        body = fleet.workdir / f"grpc-upload-{megabytes}.bin"
        if not body.exists():
            chunk = os.urandom(MiB)
            with open(body, "wb") as f:
                first = pb_field(1, pb_field(1, chunk) + pb_field(2, b"bench.bin") +
                                 pb_field(3, b"application/octet-stream"))
                f.write(grpc_frame(first + pb_field(2, b"assistants")))
                later = grpc_frame(pb_field(1, pb_field(1, chunk)))
                for _ in range(megabytes - 1):
                    f.write(later)
        path, extra = "/openai.v1.FilesService/CreateFileUpload", []
    else:
        body = fleet.workdir / "grpc-download.bin"
        body.write_bytes(grpc_frame(pb_field(1, b"file-bench")))
        path, extra = "/openai.v1.FilesService/DownloadFile", [
            "-H", f"x-bench-megabytes: {megabytes}"]
    argv = ["h2load", "-n", "1", "-c", "1", "-m", "1", "-d", str(body),
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"authorization: Bearer {KEY}", *extra, target.url(path)]
    with PeakRss(target.pids) as rss:
        before = rss.peak
        out = subprocess.run(argv, capture_output=True, text=True).stdout
    seconds, succeeded = None, 0
    for line in out.splitlines():
        words = line.split()
        if line.startswith("finished in"):
            seconds = wrk_ms(words[2].rstrip(",")) / 1000
        elif line.startswith("requests:"):
            succeeded = int(words[7])
    if not succeeded or not seconds:
        raise RuntimeError(f"h2load: {out[-300:]}")
    return {"status": 200, "mib_s": megabytes / seconds, "rss_before_mib": before / 1024,
            "rss_peak_mib": rss.peak / 1024}


def transfer(fleet, target, direction, megabytes):
    """One upload to /v1/files or download from /v1/files/<id>/content, through curl."""
    headers = [f"authorization: Bearer {KEY}", *target.headers]
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{speed_upload} %{speed_download}"]
    for h in headers:
        argv += ["-H", h]
    if direction == "upload":
        blob = fleet.workdir / f"upload-{megabytes}.bin"
        if not blob.exists():
            with open(blob, "wb") as f:
                f.write(os.urandom(MiB) * megabytes)
        argv += ["-H", "content-type: application/octet-stream", "-X", "POST", "-T", str(blob),
                 target.url("/v1/files")]
    else:
        argv += ["-H", f"x-bench-megabytes: {megabytes}", target.url("/v1/files/file-bench/content")]
    with PeakRss(target.pids) as rss:
        before = rss.peak
        out = subprocess.run(argv, capture_output=True, text=True).stdout.split()
    status, up, down = int(out[0]), float(out[1]), float(out[2])
    return {"status": status, "mib_s": (up if direction == "upload" else down) / MiB,
            "rss_before_mib": before / 1024, "rss_peak_mib": rss.peak / 1024}


def ws_load(fleet, target, mode, extra):
    """bench_load in a WebSocket mode against the target; its JSON figures."""
    argv = [str(fleet.build / "bench/bench_load"), f"--mode={mode}", f"--port={target.port}",
            f"--path={WS_PATH}", f"--header=authorization: Bearer {KEY}", *extra]
    argv += [f"--header={h}" for h in target.headers]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if not proc.stdout.strip():
        raise RuntimeError(f"bench_load failed: {proc.stderr}")
    return json.loads(proc.stdout)


def ws_round_trip(fleet, target, rate, seconds, connections):
    """1 KiB text frames echoed through the target at a fixed rate over all connections."""
    r = ws_load(fleet, target, "ws-echo", [f"--rate={rate}", f"--seconds={seconds}",
                                          f"--connections={connections}", "--frame-bytes=1024"])
    if not r["frames"]:
        raise RuntimeError(r["first_error"] or "no frame came back")
    return {"p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "achieved_fps": r["achieved_fps"], "frames": r["frames"], "errors": r["errors"],
            "first_error": r["first_error"]}


def ws_large(fleet, target, mib, frames):
    """One connection echoing binary frames of `mib` MiB, one at a time: the frame's size
    over its round trip, and the target's RSS before and at its peak."""
    with PeakRss(target.pids) as rss:
        before = rss.peak
        r = ws_load(fleet, target, "ws-echo", ["--rate=0", "--connections=1", "--binary",
                                               f"--frame-bytes={mib * MiB}", f"--frames={frames}",
                                               "--seconds=120"])
    if not r["frames"]:
        raise RuntimeError(r["first_error"] or "no frame came back")
    return {"mib_s": mib / (r["p50_us"] / 1e6), "round_trip_ms": r["p50_us"] / 1000,
            "frames": r["frames"], "errors": r["errors"], "first_error": r["first_error"],
            "rss_before_mib": before / 1024, "rss_peak_mib": rss.peak / 1024}


def ws_idle(fleet, target, count, hold_s):
    """count WebSockets open at once, each after one 1 KiB echo; the target's RSS once all
    are open, less its RSS before, per socket."""
    ready = fleet.workdir / f"ready-ws-{target.name}-{count}"
    ready.unlink(missing_ok=True)
    before = settled_rss(target.pids)
    ramp_ms = max(1000, count // 2)
    argv = [str(fleet.build / "bench/bench_load"), "--mode=ws-idle", f"--port={target.port}",
            f"--path={WS_PATH}", f"--streams={count}", f"--ramp-ms={ramp_ms}",
            f"--seconds={hold_s}", f"--ready-file={ready}", f"--header=authorization: Bearer {KEY}"]
    all_open, during, out, err = hold_open(target, argv, ready, before, hold_s, ramp_ms)
    r = json.loads(out) if out.strip() else {"opened": 0, "completed": 0, "errors": count}
    return {"sockets": count, "all_open": all_open, "opened": r["opened"],
            "completed": r["completed"], "errors": r["errors"],
            "first_error": r.get("first_error", err.strip()[-200:]),
            "rss_before_mib": before / 1024, "rss_open_mib": during / 1024,
            "kib_per_socket": (during - before) / count if all_open else None}


def grpc_message(stream):
    """A gRPC-framed CreateChatCompletionRequest, encoded from the committed descriptors."""
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString((ROOT / "gen/openai_v1.binpb").read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    cls = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("openai.v1.CreateChatCompletionRequest"))
    payload = json_format.ParseDict(dict(CHAT_GRPC, stream=True) if stream else CHAT_GRPC,
                                    cls()).SerializeToString()
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def h2load(fleet, target, path, stream, requests, connections, streams_per_connection,
           rest=False):
    """`requests` calls of `path` by h2load: gRPC (HTTP/2), or with `rest` the same chat
    completion as JSON over HTTP/1.1 (--h1; the streams a connection has are then requests
    pipelined on it). Adds the gateway's CPU time a call, from /proc."""
    if rest:
        body = fleet.workdir / ("rest-stream.json" if stream else "rest-unary.json")
        body.write_text(json.dumps(dict(CHAT, stream=True) if stream else CHAT))
        kind = ["--h1", "-H", "content-type: application/json"]
    else:
        body = fleet.workdir / ("grpc-stream.bin" if stream else "grpc-unary.bin")
        body.write_bytes(grpc_message(stream))
        kind = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    argv = ["h2load", "-n", str(requests), "-c", str(connections), "-m",
            str(streams_per_connection), "-d", str(body), *kind,
            "-H", f"authorization: Bearer {KEY}", target.url(path)]
    before = upstream_requests(fleet)
    cpu_before = cpu_seconds(target.pids)
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    cpu = cpu_seconds(target.pids) - cpu_before
    reached = upstream_requests(fleet) - before
    result = {"upstream_calls": reached, "requests": requests,
              "cpu_us_per_call": cpu * 1e6 / requests}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("finished in"):
            result["rps"] = float(words[3])
        elif line.startswith("requests:"):
            result["succeeded"] = int(words[7])
        elif line.startswith("time for request:"):
            result["mean_ms"] = wrk_ms(words[5])
            result["max_ms"] = wrk_ms(words[4])
    return result


def cpu_seconds(pids):
    """User plus system CPU time of `pids` so far, from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def upstream_requests(fleet):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{fleet.upstream_port}/__bench/stats") as r:
        return json.load(r)["requests"]


# ---- reporting -------------------------------------------------------------------------


def median_of(rounds, key):
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024

    def version(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"
    portkey = json.loads((BENCH / "portkey/node_modules/@portkey-ai/gateway/package.json")
                         .read_text())["version"]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "kernel": platform.release(), "nginx": version(["nginx", "-v"]),
            "node": version(["node", "--version"]), "portkey": portkey,
            "wrk": version(["wrk", "-v"]).split(" [")[0], "h2load": version(["h2load", "--version"]),
            "gateway_commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                                              "HEAD"], capture_output=True, text=True
                                             ).stdout.strip()}


def fmt(value, digits=1):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def transfer_rate(rows):
    failed = sorted({r["status"] for r in rows if r["status"] != 200})
    if failed:
        return "failed: HTTP " + ", ".join(map(str, failed))
    return fmt(median_of(rows, "mib_s"), 0)


def ratio(value, base):
    if value is None or not base:
        return "–"
    return f"{value / base:.2f}×"


def paired_ratio(rows, base_rows):
    """The median of rps(round) / base rps(same round), over the rounds both have, and
    the lowest and highest of those ratios."""
    base = {r.get("round"): r["rps"] for r in base_rows if r.get("rps")}
    ratios = [r["rps"] / base[r.get("round")] for r in rows
              if r.get("rps") and r.get("round") in base and r.get("round") is not None]
    if not ratios:
        return "–"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}×"
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def cpu_per_call(rows):
    user, kernel = median_of(rows, "user_us"), median_of(rows, "kernel_us")
    if user is None or kernel is None:
        return "–"
    return f"{user:.1f} + {kernel:.1f}"


def scenarios_of(results):
    """The scenarios whose figures the results hold (older results name none)."""
    return results.get("scenarios", [s for s in SCENARIOS if SCENARIOS[s][0][0] in results])


def report(results, args):
    m = results["machine"]
    names = results["targets"]
    ran = scenarios_of(results)
    out = [f"Run of {results['date']} at commit {m['gateway_commit']}, "
           f"`{results.get('command', 'bench/run.sh' + (' --quick' if args.quick else ''))}`: "
           f"{m['cpu']}, {m['cores']} cores, "
           f"{m['memory_gib']} GiB, Linux {m['kernel']}; {m['nginx']}, Node {m['node']}, "
           f"Portkey gateway {m['portkey']}, {m['wrk']}. Load generator, upstream and target "
           f"share the same cores. Figures are medians of {results.get('rounds', args.rounds)} "
           f"rounds, taken in turn (small chat completions: "
           f"{results.get('json_rounds', args.json_rounds)} rounds; open streams and idle "
           f"WebSockets: one round). oa-bypass ran as {results.get('gateway_processes', 1)} "
           f"process(es) sharing the port."]
    for part in results.get("partial_runs", []):
        pm = part["machine"]
        same = all(pm[k] == m[k] for k in ("cpu", "cores", "memory_gib", "kernel", "nginx"))
        out[-1] += (f" The {', '.join(part['scenarios'])} rows come from a later run: "
                    f"{part['date']} at commit {pm['gateway_commit']}, `{part['command']}`, "
                    f"medians of {part['rounds']} rounds, "
                    f"{'on the same machine' if same else pm['cpu'] + ', Linux ' + pm['kernel']}"
                    f", oa-bypass as {part['gateway_processes']} process(es).")
    out.append("")
    if "json" in ran:
        json_rows = results["json"]
        base = {n: median_of(json_rows.get(n, []), "rps") for n in names}
        out += ["### Small chat completions, 64 connections (wrk)", "",
                "Paired: the median, over rounds, of the target's requests/s over nginx's in the "
                "same round (rounds run the targets one after the other, so drift in the machine "
                "touches both alike), and in brackets the lowest and highest of those ratios. CPU "
                "a call: the target's own time, user + kernel, in µs (for direct, the "
                "mock's).", "",
                "| target | requests/s | p50 ms | p99 ms | vs direct | vs nginx | "
                "vs nginx, paired | CPU µs a call |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for n in names:
            rows = json_rows.get(n, [])
            out.append(f"| {n} | {fmt(base[n], 0)} | {fmt(median_of(rows, 'p50_ms'), 2)} | "
                       f"{fmt(median_of(rows, 'p99_ms'), 2)} | {ratio(base[n], base.get('direct'))}"
                       f" | {ratio(base[n], base.get('nginx'))} | "
                       f"{paired_ratio(rows, json_rows.get('nginx', []))} | {cpu_per_call(rows)} |")
    if "rate" in ran:
        out += ["", f"### Added latency at {args.rate} requests/s (bench_load, open loop)", "",
                "| target | achieved rps | p50 ms | p99 ms | added p50 ms | added p99 ms | "
                "errors |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        rate = results["rate"]
        d50 = median_of(rate.get("direct", []), "p50_ms")
        d99 = median_of(rate.get("direct", []), "p99_ms")
        for n in names:
            rows = rate.get(n, [])
            p50, p99 = median_of(rows, "p50_ms"), median_of(rows, "p99_ms")
            out.append(f"| {n} | {fmt(median_of(rows, 'achieved_rps'), 0)} | {fmt(p50, 3)} | "
                       f"{fmt(p99, 3)} | "
                       f"{fmt(p50 - d50 if p50 is not None else None, 3)} | "
                       f"{fmt(p99 - d99 if p99 is not None else None, 3)} | "
                       f"{sum(r.get('errors', 0) for r in rows)} |")
    if "sse" in ran:
        out += ["", "### SSE: 10 streams of 100 events, 10 ms apart", "",
                "| target | first event p50 ms | first event p99 ms | relay delay p50 ms | "
                "relay delay p99 ms | events received |",
                "|---|---:|---:|---:|---:|---:|"]
        for n in names:
            rows = results["sse"].get(n, [])
            got = sum(r["events"] for r in rows)
            want = sum(r["expected_events"] for r in rows)
            out.append(f"| {n} | {fmt(median_of(rows, 'first_event_p50_ms'), 2)} | "
                       f"{fmt(median_of(rows, 'first_event_p99_ms'), 2)} | "
                       f"{fmt(median_of(rows, 'relay_delay_p50_ms'), 3)} | "
                       f"{fmt(median_of(rows, 'relay_delay_p99_ms'), 3)} | {got:,} of {want:,} |")
    if "streams" in ran:
        out += ["", "### Concurrent open SSE streams", "",
                "| target | streams | all open | completed | RSS idle MiB | RSS all open MiB | "
                "KiB per stream |", "|---|---:|---|---:|---:|---:|---:|"]
        for n in names:
            for r in results["streams"].get(n, []):
                out.append(f"| {n} | {r['streams']:,} | {'yes' if r['all_open'] else 'no'} | "
                           f"{r['completed']:,} | {fmt(r['rss_before_mib'])} | "
                           f"{fmt(r['rss_open_mib'])} | {fmt(r['kib_per_stream'])} |")
    if "transfer" in ran:
        out += ["", f"### {args.transfer_mib} MiB bodies (curl)", "",
                "| target | upload MiB/s | download MiB/s | RSS idle MiB | RSS peak upload | "
                "RSS peak download |", "|---|---:|---:|---:|---:|---:|"]
        for n in names:
            up, down = results["upload"].get(n, []), results["download"].get(n, [])
            out.append(f"| {n} | {transfer_rate(up)} | {transfer_rate(down)} | "
                       f"{fmt(median_of(up, 'rss_before_mib'))} | "
                       f"{fmt(median_of(up, 'rss_peak_mib'))} | "
                       f"{fmt(median_of(down, 'rss_peak_mib'))} |")
    if "grpc" in ran:
        out += ["", "### gRPC front of oa-bypass beside its REST front (h2load, 16 connections "
                "× 8 streams; REST: HTTP/1.1, 8 requests pipelined a connection)", "",
                "The same chat completion each time: JSON on REST, the typed message on gRPC. "
                "`grpc++` is `--grpc-server=grpc++`, `workers` is `--grpc-server=workers`; a "
                "stream is 100 events. CPU is the gateway's, user plus system, from /proc.", "",
                "| call | calls/s | events/s | mean ms | max ms | CPU µs a call | succeeded | "
                "reached the upstream |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, rows in results["grpc"].items():
            events = median_of(rows, 'rps') * 100 if "stream" in name and rows else None
            out.append(f"| {name} | {fmt(median_of(rows, 'rps'), 0)} | {fmt(events, 0)} | "
                       f"{fmt(median_of(rows, 'mean_ms'), 2)} | {fmt(median_of(rows, 'max_ms'), 2)}"
                       f" | {fmt(median_of(rows, 'cpu_us_per_call'), 1)}"
                       f" | {sum(r.get('succeeded', 0) for r in rows):,} of "
                       f"{sum(r['requests'] for r in rows):,} | "
                       f"{sum(r['upstream_calls'] for r in rows):,} |")
        if results.get("grpc_first"):
            out += ["", "Time to a stream's first event, streams one after another on one "
                    "connection, the same Python client shape both ways (REST: SSE over "
                    "HTTP/1.1; gRPC: python3-h2):", "",
                    "| front | streams | first event p50 ms | p99 ms |", "|---|---:|---:|---:|"]
            for name, rows in results["grpc_first"].items():
                out.append(f"| {name} | {sum(r['streams'] for r in rows):,} | "
                           f"{fmt(median_of(rows, 'first_event_p50_ms'), 3)} | "
                           f"{fmt(median_of(rows, 'first_event_p99_ms'), 3)} |")
        if results.get("grpc_transfer"):
            out += ["", "Bodies both ways (REST: curl, as the transfer scenario; gRPC: h2load, "
                    "`CreateFileUpload` in 1 MiB messages and `DownloadFile`):", "",
                    "| body | MiB/s | RSS before MiB | RSS peak MiB |", "|---|---:|---:|---:|"]
            for name, rows in results["grpc_transfer"].items():
                out.append(f"| {name} | {fmt(median_of(rows, 'mib_s'))} | "
                           f"{fmt(median_of(rows, 'rss_before_mib'))} | "
                           f"{fmt(median_of(rows, 'rss_peak_mib'))} |")
        if results.get("grpc_streams"):
            out += ["", "Open streams held by each front at once (REST: SSE by bench_load; gRPC: "
                    "h2load, 100 streams a connection), every one past its first event:", "",
                    "| streams | all open | completed | RSS before MiB | RSS open MiB | "
                    "KiB a stream |", "|---|---|---:|---:|---:|---:|"]
            for name, rows in results["grpc_streams"].items():
                for r in rows:
                    out.append(f"| {name} | {'yes' if r['all_open'] else 'no'} | "
                               f"{r['completed']:,} | {fmt(r['rss_before_mib'])} | "
                               f"{fmt(r['rss_open_mib'])} | {fmt(r['kib_per_stream'])} |")
    if "websocket" in ran:
        out += websocket_report(results)
    if results["failures"]:
        out += ["", "### What did not work", ""]
        out += [f"- {f}" for f in dict.fromkeys(results["failures"])]  # once, not per round
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)) + "\n"


def websocket_report(results):
    meta = results.get("ws_meta")
    if meta is None:  # the run ended before the scenario did
        return []
    names = meta["targets"]
    echo, large, idle = results["ws_echo"], results["ws_large"], results["ws_idle"]
    out = ["", f"### WebSocket: 1 KiB text frames echoed, {meta['rate']:,} frames/s over "
           f"{meta['connections']} connections (bench_load --mode ws-echo)", "",
           "Each round trip counts from the frame's scheduled send to its echo's arrival; "
           "added: minus the direct path's.", "",
           "| target | frames/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    d50 = median_of(echo.get("direct", []), "p50_ms")
    d99 = median_of(echo.get("direct", []), "p99_ms")
    for n in names:
        rows = echo.get(n, [])
        p50, p99 = median_of(rows, "p50_ms"), median_of(rows, "p99_ms")
        out.append(f"| {n} | {fmt(median_of(rows, 'achieved_fps'), 0)} | {fmt(p50, 3)} | "
                   f"{fmt(p99, 3)} | {fmt(p50 - d50 if None not in (p50, d50) else None, 3)} | "
                   f"{fmt(p99 - d99 if None not in (p99, d99) else None, 3)} | "
                   f"{sum(r.get('errors', 0) for r in rows)} |")
    out += ["", "### WebSocket: idle open sockets (bench_load --mode ws-idle)", "",
            "Each socket carried one 1 KiB echo, then stays open; RSS of the target's "
            "processes once all are open, less before, per socket.", "",
            "| target | sockets | all open | closed cleanly | RSS idle MiB | RSS all open MiB | "
            "KiB per socket |", "|---|---:|---|---:|---:|---:|---:|"]
    for n in names:
        for r in idle.get(n, []):
            out.append(f"| {n} | {r['sockets']:,} | {'yes' if r['all_open'] else 'no'} | "
                       f"{r['completed']:,} | {fmt(r['rss_before_mib'])} | "
                       f"{fmt(r['rss_open_mib'])} | {fmt(r['kib_per_socket'])} |")
    out += ["", f"### WebSocket: a {meta['frame_mib']} MiB binary frame echoed, one at a time "
            f"({meta['frames']} a round)", "",
            "MiB/s: the frame's size over its round trip (it crosses the target both ways, the "
            "echo once the upstream has it whole).", "",
            "| target | MiB/s | round trip ms | RSS idle MiB | RSS peak MiB |",
            "|---|---:|---:|---:|---:|"]
    for n in names:
        rows = large.get(n, [])
        out.append(f"| {n} | {fmt(median_of(rows, 'mib_s'), 0)} | "
                   f"{fmt(median_of(rows, 'round_trip_ms'), 1)} | "
                   f"{fmt(median_of(rows, 'rss_before_mib'))} | "
                   f"{fmt(median_of(rows, 'rss_peak_mib'))} |")
    return out


def plot(results, out_png, workdir):
    names = results["targets"]
    data = workdir / "plot.dat"
    with open(data, "w") as f:
        for i, n in enumerate(names):
            rows = results["json"].get(n, [])
            f.write(f'{i} "{n}" {median_of(rows, "rps") or 0} {median_of(rows, "p99_ms") or 0}\n')
    script = f"""
set terminal pngcairo size 900,420 font "sans,10"
set output "{out_png}"
set multiplot layout 1,2 title "Small chat completions, 64 connections (wrk), {results['date']}"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xrange [-0.6:{len(names) - 0.4}]
unset key
set title "throughput (requests/s)"
plot "{data}" using 1:3:xtic(2) with boxes lc rgb "#3366aa", \
     "" using 1:3:(sprintf("%.0f", $3)) with labels offset 0,0.7
set title "p99 latency (ms, log scale)"
set logscale y
set yrange [0.1:*]
plot "{data}" using 1:4:xtic(2) with boxes lc rgb "#aa5533", \
     "" using 1:4:(sprintf("%.2f", $4)) with labels offset 0,0.7
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def update_readme(table):
    readme = BENCH / "README.md"
    text = readme.read_text()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    plot = "![Throughput and p99 latency by target](results/latest.png)\n\n"
    readme.write_text(f"{head}{begin}\n## Latest results\n\n{plot}{table}{end}{tail}")


def merge_partial(results, previous):
    """The previous full run's results with the scenarios of this partial run replaced,
    and a note of where those came from."""
    merged = dict(previous)
    ran = results["scenarios"]
    prefixes = tuple(prefix for s in ran for prefix in SCENARIOS[s][1])
    for s in ran:
        for key in SCENARIOS[s][0]:
            merged[key] = results.get(key, {})
    if "websocket" in ran and "ws_meta" in results:
        merged["ws_meta"] = results["ws_meta"]
    merged["failures"] = [f for f in previous.get("failures", []) if not f.startswith(prefixes)]
    merged["failures"] += [f for f in results["failures"] if f not in merged["failures"]]
    parts = []
    for part in previous.get("partial_runs", []):
        part = dict(part, scenarios=[s for s in part["scenarios"] if s not in ran])
        if part["scenarios"]:
            parts.append(part)
    parts.append({key: results[key] for key in ("scenarios", "date", "machine", "command",
                                                "rounds", "gateway_processes")})
    merged["partial_runs"] = parts
    merged["scenarios"] = [s for s in SCENARIOS if s in ran or s in scenarios_of(previous)]
    return merged


def write_results(results, args, workdir):
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    name = "quick" if args.quick else "latest"  # a trial never replaces the committed run
    previous = out_dir / "latest.json"
    ran = set(scenarios_of(results))
    plotted = "json" in ran  # a run without it leaves the plot of the run that had it
    if not args.quick and not args.report_only and ran != set(SCENARIOS) and previous.exists():
        results = merge_partial(results, json.loads(previous.read_text()))
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = report(results, args)
    (out_dir / f"{name}.md").write_text(table)
    if shutil.which("gnuplot") and plotted:
        plot(results, out_dir / f"{name}.png", workdir)
    if not args.no_readme and not args.quick:
        update_readme(table)
    print(table)


# ---- main ------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    parser.add_argument("--targets", default="direct,oa-bypass,nginx,portkey")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="the scenarios to run, of " + ", ".join(SCENARIOS) + "; a run of "
                             "some merges them into results/latest.json (not with --quick)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-rounds", type=int, default=7,
                        help="rounds of the small-JSON scenario, whose ratio to nginx is the "
                             "closest call (wrk's rounds on shared cores spread by 10%%)")
    parser.add_argument("--seconds", type=float, default=8, help="each wrk and rate run")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--streams", default="1000,10000")
    parser.add_argument("--transfer-mib", type=int, default=100)
    parser.add_argument("--ws-connections", type=int, default=64,
                        help="WebSockets carrying the 1 KiB echoes, at --rate frames/s in all")
    parser.add_argument("--ws-sockets", default="1000,10000", help="idle WebSockets held open")
    parser.add_argument("--ws-frame-mib", type=int, default=20, help="the large frame's size")
    parser.add_argument("--ws-frames", type=int, default=10,
                        help="large frames echoed a round, one at a time")
    parser.add_argument("--upstream-threads", type=int, default=1)
    parser.add_argument("--gateway-processes", type=int, default=1,
                        help="oa-bypass processes sharing the port (run.sh: 2 when one "
                             "process may not hold two descriptors per stream)")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the targets' logs (to see why a peer failed)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite the table, plot and README section "
                             "from results/latest.json")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((BENCH / "results/latest.json").read_text())
        args.quick, args.rounds = results.get("quick", False), results.get("rounds", 3)
        args.json_rounds = results.get("json_rounds", args.rounds)
        write_results(results, args, Path(tempfile.mkdtemp(prefix="oa-bench-")))
        return
    if args.quick:
        args.rounds, args.json_rounds, args.seconds, args.streams = 1, 1, 2, "200"
        args.ws_sockets, args.ws_frames = "200", 3
    wanted = args.targets.split(",")
    ran = args.scenarios.split(",")
    unknown = [s for s in ran if s not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}; there are {', '.join(SCENARIOS)}")

    workdir = Path(tempfile.mkdtemp(prefix="oa-bench-"))
    fleet = Fleet(args, workdir)
    command = "bench/run.sh" + (" --quick" if args.quick else "")
    if set(ran) != set(SCENARIOS):
        command += f" --scenarios {args.scenarios}"
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "targets": [],
               "command": command, "scenarios": [s for s in SCENARIOS if s in ran],
               "json": {}, "rate": {}, "sse": {}, "streams": {}, "upload": {}, "download": {},
               "grpc": {}, "grpc_first": {}, "grpc_streams": {}, "grpc_transfer": {},
               "ws_echo": {}, "ws_large": {}, "ws_idle": {}, "failures": []}
    try:
        targets = [fleet.upstream()]
        starters = {"oa-bypass": fleet.oa_bypass, "nginx": fleet.nginx, "portkey": fleet.portkey}
        for name in wanted[1:] if wanted[0] == "direct" else wanted:
            try:
                targets.append(starters[name]())
            except (RuntimeError, OSError) as e:
                results["failures"].append(f"{name} did not start: {e}")
        if "direct" not in wanted:
            targets = targets[1:]
        results["targets"] = [t.name for t in targets]
        log("workdir", workdir, "targets", results["targets"])

        def each(scenario, key, fn, rounds=args.rounds, among=targets):
            for round_ in range(rounds):
                for t in among:
                    try:
                        r = fn(t)
                    except Exception as e:  # one target's failure must not end the run
                        results["failures"].append(f"{key} on {t.name}: {e}")
                        continue
                    r["round"] = round_ + 1  # pairs a target's round with nginx's (report)
                    log(key, t.name, f"round {round_ + 1}", json.dumps(r))
                    results[scenario].setdefault(key if scenario == "grpc" else t.name,
                                                 []).append(r)

        if "json" in ran:
            each("json", "json", lambda t: wrk_json(t, args.seconds, 64, workdir),
                 rounds=args.json_rounds)
        if "rate" in ran:
            each("rate", "rate", lambda t: fixed_rate(fleet, t, args.rate, args.seconds))
        if "sse" in ran:
            each("sse", "sse", lambda t: sse(fleet, t, 100, 10, 10))
        # Before the open streams: allocators keep what ten thousand streams took, and the
        # RSS a large body adds would hide under it.
        if "transfer" in ran:
            each("upload", "upload", lambda t: transfer(fleet, t, "upload", args.transfer_mib))
            each("download", "download",
                 lambda t: transfer(fleet, t, "download", args.transfer_mib))
        if "streams" in ran:
            for count in map(int, args.streams.split(",")):
                each("streams", f"streams-{count}",
                     lambda t: open_streams(fleet, t, count, 3 if args.quick else 10), rounds=1)
        gateway = [t for t in targets if t.name == "oa-bypass"]
        if gateway and "grpc" in ran:
            n = 2000 if args.quick else 20000
            try:
                on_workers = fleet.oa_bypass("oa-bypass-grpc-workers", ["--grpc-server=workers"])
            except (RuntimeError, OSError) as e:
                results["failures"].append(f"oa-bypass --grpc-server=workers did not start: {e}")
                on_workers = None
            fronts = [("REST", gateway[0], True), ("gRPC, grpc++", gateway[0], False)]
            if on_workers:
                fronts.append(("gRPC, workers", on_workers, False))
            for _ in range(args.rounds):
                for kind, rest_path, grpc_path, stream, count in (
                        ("unary", "/v1/chat/completions", GRPC_UNARY, False, n),
                        ("server streaming", "/v1/chat/completions", GRPC_STREAM, True, n // 10)):
                    for front, target, rest in fronts:
                        key = f"{kind} · {front}"
                        try:
                            r = h2load(fleet, target, rest_path if rest else grpc_path, stream,
                                       count, 16, 8, rest=rest)
                        except Exception as e:  # one front's failure must not end the run
                            results["failures"].append(f"grpc {key}: {e}")
                            continue
                        log("grpc", key, json.dumps(r))
                        results["grpc"].setdefault(key, []).append(r)
            # Time to a stream's first event, one stream at a time, each front in turn.
            for _ in range(args.rounds):
                for front, target, rest in fronts:
                    key = f"first event · {front}"
                    try:
                        r = first_event(target, rest, 100 if args.quick else 500)
                    except Exception as e:
                        results["failures"].append(f"grpc {key}: {e}")
                        continue
                    log("grpc", key, json.dumps(r))
                    results["grpc_first"].setdefault(key, []).append(r)
            # 100 MiB bodies each way, each front in turn: REST by curl, gRPC by h2load.
            for _ in range(args.rounds):
                for direction in ("upload", "download"):
                    for front, target, rest in fronts:
                        key = f"{args.transfer_mib} MiB {direction} · {front}"
                        try:
                            r = (transfer(fleet, target, direction, args.transfer_mib) if rest
                                 else grpc_transfer(fleet, target, direction, args.transfer_mib))
                        except Exception as e:
                            results["failures"].append(f"grpc {key}: {e}")
                            continue
                        log("grpc", key, json.dumps(r))
                        results["grpc_transfer"].setdefault(key, []).append(r)
            # Open streams, each front in turn: REST's SSE (bench_load), then gRPC's.
            count = 1000 if args.quick else 10000
            hold = 3 if args.quick else 10
            for front, target, rest in fronts:
                key = f"{count:,} open streams · {front}"
                try:
                    r = (open_streams(fleet, target, count, hold) if rest
                         else grpc_streams(fleet, target, count, hold))
                except Exception as e:
                    results["failures"].append(f"grpc {key}: {e}")
                    continue
                log("grpc", key, json.dumps(r))
                results["grpc_streams"].setdefault(key, []).append(r)
        if "websocket" in ran:
            # Last: its idle sockets wait for the memory of what ran before to settle.
            each("ws_echo", "websocket round trip",
                 lambda t: ws_round_trip(fleet, t, args.rate, args.seconds, args.ws_connections))
            # A target that relays no WebSocket is not asked to hold ten thousand.
            relaying = [t for t in targets if results["ws_echo"].get(t.name)]
            each("ws_large", "websocket large frame",
                 lambda t: ws_large(fleet, t, args.ws_frame_mib, args.ws_frames), among=relaying)
            for count in map(int, args.ws_sockets.split(",")):
                each("ws_idle", f"websocket idle {count}",
                     lambda t: ws_idle(fleet, t, count, 1 if args.quick else 2), rounds=1,
                     among=relaying)
            results["ws_meta"] = {"targets": [t.name for t in relaying], "rate": args.rate,
                                  "connections": args.ws_connections,
                                  "frame_mib": args.ws_frame_mib, "frames": args.ws_frames}
        for scenario in ("sse", "streams"):
            for name, rows in results[scenario].items():
                for r in rows:
                    if r["errors"]:
                        results["failures"].append(
                            f"{scenario} on {name}: {r['errors']} streams failed, the first "
                            f"with {r['first_error'] or 'no answer'}")
                        break
        for scenario, what in (("ws_echo", "round trip"), ("ws_large", "large frame"),
                               ("ws_idle", "idle sockets")):
            for name, rows in results[scenario].items():
                for r in rows:
                    if r["errors"]:
                        results["failures"].append(
                            f"websocket {what} on {name}: {r['errors']} sockets failed, the "
                            f"first with {r['first_error'] or 'no answer'}")
                        break
    finally:
        fleet.stop()

    results["quick"], results["rounds"] = args.quick, args.rounds
    results["json_rounds"] = args.json_rounds
    results["gateway_processes"] = args.gateway_processes
    write_results(results, args, workdir)
    if args.keep_logs:
        log("the targets' logs are in", workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
