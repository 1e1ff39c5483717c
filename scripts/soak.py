#!/usr/bin/python3
"""Soak test: minutes of mixed load through oa-bypass, with the gateway's memory and file
descriptors sampled, to show whether they stay flat. Not part of the default test run.

    scripts/build.sh                       # once: build/oa-bypass and build/tests/mock/mock_openai
    /usr/bin/python3 scripts/soak.py                 # 5 minutes, 16 client threads
    /usr/bin/python3 scripts/soak.py --minutes 10 --csv /tmp/soak.csv

Needs only the standard library and Debian's python3-grpcio and python3-protobuf. Every
socket is on 127.0.0.1; nothing goes anywhere else.

What it does
------------
1. Copies the gateway and the mock OpenAI from --build-dir into a temporary directory (so a
   rebuild during the run does not change what runs) and starts both on free loopback
   ports: the mock with --exit-after-s, the gateway with --upstream pointing at the mock,
   --log-level debug, its log in a file. Both get SIGTERM if this script dies.
2. Priming: one call of every kind below, then every client connection closed; the
   gateway's descriptors are then counted as the baseline.
3. Load for --minutes from --concurrency threads, each picking a kind at random by weight:
   REST  chat completions (JSON, some gzip), model list and model, embeddings; SSE streams
         (chat and legacy completions, 1-40 events, 0-25 ms apart, read to `data: [DONE]`;
         a few with an error event and no [DONE]); multipart uploads of 10 KB-5 MB
         (Content-Length or chunked, some with Expect: 100-continue), the size checked
         against what the mock parsed; binary downloads of 1 KB-4 MB checked byte for byte.
         Most calls reuse the thread's keep-alive connection, some open a fresh one.
   gRPC  (stubs built from gen/openai_v1.binpb) unary chat, model, models, embeddings;
         server streams (chat, Responses, an Assistants run of 1-40 events); DownloadFile
         of 1 KB-4 MB checked byte for byte; CreateFile (unary, up to 1 MB) and
         CreateFileUpload (client stream, up to 5 MB). A few calls use a fresh channel
         (a new HTTP/2 connection) that is closed after the call.
   faults (about 12 % of calls; each must end the expected way, and must not leak):
         REST: client leaves mid-stream, mid-download or mid-upload (FIN or RST); upstream
         4xx/5xx (x-mock-status) relayed as they are; upstream breaks (hang-up before the
         headers or garbage -> 502, body cut -> a cut body); the client gives up while the
         upstream delays; the gateway's first-byte timeout (-> 504); no key (-> 401).
         gRPC: upstream 4xx/5xx -> the mapped status; deadline shorter than the upstream's
         delay -> DEADLINE_EXCEEDED; client cancels mid-stream; body cut upstream ->
         UNAVAILABLE; no key -> UNAUTHENTICATED.
   The mock is told what to do by x-mock-* headers (REST) or, for gRPC, by overrides armed
   through POST /__mock/override on a path unique to the call. POST /__mock/reset runs every
   --reset-every-s so the mock's recordings do not pile up (never while an armed call is
   under way).
4. Every --sample-s: the gateway's VmRSS and threads (/proc/PID/status), its descriptors
   (/proc/PID/fd), split into listening sockets, client sockets (local port = the
   gateway's), upstream sockets (remote port = the mock's), sockets in CLOSE_WAIT, and
   other descriptors; its CPU time; the mock's RSS; calls and unexpected errors so far.
5. After the load: all clients closed, then up to --settle-s for the gateway to have no call
   in flight and no client socket. Then /metrics is read and compared with the calls made,
   the log is searched for the key, and the gateway is stopped with SIGTERM (exit 0
   expected).

What fails the run (exit status 1)
----------------------------------
* Any unexpected outcome: a wrong status, a body that does not check, a stream cut or
  ended early, an exception where none was due, a fault that did not fail as it should.
* RSS GROWING. The samples after the warm-up (the first --warmup of the load, 20 %) are
  split in quarters; drift = mean of the last quarter - mean of the first quarter, and
  slope = least-squares slope over all post-warm-up samples, per minute. GROWING when
  drift > --rss-max-drift-pct percent of the first quarter's mean (default 10), or when
  slope > --rss-max-slope-kib (KiB/min, default 1024, i.e. ~140 bytes a call at the
  ~120 calls/s this load makes on 2 cores). Why not lower: with glibc's malloc (before
  the gateway linked jemalloc) its RSS climbed for the first 6-8 minutes of this load
  while the arenas reached their working size, then stayed flat (measured: 20-minute run,
  two-minute means 44.4 -> 49.0 MB by minute 8, then 49.1-50.1 MB; slope 146 KiB/min
  after a 4-minute warm-up; a 10-minute run with its 2-minute warm-up still saw 654
  KiB/min), while the heap in use stayed at ~7 MB. So a short run catches only gross
  leaks: for small ones run 20 minutes or more, and add --heap-stats, which compares the
  allocator's bytes in use (jemalloc's "Allocated" less its thread caches, from
  malloc_stats_print through gdb) while the gateway is idle before and after the load:
  that number does not ramp, and a leak of a few bytes a call shows in it
  (--heap-max-growth-kib, default 2048, leaves room for the read buffers of the idle
  upstream connections the pool keeps).
* Descriptors GROWING during the load: drift of the total > --fd-max-drift (default 12) or
  slope > --fd-max-slope (per minute, default 4), or the mean of non-socket descriptors in
  the last quarter above the baseline by more than --fd-slack (default 2), or the mean of
  sockets in CLOSE_WAIT growing by more than --fd-slack. The total moves with the calls in
  flight (a client socket and an upstream one each), hence the drift allowance.
* Descriptors not back after the load: once the clients are gone the gateway may keep only
  its listeners, its idle upstream pool connections (at most --workers x
  --upstream-pool-max-idle, until --upstream-pool-idle-timeout closes them) and the
  non-socket descriptors of the baseline.
  Checked: no client socket; upstream sockets == the oa_upstream_connections{state="idle"}
  gauge, none busy; non-socket descriptors and listeners <= baseline + --fd-slack.
* /metrics not matching the calls: oa_requests_total per front (rpc "-" left out, i.e.
  /metrics itself) must equal the calls made on that front. Per status class (REST) or
  gRPC code it must be at least what the clients saw, and the surplus must equal the calls
  the clients ended before any answer (left, gave up, deadline passed), which the gateway
  counts under a code the client never saw. No request in flight, no open stream.
* The key (sk-soak-...) anywhere in the gateway's log, or the gateway not exiting 0.

Everything is printed as a table at the end; --csv writes the samples. --only runs some
kinds alone (e.g. --only grpc_ or --only rest_stream,fault_rest_leave), to find which one
makes a growth.
"""

import argparse
import collections
import ctypes
import gzip
import http.client
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESCRIPTOR_SET = os.path.join(ROOT, "gen", "openai_v1.binpb")
MIB = 1 << 20
PIECE = 64 * 1024


# ---- settings --------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Mixed-load soak of oa-bypass; checks that RSS and descriptors stay flat.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                   help="build tree holding oa-bypass and tests/mock/mock_openai")
    p.add_argument("--minutes", type=float, default=5.0, help="length of the load")
    p.add_argument("--concurrency", type=int, default=16, help="client threads")
    p.add_argument("--think-ms", type=float, default=5.0,
                   help="pause of each thread between calls (keeps the load generator's CPU "
                        "moderate)")
    p.add_argument("--workers", type=int, default=2, help="gateway --workers")
    p.add_argument("--pool-max-idle", type=int, default=64, help="gateway --upstream-pool-max-idle")
    p.add_argument("--first-byte-timeout-s", type=float, default=3.0,
                   help="gateway --upstream-first-byte-timeout (a fault kind waits it out)")
    p.add_argument("--gateway-arg", action="append", default=[],
                   help="extra argument for the gateway (repeatable)")
    p.add_argument("--grpc-channels", type=int, default=4, help="shared gRPC channels")
    p.add_argument("--sample-s", type=float, default=2.0, help="sampling period")
    p.add_argument("--reset-every-s", type=float, default=5.0, help="POST /__mock/reset period")
    p.add_argument("--warmup", type=float, default=0.2,
                   help="fraction of the load left out of the flatness verdicts")
    p.add_argument("--settle-s", type=float, default=30.0,
                   help="longest wait after the load for calls and client sockets to go")
    p.add_argument("--rss-max-drift-pct", type=float, default=10.0)
    p.add_argument("--rss-max-slope-kib", type=float, default=1024.0, help="KiB per minute")
    p.add_argument("--fd-max-drift", type=float, default=12.0)
    p.add_argument("--fd-max-slope", type=float, default=4.0, help="descriptors per minute")
    p.add_argument("--fd-slack", type=int, default=2)
    p.add_argument("--fault-share", type=float, default=0.12, help="share of fault calls")
    p.add_argument("--heap-stats", action="store_true",
                   help="with gdb: read jemalloc's bytes in use (malloc_stats_print) while the "
                        "gateway is idle, before and after the load")
    p.add_argument("--heap-max-growth-kib", type=float, default=2048.0,
                   help="largest growth of the idle heap in use allowed with --heap-stats")
    p.add_argument("--only", default="",
                   help="comma-separated prefixes of the kinds to run (e.g. rest_,fault_rest_ or "
                        "grpc_stream), to find which kind makes a growth; default all")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--csv", help="write the samples to this CSV file")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (binaries, logs) after the run")
    return p.parse_args(argv)


# ---- processes -------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Child:
    """A child process with its stdout and stderr in a file; stopped by PID only."""

    def __init__(self, name, args, log_path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not print {pattern!r} (exit {self.proc.poll()}):\n"
                           f"{self.text()[-3000:]}")

    def stop(self, timeout=40):
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


# ---- /proc -----------------------------------------------------------------------------------

def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[name] = int(value.split()[0])
    return out


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "07": "CLOSE", "09": "LAST_ACK",
              "0B": "CLOSING", "02": "SYN_SENT", "03": "SYN_RECV"}


def tcp_sockets():
    """{inode: (local port, remote port, state)} of the IPv4 and IPv6 TCP sockets."""
    sockets = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local_port = int(parts[1].rsplit(":", 1)[1], 16)
                    remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                    sockets[parts[9]] = (local_port, remote_port, TCP_STATES.get(parts[3], parts[3]))
        except FileNotFoundError:
            pass
    return sockets


def fd_census(pid, gateway_port, mock_port):
    """Descriptors of `pid` by kind."""
    counts = collections.Counter()
    inodes = []
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue  # closed meanwhile
        counts["total"] += 1
        if target.startswith("socket:["):
            inodes.append(target[8:-1])
        else:
            counts["other"] += 1
    tcp = tcp_sockets()
    for inode in inodes:
        entry = tcp.get(inode)
        if entry is None:
            counts["other_socket"] += 1
            continue
        local, remote, state = entry
        if state == "LISTEN":
            counts["listen"] += 1
        elif remote == mock_port:
            counts["upstream"] += 1
        elif local == gateway_port:
            counts["client"] += 1
        else:
            counts["other_tcp"] += 1
        if state == "CLOSE_WAIT":
            counts["close_wait"] += 1
    return counts


def heap_in_use(pid, log_path):
    """jemalloc's bytes in use in `pid`, from malloc_stats_print(), which gdb makes it print
    to its stderr (the gateway's log); None when that fails (no gdb, or a gateway built
    without jemalloc). Stops the process for a moment."""
    if not shutil.which("gdb"):
        return None
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                    "call (void)malloc_stats_print(0, 0, 0)"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120, check=False)
    time.sleep(0.2)
    with open(log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    # "Allocated" counts the blocks that threads keep cached for reuse ("tcache_bytes" of
    # the merged arenas, which come next): they fill up under load, and are not in use.
    at = text.rfind("\nAllocated: ")
    allocated = re.match(r"\nAllocated: (\d+),", text[at:]) if at >= 0 else None
    cached = re.search(r"\ntcache_bytes:\s+(\d+)", text[at:]) if at >= 0 else None
    if not allocated or not cached:
        return None
    return int(allocated.group(1)) - int(cached.group(1))


# ---- /metrics --------------------------------------------------------------------------------

LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        out.append((name, dict(LABEL.findall(labels)), float(value)))
    return out


def metric_sum(metrics, name, **labels):
    return sum(v for n, l, v in metrics
               if n == name and all(l.get(k) == want for k, want in labels.items()))


def http_get(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(port, path, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=b"", headers=dict(headers or {}, Connection="close"))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---- bookkeeping -----------------------------------------------------------------------------

class Unexpected(Exception):
    """An outcome the soak did not expect: a failure to report."""


class Ledger:
    """Calls by kind, outcomes as the clients saw them, unexpected errors."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = collections.Counter()        # kind -> calls
        self.unexpected = collections.Counter()   # kind -> unexpected outcomes
        self.examples = {}                        # (kind, text) -> count, first kept
        self.front_calls = collections.Counter()  # "rest"/"grpc" -> calls reaching /v1 or gRPC
        self.codes = collections.Counter()        # (front, code) the client saw
        self.left_early = collections.Counter()   # front -> calls the client left unanswered
        self.notes = collections.Counter()        # informational counts
        self.bytes_up = 0
        self.bytes_down = 0

    def record(self, kind, front, code, up=0, down=0):
        with self.lock:
            self.calls[kind] += 1
            self.front_calls[front] += 1
            if code is None:
                self.left_early[front] += 1
            else:
                self.codes[(front, code)] += 1
            self.bytes_up += up
            self.bytes_down += down

    def fail(self, kind, text):
        with self.lock:
            self.unexpected[kind] += 1
            key = (kind, text[:300])
            self.examples[key] = self.examples.get(key, 0) + 1

    def note(self, what, n=1):
        with self.lock:
            self.notes[what] += n

    def totals(self):
        with self.lock:
            return sum(self.calls.values()), sum(self.unexpected.values())


class ResetLock:
    """Calls that armed a mock override hold it shared; the periodic reset holds it alone
    (and goes first once it waits)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writer_waiting = 0

    def __enter__(self):
        with self._cond:
            while self._writer or self._writer_waiting:
                self._cond.wait()
            self._readers += 1

    def __exit__(self, *exc):
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    def exclusive(self, action):
        with self._cond:
            self._writer_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writer_waiting -= 1
            self._writer = True
        try:
            action()
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


# ---- payloads --------------------------------------------------------------------------------

PERIOD = bytes((i * 31 + 7) % 251 for i in range(251))
PATTERN = PERIOD * (PIECE // 251 + 3)  # any window of up to 64 KiB at any phase


def check_pattern(offset, piece):
    """Whether `piece` is the mock's generated content at `offset`."""
    phase = offset % 251
    view = memoryview(piece)
    for at in range(0, len(view), PIECE):
        part = view[at:at + PIECE]
        start = (phase + at) % 251
        if part != PATTERN[start:start + len(part)]:
            return False
    return True


def log_uniform(rng, low, high):
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


# ---- the load --------------------------------------------------------------------------------

class Messages:
    def __init__(self, path):
        files = descriptor_pb2.FileDescriptorSet()
        with open(path, "rb") as f:
            files.ParseFromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            self.pool.Add(file)
        self.factory = message_factory.MessageFactory(self.pool)
        self._methods = {}
        self._lock = threading.Lock()

    def method(self, full):
        """(request class, response class) of "/package.Service/Method"."""
        with self._lock:
            if full not in self._methods:
                service, name = full.strip("/").split("/")
                m = self.pool.FindServiceByName(service).FindMethodByName(name)
                self._methods[full] = (self.factory.GetPrototype(m.input_type),
                                       self.factory.GetPrototype(m.output_type))
            return self._methods[full]


class Soak:
    def __init__(self, args, gateway_port, mock_port, key, ledger, reset_lock, messages):
        self.args = args
        self.port = gateway_port
        self.mock_port = mock_port
        self.key = key
        self.ledger = ledger
        self.reset_lock = reset_lock
        self.messages = messages
        self.auth = {"Authorization": f"Bearer {key}"}
        self.grpc_auth = (("authorization", f"Bearer {key}"),)
        self.stop = threading.Event()
        self.seq = iter(range(1, 1 << 62))
        self.seq_lock = threading.Lock()
        self.upload_data = random.Random(7).randbytes(5 * MIB + 1)
        self.channels = [self.new_channel() for _ in range(max(1, args.grpc_channels))]
        self.stubs = {}
        self.normal = [  # (kind, weight)
            ("rest_chat", 14), ("rest_models", 8), ("rest_embeddings", 4), ("rest_stream", 14),
            ("rest_upload", 5), ("rest_download", 5),
            ("grpc_unary", 14), ("grpc_stream", 12), ("grpc_upload", 3), ("grpc_download", 4),
        ]
        self.faults = [
            ("fault_rest_leave_stream", 3), ("fault_rest_leave_download", 1),
            ("fault_rest_leave_upload", 1), ("fault_rest_upstream_status", 3),
            ("fault_rest_upstream_break", 2), ("fault_rest_client_timeout", 1),
            ("fault_rest_gateway_timeout", 0.3), ("fault_rest_no_key", 1),
            ("fault_grpc_upstream_status", 3), ("fault_grpc_deadline", 1),
            ("fault_grpc_cancel", 2), ("fault_grpc_cut", 1), ("fault_grpc_no_key", 1),
        ]
        if args.only:
            prefixes = tuple(p for p in args.only.split(",") if p)
            self.normal = [(k, w) for k, w in self.normal if k.startswith(prefixes)]
            self.faults = [(k, w) for k, w in self.faults if k.startswith(prefixes)]
            if not self.normal and not self.faults:
                raise ValueError(f"--only {args.only} selects no kind")

    def next_id(self):
        with self.seq_lock:
            return next(self.seq)

    def new_channel(self):
        # A local subchannel pool: otherwise every channel to the same address shares one
        # connection, and "fresh" channels would not open new ones.
        return grpc.insecure_channel(f"127.0.0.1:{self.port}",
                                     options=[("grpc.enable_http_proxy", 0),
                                              ("grpc.use_local_subchannel_pool", 1),
                                              ("grpc.max_receive_message_length", 16 * MIB)])

    # -- the mock's control paths --

    def arm(self, path, headers, times=1):
        status, body = http_post(self.mock_port, f"/__mock/override?path={path}&times={times}",
                                 headers)
        if status != 200:
            raise Unexpected(f"arming the mock for {path} answered {status} {body[:200]!r}")

    def reset_mock(self):
        status, body = http_post(self.mock_port, "/__mock/reset")
        if status != 200:
            raise RuntimeError(f"/__mock/reset answered {status} {body[:200]!r}")

    # -- one client thread --

    def worker(self, index, rng):
        rest = RestClient(self.port)
        channel = self.channels[index % len(self.channels)]
        kinds = [k for k, _ in self.normal] + [k for k, _ in self.faults]
        normal_total = sum(w for _, w in self.normal) or 1
        fault_total = sum(w for _, w in self.faults) or 1
        share = self.args.fault_share if self.normal else 1.0
        share = share if self.faults else 0.0
        weights = ([w / normal_total * (1 - share) for _, w in self.normal] +
                   [w / fault_total * share for _, w in self.faults])
        try:
            while not self.stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                self.run_one(kind, rest, channel, rng)
                if self.args.think_ms > 0:
                    time.sleep(self.args.think_ms / 1000)
        finally:
            rest.close()

    def run_one(self, kind, rest, channel, rng):
        try:
            if kind.startswith(("grpc", "fault_grpc")) and rng.random() < 0.05:
                fresh = self.new_channel()
                try:
                    getattr(self, kind)(rest, fresh, rng)
                finally:
                    fresh.close()
                self.ledger.note("grpc calls on a fresh channel")
            else:
                getattr(self, kind)(rest, channel, rng)
        except Unexpected as e:
            self.ledger.fail(kind, str(e))
            rest.close()
        except Exception as e:  # noqa: BLE001 - any other exception is a failure to report
            self.ledger.fail(kind, f"{type(e).__name__}: {e}")
            rest.close()

    # ---- REST ----------------------------------------------------------------------------

    def rest_chat(self, rest, channel, rng):
        headers = dict(self.auth, **{"Content-Type": "application/json"})
        gzipped = rng.random() < 0.15
        if gzipped:
            headers.update({"x-mock-gzip": "1", "Accept-Encoding": "gzip"})
        body = json.dumps({"model": "gpt-4o-mini", "temperature": 0,
                           "messages": [{"role": "user", "content": "soak " * rng.randint(1, 200)}]}
                          ).encode()
        status, resp_headers, data = rest.call("POST", "/v1/chat/completions", body, headers,
                                               fresh=rng.random() < 0.1)
        self.ledger.record("rest_chat", "rest", status_class(status), len(body), len(data))
        expect_status(status, 200, data)
        if gzipped:
            if resp_headers.get("content-encoding") != "gzip":
                raise Unexpected(f"gzip asked, content-encoding {resp_headers.get('content-encoding')}")
            data = gzip.decompress(data)
        answer = json.loads(data)
        if answer.get("object") != "chat.completion" or \
                answer["choices"][0]["message"]["content"] != "Hello from mock":
            raise Unexpected(f"chat answer {data[:200]!r}")

    def rest_models(self, rest, channel, rng):
        if rng.random() < 0.5:
            status, _, data = rest.call("GET", "/v1/models", None, self.auth,
                                        fresh=rng.random() < 0.1)
            self.ledger.record("rest_models", "rest", status_class(status), 0, len(data))
            expect_status(status, 200, data)
            if len(json.loads(data).get("data", [])) != 3:
                raise Unexpected(f"model list {data[:200]!r}")
        else:
            model = rng.choice(["gpt-4o-mini", "ft:gpt-4o:acme::abc123", "text-embedding-3-small"])
            status, _, data = rest.call("GET", f"/v1/models/{model}", None, self.auth)
            self.ledger.record("rest_models", "rest", status_class(status), 0, len(data))
            expect_status(status, 200, data)
            if json.loads(data).get("id") != model:
                raise Unexpected(f"model {model}: {data[:200]!r}")

    def rest_embeddings(self, rest, channel, rng):
        n = rng.randint(1, 20)
        body = json.dumps({"model": "text-embedding-3-small",
                           "input": [f"line {i}" for i in range(n)]}).encode()
        status, _, data = rest.call("POST", "/v1/embeddings", body,
                                    dict(self.auth, **{"Content-Type": "application/json"}))
        self.ledger.record("rest_embeddings", "rest", status_class(status), len(body), len(data))
        expect_status(status, 200, data)
        if len(json.loads(data)["data"]) != n:
            raise Unexpected(f"embeddings for {n} inputs: {data[:200]!r}")

    def rest_stream(self, rest, channel, rng):
        events = rng.randint(1, 40)
        error_at = rng.randint(0, events) if rng.random() < 0.05 else -1
        path = "/v1/chat/completions" if rng.random() < 0.8 else "/v1/completions"
        headers = dict(self.auth, **{"Content-Type": "application/json",
                                     "x-mock-sse-events": str(events),
                                     "x-mock-sse-interval-ms": str(rng.randint(0, 25))})
        if error_at >= 0:
            headers["x-mock-sse-error-at"] = str(error_at)
        body = json.dumps({"model": "gpt-4o-mini", "stream": True, "prompt": "hi",
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        response = rest.open("POST", path, body, headers)
        received = b""
        try:
            status = response.status
            self.ledger.record("rest_stream", "rest", status_class(status), len(body))
            if status != 200:
                raise Unexpected(f"stream status {status}: {response.read()[:200]!r}")
            if not response.getheader("content-type", "").startswith("text/event-stream"):
                raise Unexpected(f"stream content-type {response.getheader('content-type')}")
            while True:
                piece = response.read1(PIECE)
                if not piece:
                    break
                received += piece
        finally:
            rest.done(response)
        with self.ledger.lock:
            self.ledger.bytes_down += len(received)
        frames = received.split(b"\n\n")
        if frames[-1] != b"":
            raise Unexpected(f"stream ends inside an event: {received[-200:]!r}")
        frames = frames[:-1]
        if error_at >= 0:
            want = min(error_at + 1, events + 1)
            if len(frames) != want or b'"error"' not in frames[-1]:
                raise Unexpected(f"stream with an error at {error_at} of {events}: {len(frames)} "
                                 f"events, last {frames[-1][:200] if frames else b''!r}")
            return
        if len(frames) != events + 1 or frames[-1] != b"data: [DONE]":
            raise Unexpected(f"stream of {events} events: got {len(frames)}, last "
                             f"{frames[-1][:200] if frames else b''!r}")
        for frame in frames[:-1]:
            chunk = json.loads(frame[len(b"data: "):])
            if chunk.get("object") not in ("chat.completion.chunk", "text_completion"):
                raise Unexpected(f"stream event {frame[:200]!r}")

    def multipart(self, size, rng):
        boundary = f"soak-{rng.getrandbits(64):016x}-boundary"
        n = self.next_id()
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                f"assistants\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"soak-{n}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        offset = rng.randint(0, len(self.upload_data) - size)
        data = memoryview(self.upload_data)[offset:offset + size]
        return boundary, f"soak-{n}.bin", [head, data, tail]

    def rest_upload(self, rest, channel, rng):
        size = log_uniform(rng, 10_000, 5_000_000)
        boundary, filename, parts = self.multipart(size, rng)
        chunked = rng.random() < 0.3
        headers = dict(self.auth, **{"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if rng.random() < 0.2:
            headers["Expect"] = "100-continue"
        status, _, data = rest.call("POST", "/v1/files", parts, headers, chunked=chunked)
        total = sum(len(p) for p in parts)
        self.ledger.record("rest_upload", "rest", status_class(status), total, len(data))
        expect_status(status, 200, data)
        answer = json.loads(data)
        if answer.get("bytes") != size or answer.get("filename") != filename:
            raise Unexpected(f"upload of {size} bytes ({'chunked' if chunked else 'length'}): "
                             f"{data[:300]!r}")

    def rest_download(self, rest, channel, rng):
        size = log_uniform(rng, 1_000, 4_000_000)
        headers = dict(self.auth, **{"x-mock-bytes": str(size)})
        if rng.random() < 0.3:
            headers["x-mock-chunked"] = "1"
        response = rest.open("GET", f"/v1/files/file-soak{self.next_id()}/content", None, headers)
        got = 0
        try:
            self.ledger.record("rest_download", "rest", status_class(response.status))
            if response.status != 200:
                raise Unexpected(f"download status {response.status}: {response.read()[:200]!r}")
            while True:
                piece = response.read1(PIECE)
                if not piece:
                    break
                if not check_pattern(got, piece):
                    raise Unexpected(f"download of {size} bytes differs near offset {got}")
                got += len(piece)
        finally:
            rest.done(response)
        with self.ledger.lock:
            self.ledger.bytes_down += got
        if got != size:
            raise Unexpected(f"download of {size} bytes gave {got}")

    # ---- gRPC ----------------------------------------------------------------------------

    def stub(self, channel, full, kind):
        request_class, response_class = self.messages.method(full)
        make = {"unary": channel.unary_unary, "stream": channel.unary_stream,
                "client": channel.stream_unary}[kind]
        return make(full, request_serializer=request_class.SerializeToString,
                    response_deserializer=response_class.FromString), request_class

    def grpc_request(self, full, fields):
        request_class, _ = self.messages.method(full)
        return json_format.ParseDict(fields, request_class())

    def grpc_unary(self, rest, channel, rng):
        choice = rng.randrange(4)
        try:
            if choice == 0:
                full = "/openai.v1.ChatService/CreateChatCompletion"
                stub, _ = self.stub(channel, full, "unary")
                answer = stub(self.grpc_request(full, {
                    "model": "gpt-4o-mini", "temperature": 0,
                    "messages": [{"role": "user", "content": "hi"}]}),
                    metadata=self.grpc_auth, timeout=30)
                ok = answer.choices[0].message.content == "Hello from mock"
            elif choice == 1:
                full = "/openai.v1.ModelsService/RetrieveModel"
                stub, request_class = self.stub(channel, full, "unary")
                answer = stub(request_class(model="gpt-4o"), metadata=self.grpc_auth, timeout=30)
                ok = answer.id == "gpt-4o"
            elif choice == 2:
                full = "/openai.v1.ModelsService/ListModels"
                stub, request_class = self.stub(channel, full, "unary")
                answer = stub(request_class(), metadata=self.grpc_auth, timeout=30)
                ok = len(answer.data) == 3
            else:
                full = "/openai.v1.EmbeddingsService/CreateEmbedding"
                stub, _ = self.stub(channel, full, "unary")
                answer = stub(self.grpc_request(full, {"model": "text-embedding-3-small",
                                                       "input": ["a", "b", "c"]}),
                              metadata=self.grpc_auth, timeout=30)
                ok = len(answer.data) == 3 and len(answer.data[2].embedding) == 8
        except grpc.RpcError as e:
            self.ledger.record("grpc_unary", "grpc", e.code().name)
            raise Unexpected(f"{full}: {e.code().name} {e.details()}") from None
        self.ledger.record("grpc_unary", "grpc", "OK")
        if not ok:
            raise Unexpected(f"{full}: answer {json_format.MessageToJson(answer)[:300]}")

    def grpc_stream(self, rest, channel, rng):
        choice = rng.randrange(3)
        with self.reset_lock:
            if choice == 0:
                full = "/openai.v1.ChatService/CreateChatCompletionStream"
                fields = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
                want = 3
            elif choice == 1:
                full = "/openai.v1.ResponsesService/CreateResponseStream"
                fields = {"model": "gpt-4o-mini", "input": "hi"}
                want = 5
            else:
                full = "/openai.v1.AssistantsService/CreateRunStream"
                thread = f"thread_soak{self.next_id()}"
                events = rng.randint(1, 40)
                self.arm(f"/v1/threads/{thread}/runs",
                         {"x-mock-sse-events": str(events),
                          "x-mock-sse-interval-ms": str(rng.randint(0, 20))})
                fields = {"thread_id": thread, "body": {"assistant_id": "asst_soak"}}
                want = events + 3
            stub, _ = self.stub(channel, full, "stream")
            call = stub(self.grpc_request(full, fields), metadata=self.grpc_auth, timeout=60)
            try:
                got = list(call)
            except grpc.RpcError as e:
                self.ledger.record("grpc_stream", "grpc", e.code().name)
                raise Unexpected(f"{full}: {e.code().name} {e.details()}") from None
        self.ledger.record("grpc_stream", "grpc", call.code().name)
        if call.code() != grpc.StatusCode.OK or len(got) != want:
            raise Unexpected(f"{full}: {call.code().name}, {len(got)} messages, {want} expected")
        if choice == 0 and got[-1].choices[0].finish_reason != "stop":
            raise Unexpected(f"{full}: last chunk {json_format.MessageToJson(got[-1])[:300]}")
        if choice == 1 and got[-1].type != "response.completed":
            raise Unexpected(f"{full}: last event {got[-1].type}")
        if choice == 2 and got[-1].event != "thread.run.completed":
            raise Unexpected(f"{full}: last event {got[-1].event}")

    def grpc_download(self, rest, channel, rng):
        size = log_uniform(rng, 1_000, 4_000_000)
        file_id = f"file-soakg{self.next_id()}"
        full = "/openai.v1.FilesService/DownloadFile"
        with self.reset_lock:
            self.arm(f"/v1/files/{file_id}/content",
                     {"x-mock-bytes": str(size), "x-mock-chunked": str(rng.randint(0, 1))})
            stub, request_class = self.stub(channel, full, "stream")
            call = stub(request_class(file_id=file_id), metadata=self.grpc_auth, timeout=60)
            got = 0
            try:
                for chunk in call:
                    if not check_pattern(got, chunk.data):
                        self.ledger.record("grpc_download", "grpc", None)
                        call.cancel()
                        raise Unexpected(f"DownloadFile of {size} bytes differs near {got}")
                    got += len(chunk.data)
            except grpc.RpcError as e:
                self.ledger.record("grpc_download", "grpc", e.code().name)
                raise Unexpected(f"DownloadFile: {e.code().name} {e.details()}") from None
        self.ledger.record("grpc_download", "grpc", call.code().name, 0, got)
        if got != size:
            raise Unexpected(f"DownloadFile of {size} bytes gave {got}")

    def grpc_upload(self, rest, channel, rng):
        n = self.next_id()
        filename = f"soakg-{n}.bin"
        try:
            if rng.random() < 0.5:
                size = log_uniform(rng, 10_000, 1_000_000)
                full = "/openai.v1.FilesService/CreateFile"
                stub, request_class = self.stub(channel, full, "unary")
                request = request_class(purpose="assistants")
                request.file.filename = filename
                request.file.content_type = "application/octet-stream"
                request.file.data = self.upload_data[:size]
                answer = stub(request, metadata=self.grpc_auth, timeout=60)
            else:
                size = log_uniform(rng, 10_000, 5_000_000)
                full = "/openai.v1.FilesService/CreateFileUpload"
                stub, request_class = self.stub(channel, full, "client")
                piece = 256 * 1024

                def messages():
                    first = request_class(purpose="assistants")
                    first.file.filename = filename
                    first.file.content_type = "application/octet-stream"
                    first.file.data = self.upload_data[:min(piece, size)]
                    yield first
                    for at in range(piece, size, piece):
                        later = request_class()
                        later.file.data = self.upload_data[at:min(at + piece, size)]
                        yield later
                answer = stub(messages(), metadata=self.grpc_auth, timeout=60)
        except grpc.RpcError as e:
            self.ledger.record("grpc_upload", "grpc", e.code().name)
            raise Unexpected(f"{full}: {e.code().name} {e.details()}") from None
        self.ledger.record("grpc_upload", "grpc", "OK", size)
        if answer.bytes != size or answer.filename != filename:
            raise Unexpected(f"{full} of {size} bytes: {json_format.MessageToJson(answer)[:300]}")

    # ---- faults: REST --------------------------------------------------------------------

    def fault_rest_leave_stream(self, rest, channel, rng):
        headers = dict(self.auth, **{"Content-Type": "application/json",
                                     "x-mock-sse-events": "400", "x-mock-sse-interval-ms": "10"})
        body = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
        response = rest.open("POST", "/v1/chat/completions", body, headers)
        self.ledger.record("fault_rest_leave_stream", "rest", status_class(response.status))
        if response.status != 200:
            rest.close()
            raise Unexpected(f"stream status {response.status}")
        for _ in range(rng.randint(1, 5)):
            response.readline()
        rest.abandon(reset=rng.random() < 0.5)

    def fault_rest_leave_download(self, rest, channel, rng):
        headers = dict(self.auth, **{"x-mock-bytes": str(64 * MIB)})
        response = rest.open("GET", f"/v1/files/file-soak{self.next_id()}/content", None, headers)
        self.ledger.record("fault_rest_leave_download", "rest", status_class(response.status))
        if response.status != 200:
            rest.close()
            raise Unexpected(f"download status {response.status}")
        response.read(rng.randint(1, 1024 * 1024))
        rest.abandon(reset=rng.random() < 0.5)

    def fault_rest_leave_upload(self, rest, channel, rng):
        size = 4_000_000
        boundary, _, parts = self.multipart(size, rng)
        headers = dict(self.auth, **{"Content-Type": f"multipart/form-data; boundary={boundary}"})
        conn = rest.connection(fresh=True)
        conn.putrequest("POST", "/v1/files", skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(sum(len(p) for p in parts)))
        conn.endheaders()
        conn.send(parts[0])
        conn.send(parts[1][:rng.randint(1, size // 2)])
        self.ledger.record("fault_rest_leave_upload", "rest", None)
        rest.abandon(reset=rng.random() < 0.5)

    def fault_rest_upstream_status(self, rest, channel, rng):
        status_wanted = rng.choice([400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504])
        path = rng.choice(["/v1/chat/completions", "/v1/embeddings", "/v1/models"])
        method = "GET" if path == "/v1/models" else "POST"
        body = None if method == "GET" else b'{"model":"gpt-4o-mini"}'
        headers = dict(self.auth, **{"x-mock-status": str(status_wanted)})
        if body:
            headers["Content-Type"] = "application/json"
        status, resp_headers, data = rest.call(method, path, body, headers)
        self.ledger.record("fault_rest_upstream_status", "rest", status_class(status))
        expect_status(status, status_wanted, data)
        if json.loads(data)["error"]["message"] != f"mock error {status_wanted}":
            raise Unexpected(f"error body {data[:200]!r}")
        if status_wanted == 429 and resp_headers.get("retry-after") != "1":
            raise Unexpected(f"429 without the upstream's retry-after: {resp_headers}")

    def fault_rest_upstream_break(self, rest, channel, rng):
        how = rng.choice(["before-headers", "garbage", "mid-body"])
        headers = dict(self.auth, **{"x-mock-break": how})
        if how != "mid-body":
            status, _, data = rest.call("GET", "/v1/models", None, headers)
            self.ledger.record("fault_rest_upstream_break", "rest", status_class(status))
            expect_status(status, 502, data)
            if json.loads(data)["error"]["code"] != "upstream_unavailable":
                raise Unexpected(f"502 body {data[:200]!r}")
            return
        response = rest.open("GET", f"/v1/files/file-soak{self.next_id()}/content", None, headers)
        self.ledger.record("fault_rest_upstream_break", "rest", status_class(response.status))
        try:
            if response.status != 200:
                raise Unexpected(f"cut body: status {response.status}")
            try:
                data = response.read()
            except http.client.IncompleteRead as e:
                if len(e.partial) > 1000:
                    raise Unexpected(f"cut body gave {len(e.partial)} bytes, the mock sent 1000")
                return  # the client sees a cut body: as expected
            raise Unexpected(f"cut body ended cleanly with {len(data)} bytes")
        finally:
            rest.close()

    def fault_rest_client_timeout(self, rest, channel, rng):
        headers = dict(self.auth, **{"x-mock-delay-ms": "2000"})
        conn = rest.connection(fresh=True)
        conn.sock.settimeout(rng.uniform(0.1, 0.5))
        conn.request("GET", "/v1/models", headers=headers)
        try:
            response = conn.getresponse()
            response.read()
        except (socket.timeout, TimeoutError):
            self.ledger.record("fault_rest_client_timeout", "rest", None)
            rest.abandon(reset=False)
            return
        self.ledger.record("fault_rest_client_timeout", "rest", status_class(response.status))
        rest.close()
        raise Unexpected(f"a 2 s upstream delay answered {response.status} within 0.5 s")

    def fault_rest_gateway_timeout(self, rest, channel, rng):
        delay_ms = int(self.args.first_byte_timeout_s * 1000 + 1500)
        headers = dict(self.auth, **{"x-mock-delay-ms": str(delay_ms)})
        status, _, data = rest.call("GET", "/v1/models", None, headers, timeout=60)
        self.ledger.record("fault_rest_gateway_timeout", "rest", status_class(status))
        expect_status(status, 504, data)
        if json.loads(data)["error"]["code"] != "upstream_timeout":
            raise Unexpected(f"504 body {data[:200]!r}")

    def fault_rest_no_key(self, rest, channel, rng):
        body = b'{"model":"gpt-4o-mini","messages":[]}'
        status, _, data = rest.call("POST", "/v1/chat/completions", body,
                                    {"Content-Type": "application/json"})
        self.ledger.record("fault_rest_no_key", "rest", status_class(status))
        expect_status(status, 401, data)
        json.loads(data)["error"]["message"]  # noqa: B018 - OpenAI's shape

    # ---- faults: gRPC --------------------------------------------------------------------

    GRPC_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 409: "ABORTED", 418: "FAILED_PRECONDITION",
                  422: "INVALID_ARGUMENT",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

    def expect_grpc_error(self, kind, code, call, client_ended=False):
        """Calls `call`, which must fail with `code`. client_ended: the client's own deadline
        ends it, so the code is the client's, not one the gateway sent."""
        try:
            answer = call()
        except grpc.RpcError as e:
            self.ledger.record(kind, "grpc", None if client_ended else e.code().name)
            if e.code().name != code:
                raise Unexpected(f"{code} expected, got {e.code().name}: {e.details()}") from None
            return e
        self.ledger.record(kind, "grpc", "OK")
        raise Unexpected(f"{code} expected, got an answer: {str(answer)[:200]}")

    def fault_grpc_upstream_status(self, rest, channel, rng):
        status_wanted = rng.choice(sorted(self.GRPC_CODES))
        model = f"soak-err{self.next_id()}"
        stub, request_class = self.stub(channel, "/openai.v1.ModelsService/RetrieveModel", "unary")
        with self.reset_lock:
            self.arm(f"/v1/models/{model}", {"x-mock-status": str(status_wanted)})
            error = self.expect_grpc_error(
                "fault_grpc_upstream_status", self.GRPC_CODES[status_wanted],
                lambda: stub(request_class(model=model), metadata=self.grpc_auth, timeout=30))
        if error.details() != f"mock error {status_wanted}":
            raise Unexpected(f"status {status_wanted}: details {error.details()!r}")

    def fault_grpc_deadline(self, rest, channel, rng):
        model = f"soak-slow{self.next_id()}"
        stub, request_class = self.stub(channel, "/openai.v1.ModelsService/RetrieveModel", "unary")
        with self.reset_lock:
            self.arm(f"/v1/models/{model}", {"x-mock-delay-ms": "2000"})
            self.expect_grpc_error(
                "fault_grpc_deadline", "DEADLINE_EXCEEDED",
                lambda: stub(request_class(model=model), metadata=self.grpc_auth,
                             timeout=rng.uniform(0.1, 0.5)),
                client_ended=True)

    def fault_grpc_cancel(self, rest, channel, rng):
        with self.reset_lock:
            if rng.random() < 0.5:
                thread = f"thread_soakc{self.next_id()}"
                self.arm(f"/v1/threads/{thread}/runs",
                         {"x-mock-sse-events": "400", "x-mock-sse-interval-ms": "10"})
                stub, _ = self.stub(channel, "/openai.v1.AssistantsService/CreateRunStream",
                                    "stream")
                call = stub(self.grpc_request("/openai.v1.AssistantsService/CreateRunStream",
                                              {"thread_id": thread,
                                               "body": {"assistant_id": "asst_soak"}}),
                            metadata=self.grpc_auth, timeout=60)
            else:
                file_id = f"file-soakc{self.next_id()}"
                self.arm(f"/v1/files/{file_id}/content", {"x-mock-bytes": str(64 * MIB)})
                stub, request_class = self.stub(channel, "/openai.v1.FilesService/DownloadFile",
                                                "stream")
                call = stub(request_class(file_id=file_id), metadata=self.grpc_auth, timeout=60)
            try:
                for _ in range(rng.randint(1, 4)):
                    next(call)
            except grpc.RpcError as e:
                self.ledger.record("fault_grpc_cancel", "grpc", e.code().name)
                raise Unexpected(f"a stream to cancel failed first: {e.code().name} "
                                 f"{e.details()}") from None
            call.cancel()
        self.ledger.record("fault_grpc_cancel", "grpc", "CANCELLED")
        if call.code() != grpc.StatusCode.CANCELLED:
            raise Unexpected(f"a cancelled stream ended {call.code().name}")

    def fault_grpc_cut(self, rest, channel, rng):
        file_id = f"file-soakx{self.next_id()}"
        stub, request_class = self.stub(channel, "/openai.v1.FilesService/DownloadFile", "stream")
        with self.reset_lock:
            self.arm(f"/v1/files/{file_id}/content", {"x-mock-break": "mid-body"})
            call = stub(request_class(file_id=file_id), metadata=self.grpc_auth, timeout=30)
            got = 0
            try:
                for chunk in call:
                    got += len(chunk.data)
            except grpc.RpcError as e:
                self.ledger.record("fault_grpc_cut", "grpc", e.code().name)
                if e.code() != grpc.StatusCode.UNAVAILABLE or got > 1000:
                    raise Unexpected(f"a cut download ended {e.code().name} after {got} bytes: "
                                     f"{e.details()}") from None
                return
        self.ledger.record("fault_grpc_cut", "grpc", "OK")
        raise Unexpected(f"a cut download ended OK after {got} bytes")

    def fault_grpc_no_key(self, rest, channel, rng):
        stub, request_class = self.stub(channel, "/openai.v1.ModelsService/RetrieveModel", "unary")
        self.expect_grpc_error("fault_grpc_no_key", "UNAUTHENTICATED",
                               lambda: stub(request_class(model="gpt-4o"), timeout=30))


def status_class(status):
    return f"{status // 100}xx"


def expect_status(status, want, data):
    if status != want:
        raise Unexpected(f"status {status}, {want} expected: {data[:200]!r}")


class RestClient:
    """One thread's HTTP/1.1 connection to the gateway, kept alive between calls."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.reused = False

    def connection(self, fresh=False, timeout=30):
        if fresh or self.conn is None:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self.conn.connect()
            self.reused = False
        else:
            self.reused = True
            if self.conn.sock is None:
                self.conn.connect()
                self.reused = False
            self.conn.sock.settimeout(timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def abandon(self, reset):
        """Leaves the connection as a client that goes away does: FIN, or RST."""
        if self.conn is not None and self.conn.sock is not None and reset:
            self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        self.close()

    def _send(self, method, path, body, headers, chunked):
        conn = self.conn
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        parts = [] if body is None else (body if isinstance(body, list) else [body])
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif body is not None:
            conn.putheader("Content-Length", str(sum(len(p) for p in parts)))
        conn.endheaders()
        for part in parts:
            if chunked:
                view = memoryview(part)
                for at in range(0, len(view), 256 * 1024):
                    piece = view[at:at + 256 * 1024]
                    conn.send(b"%x\r\n" % len(piece))
                    conn.send(piece)
                    conn.send(b"\r\n")
            else:
                conn.send(part)
        if chunked:
            conn.send(b"0\r\n\r\n")
        return conn.getresponse()

    def open(self, method, path, body, headers, fresh=False, chunked=False, timeout=30):
        """The response, headers read. A kept-alive connection the gateway closed while idle
        is replaced once (counted: it should not happen under this load)."""
        self.connection(fresh, timeout)
        try:
            return self._send(method, path, body, headers, chunked)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not self.reused:
                raise
            KEEPALIVE_RETRIES.append(1)
            self.connection(True, timeout)
            return self._send(method, path, body, headers, chunked)

    def done(self, response):
        """After a response was read: keeps the connection if it may be reused."""
        if response.will_close or not response.isclosed():
            self.close()

    def call(self, method, path, body, headers, fresh=False, chunked=False, timeout=30):
        response = self.open(method, path, body, headers, fresh, chunked, timeout)
        try:
            data = response.read()
        finally:
            self.done(response)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


KEEPALIVE_RETRIES = []


# ---- analysis --------------------------------------------------------------------------------

def slope_per_minute(points):
    """Least-squares slope of [(seconds, value)], per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def trend(samples, field):
    """(early mean, late mean, slope per minute, start, end, max) of the post-warm-up samples."""
    points = [(s["t"], s[field]) for s in samples]
    quarter = max(1, len(points) // 4)
    early = mean([v for _, v in points[:quarter]])
    late = mean([v for _, v in points[-quarter:]])
    return {"early": early, "late": late, "slope": slope_per_minute(points),
            "start": points[0][1], "end": points[-1][1], "max": max(v for _, v in points),
            "min": min(v for _, v in points)}


# ---- main ------------------------------------------------------------------------------------

def main(argv):
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    build_dir = os.path.abspath(args.build_dir)
    sources = {"oa-bypass": os.path.join(build_dir, "oa-bypass"),
               "mock_openai": os.path.join(build_dir, "tests", "mock", "mock_openai")}
    for name, path in sources.items():
        if not os.access(path, os.X_OK):
            print(f"soak: {path} is missing; build first (scripts/build.sh) or pass --build-dir",
                  file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="oa-soak-")
    binaries = {}
    for name, path in sources.items():
        binaries[name] = os.path.join(work, name)
        shutil.copy2(path, binaries[name])

    key = f"sk-soak-{random.Random(seed).getrandbits(128):032x}"
    load_s = args.minutes * 60
    mock = Child("mock_openai",
                 [binaries["mock_openai"], "--host", "127.0.0.1", "--port", "0",
                  "--exit-after-s", str(int(load_s + args.settle_s + 600))],
                 os.path.join(work, "mock.log"))
    gateway = None
    failures = []
    try:
        mock_port = int(mock.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 30).group(1))
        gateway_args = [binaries["oa-bypass"], "--listen", "127.0.0.1:0",
                        "--upstream", f"http://127.0.0.1:{mock_port}/v1",
                        "--log-level", "debug", "--workers", str(args.workers),
                        "--upstream-pool-max-idle", str(args.pool_max_idle),
                        "--upstream-first-byte-timeout", f"{int(args.first_byte_timeout_s * 1000)}ms",
                        *args.gateway_arg]
        gateway = Child("oa-bypass", gateway_args, os.path.join(work, "gateway.log"))
        port = int(gateway.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 60).group(1))
        print(f"soak: gateway pid {gateway.pid} on 127.0.0.1:{port}, mock pid {mock.pid} on "
              f"127.0.0.1:{mock_port}; binaries and logs in {work}; seed {seed}")
        print(f"soak: {args.minutes:g} min, {args.concurrency} threads, gateway: "
              f"{' '.join(gateway_args[1:])}", flush=True)
        failures = run(args, seed, key, gateway, port, mock, mock_port)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        failures.append("the soak itself failed (see the traceback)")
    finally:
        exit_code = gateway.stop() if gateway else None
        mock_died = mock.proc.poll()
        mock.stop()
    if mock_died is not None:
        failures.append(f"the mock exited ({mock_died}) before the end: the run says nothing "
                        "about the gateway")
    if gateway is not None:
        log = gateway.text()
        if key in log or key[len("sk-"):] in log:
            failures.append("KEY LEAK: the key is in the gateway's log")
        print(f"gateway log: {len(log.splitlines())} lines, key absent: "
              f"{key not in log and key[len('sk-'):] not in log}; exit status after SIGTERM: "
              f"{exit_code}")
        if exit_code != 0:
            failures.append(f"the gateway exited {exit_code} after SIGTERM")
        levels = collections.Counter()
        notable = collections.Counter()
        for line in log.splitlines():
            fields = line.split(None, 2)
            if len(fields) < 3 or not re.match(r"\d{4}-\d\d-\d\dT", fields[0]):
                continue
            levels[fields[1]] += 1
            if fields[1] in ("warn", "error"):
                # The message with its numbers and addresses blanked, to group alike lines.
                notable[f"{fields[1]} {re.sub(r'[0-9]+', 'N', fields[2])[:160]}"] += 1
        print("gateway log levels: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
        for text, count in notable.most_common(8):
            print(f"  {count:7d}  {text}")
    if failures:
        print("\nFAILED:")
        for failure in failures:
            print(f"  - {failure}")
        print(f"binaries and logs kept in {work}")
        return 1
    print("\nPASSED")
    if args.keep:
        print(f"binaries and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run(args, seed, key, gateway, port, mock, mock_port):
    failures = []
    load_s = args.minutes * 60
    ledger = Ledger()
    reset_lock = ResetLock()
    messages = Messages(DESCRIPTOR_SET)
    soak = Soak(args, port, mock_port, key, ledger, reset_lock, messages)
    for channel in soak.channels:
        grpc.channel_ready_future(channel).result(timeout=30)

    # -- priming: one call of each kind, then back to idle for the baseline --
    prime_rng = random.Random(seed ^ 0x5eed)
    prime_rest = RestClient(port)
    for kind, _ in soak.normal + soak.faults:
        soak.run_one(kind, prime_rest, soak.channels[0], prime_rng)
    prime_rest.close()
    for channel in soak.channels:
        channel.close()
    soak.reset_mock()
    if ledger.totals()[1]:
        failures.append("unexpected outcomes while priming (see the errors table)")
    idle = wait_idle(gateway.pid, port, mock_port, args.settle_s)
    baseline = idle["census"]
    base_status = proc_status(gateway.pid)
    heap_before = heap_in_use(gateway.pid, gateway.log_path) if args.heap_stats else None
    print(f"baseline after priming: fds {dict(baseline)}, RSS {base_status['VmRSS']} KiB, "
          f"threads {base_status['Threads']}" +
          (f", heap in use {heap_before} bytes" if heap_before is not None else ""), flush=True)
    if args.heap_stats and heap_before is None:
        failures.append("--heap-stats: gdb could not read malloc_stats_print() from the gateway")
    priming_calls = ledger.totals()[0]

    # -- the load --
    soak.channels = [soak.new_channel() for _ in range(max(1, args.grpc_channels))]
    samples = []
    start = time.monotonic()
    cpu_start = proc_cpu_s(gateway.pid)
    self_cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    stop_sampling = threading.Event()

    def sample(phase):
        status = proc_status(gateway.pid)
        census = fd_census(gateway.pid, port, mock_port)
        calls, unexpected = ledger.totals()
        try:
            mock_rss = proc_status(mock.pid)["VmRSS"]
        except (FileNotFoundError, KeyError):
            mock_rss = -1
        samples.append({
            "t": round(time.monotonic() - start, 2), "phase": phase, "rss_kib": status["VmRSS"],
            "anon_kib": status["RssAnon"], "file_kib": status["RssFile"],
            "hwm_kib": status["VmHWM"], "threads": status["Threads"], "fds": census["total"],
            "fds_other": census["other"] + census["other_socket"], "listen": census["listen"],
            "client_sockets": census["client"], "upstream_sockets": census["upstream"],
            "close_wait": census["close_wait"],
            "cpu_s": round(proc_cpu_s(gateway.pid) - cpu_start, 2), "mock_rss_kib": mock_rss,
            "calls": calls - priming_calls, "unexpected": unexpected})

    def sampler():
        last_print = 0
        while not stop_sampling.wait(args.sample_s):
            for child in (gateway, mock):
                if child.proc.poll() is not None:
                    failures.append(f"{child.name} exited ({child.proc.returncode}) during the "
                                    "load")
                    soak.stop.set()
                    return
            sample("load" if time.monotonic() - start < load_s else "drain")
            s = samples[-1]
            if s["t"] - last_print >= 30:
                last_print = s["t"]
                print(f"  t={s['t']:6.0f}s calls={s['calls']:7d} unexpected={s['unexpected']} "
                      f"rss={s['rss_kib']} KiB fds={s['fds']} (client {s['client_sockets']}, "
                      f"upstream {s['upstream_sockets']}, other {s['fds_other']}) "
                      f"threads={s['threads']} cpu={s['cpu_s']}s", flush=True)

    def resetter():
        while not soak.stop.wait(args.reset_every_s):
            try:
                reset_lock.exclusive(soak.reset_mock)
                ledger.note("mock resets")
            except Exception as e:  # noqa: BLE001
                ledger.fail("mock_reset", f"{type(e).__name__}: {e}")

    sample("load")
    threads = [threading.Thread(target=sampler, daemon=True),
               threading.Thread(target=resetter, daemon=True)]
    rng = random.Random(seed)
    for index in range(args.concurrency):
        threads.append(threading.Thread(target=soak.worker,
                                        args=(index, random.Random(rng.getrandbits(64))),
                                        daemon=True))
    for thread in threads:
        thread.start()
    soak.stop.wait(load_s)
    soak.stop.set()
    for thread in threads[1:]:
        thread.join(timeout=120)
        if thread.is_alive():
            failures.append("a client thread did not finish within 120 s of the end")
    load_end = time.monotonic() - start
    self_cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    for channel in soak.channels:
        channel.close()

    # -- after the load --
    idle = wait_idle(gateway.pid, port, mock_port, args.settle_s)
    stop_sampling.set()
    threads[0].join()
    sample("idle")
    heap_after = heap_in_use(gateway.pid, gateway.log_path) if args.heap_stats else None
    metrics = idle["metrics"]
    census = idle["census"]
    mock_stats = json.loads(http_get(mock_port, "/__mock/stats")[1])

    # -- verdicts --
    post = [s for s in samples if s["phase"] == "load" and s["t"] >= args.warmup * load_s]
    if len(post) < 4:
        failures.append(f"too few samples after the warm-up ({len(post)}) to judge")
        post = [s for s in samples if s["phase"] == "load"] or samples
    rss = trend(post, "rss_kib")
    anon = trend(post, "anon_kib")
    file_backed = trend(post, "file_kib")
    fds = trend(post, "fds")
    other = trend(post, "fds_other")
    close_wait = trend(post, "close_wait")
    threads_trend = trend(post, "threads")
    rss_drift = rss["late"] - rss["early"]
    rss_drift_pct = 100 * rss_drift / rss["early"]
    rss_growing = rss_drift_pct > args.rss_max_drift_pct or rss["slope"] > args.rss_max_slope_kib
    fd_drift = fds["late"] - fds["early"]
    fd_growing = (fd_drift > args.fd_max_drift or fds["slope"] > args.fd_max_slope or
                  other["late"] > baseline["other"] + baseline["other_socket"] + args.fd_slack or
                  close_wait["late"] - close_wait["early"] > args.fd_slack)

    idle_upstream = metric_sum(metrics, "oa_upstream_connections", state="idle")
    busy_upstream = metric_sum(metrics, "oa_upstream_connections", state="busy")
    base_other = baseline["other"] + baseline["other_socket"]
    now_other = census["other"] + census["other_socket"]
    back = {
        "no client socket": census["client"] == 0,
        "upstream sockets == idle gauge": census["upstream"] == idle_upstream,
        "no busy upstream connection": busy_upstream == 0,
        "idle pool within workers x max-idle": idle_upstream <= args.workers * args.pool_max_idle,
        "non-socket fds within baseline + slack": now_other <= base_other + args.fd_slack,
        "listeners as at baseline": census["listen"] == baseline["listen"],
        "no request in flight": metric_sum(metrics, "oa_requests_in_flight") == 0,
        "no open stream": metric_sum(metrics, "oa_open_streams") == 0,
    }
    fds_back = all(back.values())

    # -- the report --
    duration = load_end
    calls_total, unexpected_total = ledger.totals()
    load_calls = calls_total - priming_calls
    print()
    print("=" * 78)
    print(f"SOAK SUMMARY  seed {seed}")
    print("=" * 78)
    print(f"load            {duration / 60:.2f} min, {args.concurrency} threads, think "
          f"{args.think_ms:g} ms; warm-up {args.warmup * 100:.0f}% "
          f"({args.warmup * load_s:.0f} s); {len(samples)} samples every {args.sample_s:g} s")
    print(f"calls           {load_calls} under load ({load_calls / duration:.1f}/s) + "
          f"{priming_calls} priming; up {ledger.bytes_up / MIB:.1f} MiB, down "
          f"{ledger.bytes_down / MIB:.1f} MiB")
    gw_cpu = samples[-1]["cpu_s"]
    self_cpu = (self_cpu_end.ru_utime + self_cpu_end.ru_stime -
                self_cpu_start.ru_utime - self_cpu_start.ru_stime)
    print(f"cpu             gateway {gw_cpu:.1f} s ({100 * gw_cpu / duration:.0f}% of a core); "
          f"load generator {self_cpu:.1f} s ({100 * self_cpu / duration:.0f}% of a core)")
    print()
    print(f"{'kind':32} {'calls':>8} {'unexpected':>10}")
    for kind, _ in soak.normal + soak.faults:
        print(f"{kind:32} {ledger.calls[kind]:8d} {ledger.unexpected[kind]:10d}")
    for kind in sorted(set(ledger.unexpected) - {k for k, _ in soak.normal + soak.faults}):
        print(f"{kind:32} {'':8} {ledger.unexpected[kind]:10d}")
    print(f"{'total':32} {calls_total:8d} {unexpected_total:10d}")
    if ledger.examples:
        print("\nunexpected outcomes (count, kind, first message):")
        for (kind, text), count in sorted(ledger.examples.items(), key=lambda x: -x[1])[:20]:
            print(f"  {count:6d}  {kind}: {text}")
    if ledger.notes or KEEPALIVE_RETRIES:
        print("\nnotes: " + ", ".join(f"{what}: {n}" for what, n in sorted(ledger.notes.items())) +
              f", kept-alive connections found closed by the gateway: {len(KEEPALIVE_RETRIES)}")

    print()
    print(f"{'gateway':18} {'start':>10} {'end':>10} {'min':>10} {'max':>10} "
          f"{'early q':>10} {'late q':>10} {'slope/min':>10}")
    for name, t, unit in (("RSS (KiB)", rss, ""), ("  anonymous", anon, ""),
                          ("  file-backed", file_backed, ""), ("fds", fds, ""),
                          ("  non-socket fds", other, ""), ("  CLOSE_WAIT", close_wait, ""),
                          ("threads", threads_trend, "")):
        print(f"{name:18} {t['start']:10.0f} {t['end']:10.0f} {t['min']:10.0f} {t['max']:10.0f} "
              f"{t['early']:10.1f} {t['late']:10.1f} {t['slope']:10.2f}")
    print(f"RSS drift         {rss_drift:+.0f} KiB ({rss_drift_pct:+.2f}%) late vs early quarter "
          f"after warm-up; limits {args.rss_max_drift_pct:g}% and "
          f"{args.rss_max_slope_kib:g} KiB/min")
    print(f"fd drift          {fd_drift:+.1f}; limits {args.fd_max_drift:g} and "
          f"{args.fd_max_slope:g}/min")
    print(f"peak RSS (VmHWM)  {samples[-1]['hwm_kib']} KiB; RSS idle after the load "
          f"{samples[-1]['rss_kib']} KiB (before the load {samples[0]['rss_kib']} KiB)")
    heap_growing = False
    if heap_before is not None and heap_after is not None:
        growth_kib = (heap_after - heap_before) / 1024
        heap_growing = growth_kib > args.heap_max_growth_kib
        print(f"heap in use, idle (jemalloc's stats): {heap_before / 1024:.0f} KiB before the "
              f"load, {heap_after / 1024:.0f} KiB after: {growth_kib:+.0f} KiB, "
              f"{(heap_after - heap_before) / max(1, load_calls):+.1f} bytes a call; limit "
              f"{args.heap_max_growth_kib:g} KiB")
    print(f"mock              RSS {samples[0]['mock_rss_kib']} -> {samples[-1]['mock_rss_kib']} KiB; "
          f"connections accepted {mock_stats['accepted']}, open {mock_stats['open']}, responses "
          f"aborted by the peer {mock_stats['aborted']}")
    print()
    print(f"fds after the load (waited {idle['waited']:.1f} s): {dict(census)}; baseline "
          f"{dict(baseline)}; idle upstream connections (gauge) {idle_upstream:.0f}, busy "
          f"{busy_upstream:.0f}")
    for what, ok in back.items():
        print(f"  {'ok ' if ok else 'NO '} {what}")

    # -- /metrics against the calls --
    print()
    metric_ok = compare_metrics(metrics, ledger, failures)
    print(f"upstream: connects {metric_sum(metrics, 'oa_upstream_connects_total'):.0f}, retries "
          f"{metric_sum(metrics, 'oa_upstream_retries_total'):.0f}, errors " +
          ", ".join(f"{l['kind']} {v:.0f}" for n, l, v in metrics
                    if n == "oa_upstream_errors_total" and v) +
          f"; process_open_fds {metric_sum(metrics, 'process_open_fds'):.0f}, "
          f"process_resident_memory_bytes {metric_sum(metrics, 'process_resident_memory_bytes'):.0f}")

    print()
    print(f"RSS: {'GROWING' if rss_growing else 'FLAT'}")
    print(f"FDS: {'GROWING' if fd_growing else 'FLAT'}")
    print(f"FDS AFTER LOAD: {'BACK TO BASELINE' if fds_back else 'NOT BACK'}")
    if heap_before is not None and heap_after is not None:
        print(f"HEAP: {'GROWING' if heap_growing else 'FLAT'}")
    print(f"ERRORS: {unexpected_total} unexpected")
    print(f"METRICS: {'MATCH' if metric_ok else 'MISMATCH'}")
    if rss_growing:
        failures.append(f"RSS growing: {rss_drift_pct:+.2f}% drift, {rss['slope']:.0f} KiB/min")
    if fd_growing:
        failures.append(f"fds growing: drift {fd_drift:+.1f}, slope {fds['slope']:.2f}/min, "
                        f"non-socket max {other['max']}, CLOSE_WAIT {close_wait['late']:.1f}")
    if not fds_back:
        failures.append("fds not back to baseline after the load: " +
                        ", ".join(w for w, ok in back.items() if not ok))
    if heap_growing:
        failures.append(f"the idle heap grew by {(heap_after - heap_before) / 1024:.0f} KiB")
    if unexpected_total:
        failures.append(f"{unexpected_total} unexpected outcome(s)")
    if not metric_ok:
        failures.append("/metrics does not match the calls made")

    if args.csv:
        with open(args.csv, "w") as f:
            fields = list(samples[0])
            f.write(",".join(fields) + "\n")
            for s in samples:
                f.write(",".join(str(s[k]) for k in fields) + "\n")
        print(f"samples written to {args.csv}")
    return failures


def wait_idle(pid, port, mock_port, settle_s):
    """Waits until the gateway has no call in flight, no client socket and no busy upstream
    connection, for at most settle_s; its metrics and descriptors then."""
    started = time.monotonic()
    while True:
        status, body = http_get(port, "/metrics")
        metrics = parse_metrics(body.decode())
        time.sleep(0.2)  # let the gateway close our /metrics connection
        census = fd_census(pid, port, mock_port)
        quiet = (metric_sum(metrics, "oa_requests_in_flight") == 0 and
                 metric_sum(metrics, "oa_upstream_connections", state="busy") == 0 and
                 census["client"] == 0 and
                 census["upstream"] == metric_sum(metrics, "oa_upstream_connections",
                                                  state="idle"))
        waited = time.monotonic() - started
        if quiet or waited > settle_s:
            return {"metrics": metrics, "census": census, "waited": waited}
        time.sleep(0.5)


def compare_metrics(metrics, ledger, failures):
    """Prints oa_requests_total beside the calls the clients made; whether they match."""
    ok = True
    served = collections.Counter()
    for name, labels, value in metrics:
        if name == "oa_requests_total" and labels.get("rpc") != "-":
            served[(labels["front"], labels["code"])] += int(value)
    print(f"{'/metrics oa_requests_total':28} {'gateway':>9} {'clients':>9}")
    for front in ("rest", "grpc"):
        total = sum(v for (f, _), v in served.items() if f == front)
        mine = ledger.front_calls[front]
        mark = "" if total == mine else "   <-- differs"
        ok &= total == mine
        print(f"{front + ' (all codes)':28} {total:9d} {mine:9d}{mark}")
        codes = sorted({c for f, c in served if f == front} |
                       {c for f, c in ledger.codes if f == front})
        left = ledger.left_early[front]
        # The gateway also counts the calls that the client ended before an answer (it left,
        # or its deadline passed), under a code the client never saw: so per code the
        # gateway may count more than the clients saw, and those extras add up to them.
        extra = 0
        for code in codes:
            theirs, seen = served[(front, code)], ledger.codes[(front, code)]
            mark = ""
            if theirs < seen:
                mark = "   <-- differs"
                ok = False
            elif theirs > seen:
                extra += theirs - seen
                mark = "   (+ calls ended by the client)"
            print(f"  {code:26} {theirs:9d} {seen:9d}{mark}")
        if left or extra:
            mark = "" if extra == left else "   <-- differs"
            ok &= extra == left
            print(f"  {'ended by the client':26} {extra:9d} {left:9d}{mark}")
    if not ok:
        failures.append("oa_requests_total differs from the calls made (see the table)")
    return ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
