#!/usr/bin/python3
"""Isolation of callers through oa-bypass: no byte of one caller's exchange reaches another.

The gateway pools keep-alive HTTP/1.1 connections to its upstream. These tests put a
small misbehaving upstream behind it (written here, run as a child process of this file:
`isolation_test.py --upstream MODE`) and many concurrent callers in front, each call with
a fresh random key (`sk-iso-` and 32 hex digits). The upstream echoes the caller's key
(`Authorization: Bearer ...`) in every answer, as an `openai.v1.Model`:
`{"id": KEY, "object": "model", "created": 0, "owned_by": KEY}`, so an answer that holds
any key other than the caller's own is a WRONG answer: bytes of one caller's exchange that
reached another. Errors (the gateway's 4xx/5xx, a closed connection) are counted and
printed, but are not wrong answers.

What is tried:

- client-triggered smuggling: attackers hide a whole second request in the body of a
  GET (Content-Length body, chunked body), of a HEAD and of a DELETE, to an upstream that,
  like many small OpenAI-compatible servers, never reads the body of GET/HEAD/DELETE and
  so runs the hidden request, whose extra answer desynchronises the pooled connection.
  The victims calling meanwhile must get 0 wrong answers, and the hidden request must
  never run upstream (the gateway refuses a body it cannot frame as the upstream will);
- an upstream that sends extra bytes: a second, unsolicited answer in the same send() as
  the answer (extra-with) or in a separate send() right after it (extra-after), a body
  after a HEAD answer, after a 204 and after a 304 answer (the body being a whole HTTP
  answer): 0 wrong answers. Stray bytes that would reach the gateway only after it sent
  its next request on that connection would be late answers, not these: the upstream
  does not send them then (see STRAY_MODES);
- late unsolicited answers (a duplicate of each answer 50 ms after it): no HTTP/1.1 proxy
  can tell such an answer from the next one once the next request is sent, so the
  requirement is fewer wrong answers than nginx 1.22 (/usr/sbin/nginx, Debian's
  nginx-light) under the identical load in the same run; both counts are printed;
- pipelined callers (several requests back to back on one connection, answers read in
  order) and gRPC callers (`openai.v1.ModelsService/RetrieveModel` over the same port,
  message classes built at run time from gen/openai_v1.binpb), with a well-behaved and
  with a misbehaving upstream.

Every test prints its figures (calls, ok, wrong, errors by kind; what the attackers got;
what the upstream saw). The gateway runs with `--workers 1`; its log goes to a temporary
file, copied to $OA_TEST_OUTPUT_DIR as `isolation_<name>.log` when that is set. The
whole file takes about 11 s on two cores.

Run by hand (Debian's /usr/bin/python3, which has python3-grpcio and python3-protobuf):

    /usr/bin/python3 tests/integration/isolation_test.py -v
    OA_BYPASS_BINARY=/path/to/oa-bypass /usr/bin/python3 tests/integration/isolation_test.py -v
    /usr/bin/python3 tests/integration/isolation_test.py -v \\
        IsolationTest.test_pipelined_callers_get_their_own_answers

OA_BYPASS_BINARY defaults to build/oa-bypass, OA_NGINX_BINARY to /usr/sbin/nginx.
"""

import atexit
import collections
import heapq
import itertools
import json
import os
import random
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from oa_test_support import GATEWAY_BINARY, load_openai_messages  # noqa: E402

NGINX_BINARY = os.environ.get("OA_NGINX_BINARY", "/usr/sbin/nginx")

START_TIMEOUT_S = 20
IO_TIMEOUT_S = 5  # every socket operation of a caller
JOIN_TIMEOUT_S = 60  # every load's threads, together
STOP_TIMEOUT_S = 10

KEY_PREFIX = "sk-iso-"
KEY_PATTERN = re.compile(rb"sk-iso-[0-9a-f]{8,}")


def new_key():
    """A fresh caller key: unique, so any other key in an answer is someone else's."""
    return KEY_PREFIX + secrets.token_hex(16)


def say(text):
    print(text, flush=True)


# ---- the misbehaving upstream --------------------------------------------------------------
#
# Runs in a child process (`isolation_test.py --upstream MODE`), not among the callers'
# threads, which keep this interpreter's lock busy: the upstream's sends would wait for
# it, and "right after an answer" would turn into "late".

UPSTREAM_MODES = ("naive", "extra-with", "extra-after", "head-body", "no-content-body", "late")
LATE_DELAY_S = 0.05
REQUEST_LINE = re.compile(rb"[A-Z]+ [^ ]+ HTTP/1\.[01]")
BODY_METHODS = (b"POST", b"PUT", b"PATCH")
HIDDEN_PATH = "/v1/models/hidden-"  # the attackers' hidden requests ask for this
OUTER_PATH = "/v1/models/outer-"  # and the requests that carry them for this


# The modes of stray bytes sent with or right after an answer. A proxy can notice such
# bytes only if they arrive before it sends its next request on that connection; after
# that they are late answers, which no HTTP/1.1 proxy can tell from the answer to that
# request (the late test holds those against nginx). And "right after" is not always
# before: the stray bytes go in a send() of their own, and on two busy cores the proxy,
# woken by the first send(), may relay the answer and send its next request on the
# connection before the upstream's thread runs again (measured here: up to 3 ms between
# the two sends, for a few percent of the answers). On loopback, bytes sent are in the
# peer's socket when send() returns, so the upstream tells: if the proxy's next request
# is already there right after an answer was sent, it sends no stray bytes after it.
# Every other wrong answer fails the test.
STRAY_MODES = ("extra-with", "extra-after", "head-body", "no-content-body")
# The upstream's count of stray bytes sent after the answer's check, found followed by the
# proxy's next request at once (seen: 1 wrong answer of 480 in one run of six).
RACED = "stray bytes that raced the next request"


def model_answer(key):
    """(head, body) of the upstream's answer to `key`'s call. The key is in the body, and
    in an X-Echo-Key header too, which the gateway relays: so the answers without a body
    (to HEAD, 204, 304) hold it as well."""
    body = json.dumps({"id": key, "object": "model", "created": 0, "owned_by": key}).encode()
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Echo-Key: %s\r\n"
            b"Content-Length: %d\r\n\r\n" % (key.encode("latin-1"), len(body)))
    return head, body


class _UpstreamRequest:
    def __init__(self, method, target, headers):
        self.method = method
        self.target = target
        self.headers = headers
        auth = headers.get(b"authorization", b"")
        self.key = auth[len(b"Bearer "):].decode("latin-1") if auth.startswith(b"Bearer ") else ""


class _UpstreamConnection:
    """One connection accepted by the upstream: a naive request reader and a locked writer
    (the late mode's timer thread writes too)."""

    def __init__(self, sock):
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.answers = 0
        self._lock = threading.Lock()
        self._closed = False

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise EOFError
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_request(self):
        """The next request, or None at the connection's end. Naive, as many small servers
        are: lines before a request line are skipped (as stray CRLFs are), and a body is
        read only for POST, PUT and PATCH (by Content-Length, or dechunked); the body of a
        GET, HEAD or DELETE is left to be read as the next request."""
        try:
            while True:
                while True:
                    eol = self.buf.find(b"\r\n")
                    if eol < 0 or REQUEST_LINE.fullmatch(self.buf[:eol]):
                        break
                    self.buf = self.buf[eol + 2:]
                end = self.buf.find(b"\r\n\r\n")
                if eol >= 0 and end >= 0:
                    break
                if len(self.buf) > 1 << 20:
                    return None
                self._fill()
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if method in BODY_METHODS:
                if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                    while True:
                        size = int(self._line().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self._line():  # trailers, up to the empty line
                                pass
                            break
                        self._take(size + 2)
                elif b"content-length" in headers:
                    self._take(int(headers[b"content-length"]))
            return _UpstreamRequest(method, target, headers)
        except (EOFError, OSError, ValueError):
            return None

    def request_waiting(self):
        """Whether bytes of a next request have come (read, or waiting in the socket)."""
        if self.buf:
            return True
        if isinstance(self.sock, ssl.SSLSocket):  # TLS holds some, or records wait below
            return self.sock.pending() > 0 or bool(select.select([self.sock], [], [], 0)[0])
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return False
        except OSError:
            return False

    def send(self, *pieces):
        """Writes each piece with a send() of its own; False once the connection is closed."""
        with self._lock:
            if self._closed:
                return False
            try:
                for piece in pieces:
                    self.sock.sendall(piece)
                return True
            except OSError:
                self._closed = True
                return False

    def close(self):
        with self._lock:
            self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class _LateSender:
    """The late mode's timer thread: sends each queued piece when it is due, if its
    connection is still open."""

    def __init__(self):
        self._queue = []
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def schedule(self, delay, conn, data):
        with self._changed:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), conn, data))
            self._changed.notify()

    def _run(self):
        while True:
            with self._changed:
                while not self._stopping:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    self._changed.wait(self._queue[0][0] - now if self._queue else None)
                if self._stopping:
                    return
                _, _, conn, data = heapq.heappop(self._queue)
            if conn.send(data):
                self.sent += 1

    def stop(self):
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout=STOP_TIMEOUT_S)


class MisbehavingUpstream:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port), keep-alive, a thread per
    connection, answering every request with 200 application/json echoing the caller's
    key. The mode says how it misbehaves:

    naive            only the naive reading of read_request()
    extra-with       a duplicate of each answer in the same send() as the answer
    extra-after      a duplicate of each answer in a separate send() right after it
    head-body        a HEAD answer followed by a body anyway: a whole HTTP answer
    no-content-body  DELETE answered 204, and GET with If-None-Match answered 304, each
                     followed by a body: a whole HTTP answer
    late             a duplicate of each answer 50 ms after it, if the connection is open

    (head-body and no-content-body send the stray body in the same send() as the head on
    a connection's even answers, in a send() of its own right after on its odd ones.)
    """

    def __init__(self, mode, think_s=0.0, cert_dir=None):
        if mode not in UPSTREAM_MODES:
            raise ValueError(f"unknown upstream mode {mode!r}")
        self.mode = mode
        self.think_s = think_s
        self.tls = None  # with `cert_dir` (make_test_certs.sh's), HTTPS
        if cert_dir:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(os.path.join(cert_dir, "good.pem"),
                                     os.path.join(cert_dir, "good.key"))
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self.listener.getsockname()[1]
        self.stats = collections.Counter()
        self._stats_lock = threading.Lock()
        self._conns = set()
        self._conns_lock = threading.Lock()
        self._stopping = threading.Event()
        self._late = _LateSender() if mode == "late" else None
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self._acceptor.start()

    def count(self, name):
        with self._stats_lock:
            self.stats[name] += 1

    def _accept(self):
        self.listener.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            conn = _UpstreamConnection(sock)
            with self._conns_lock:
                if self._stopping.is_set():
                    conn.close()
                    break
                self._conns.add(conn)
            self.count("connections")
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.tls:
                conn.sock = self.tls.wrap_socket(conn.sock, server_side=True)
            while not self._stopping.is_set():
                request = conn.read_request()
                if request is None:
                    break
                self._answer(conn, request)
        except (OSError, ssl.SSLError):
            pass  # a handshake the gateway gave up on, or a connection it reset
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()

    def _answer(self, conn, request):
        self.count("requests")
        target = request.target.decode("latin-1")
        if target.startswith(HIDDEN_PATH):
            self.count("hidden requests")
        elif target.startswith(OUTER_PATH):
            self.count("outer requests")
        if self.think_s:
            time.sleep(self.think_s)
        head, body = model_answer(request.key)
        whole = head + body
        echo = b"X-Echo-Key: %s\r\n" % request.key.encode("latin-1")
        mode = self.mode
        together = conn.answers % 2 == 0
        conn.answers += 1
        stray = None  # bytes after the answer: an extra answer, or a body where none may be
        if mode == "no-content-body" and request.method == b"DELETE":
            first, stray = b"HTTP/1.1 204 No Content\r\n" + echo + b"\r\n", whole
        elif mode == "no-content-body" and b"if-none-match" in request.headers:
            first, stray = (b'HTTP/1.1 304 Not Modified\r\nETag: "m1"\r\n' + echo
                            + b"Content-Length: %d\r\n\r\n" % len(whole), whole)
        elif request.method == b"HEAD" and mode == "head-body":
            first, stray = head.replace(b"Content-Length: %d" % len(body),
                                        b"Content-Length: %d" % len(whole)), whole
        elif request.method == b"HEAD":
            first = head
        elif mode in ("extra-with", "extra-after"):
            first, stray, together = whole, whole, mode == "extra-with"
        else:
            first = whole
        if stray is None:
            conn.send(first)
            if self._late:
                self._late.schedule(LATE_DELAY_S, conn, whole)
        elif together:
            self.count("stray bytes with an answer")
            conn.send(first + stray)
        else:
            conn.send(first)
            if conn.request_waiting():
                # The proxy sent its next request before the stray bytes could go: they
                # would be a late answer.
                self.count("stray bytes not sent: the next request had come")
                return
            self.count("stray bytes right after an answer")
            conn.send(stray)
            if conn.request_waiting():
                # The proxy's next request came between the look above and this send: the
                # stray bytes may have reached it after that request went, a late answer
                # like the late mode's. A wrong answer then is excused (RACED), not more.
                self.count(RACED)

    def stop(self):
        self._stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass
        self._acceptor.join(timeout=STOP_TIMEOUT_S)
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        if self._late:
            self._late.stop()
            self.stats["late answers"] = self._late.sent


def upstream_main(mode, think_ms, cert_dir=None):
    """The child process: serves until its stdin closes or SIGTERM, then prints its stats."""
    server = MisbehavingUpstream(mode, think_ms / 1000, cert_dir)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    try:
        sys.stdin.buffer.read()
    finally:
        server.stop()
        print("stats " + json.dumps(dict(server.stats)), flush=True)


# ---- processes -----------------------------------------------------------------------------

_children = set()  # every child process still running, killed at exit whatever happened


def _spawn(args, **kwargs):
    proc = subprocess.Popen(args, **kwargs)
    _children.add(proc)
    return proc


def _stop_process(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _children.discard(proc)


@atexit.register
def _kill_children():
    for proc in list(_children):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _children.clear()


class UpstreamProcess:
    """A MisbehavingUpstream in a child process; stop() returns its stats."""

    def __init__(self, mode, think_ms=0, cert_dir=None):
        self.mode = mode
        self.stats = None
        self.proc = _spawn(
            [sys.executable, os.path.abspath(__file__), "--upstream", mode, str(think_ms)]
            + ([cert_dir] if cert_dir else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._out = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            match = re.search(rb"listening on 127\.0\.0\.1:(\d+)\n", self._out)
            if match:
                self.port = int(match.group(1))
                return
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_some(left):
                self.stop()
                raise RuntimeError(f"the {mode} upstream did not start: {self._out!r}")

    def _read_some(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], min(timeout, 0.5))
        if ready:
            data = os.read(self.proc.stdout.fileno(), 65536)
            self._out += data
            return bool(data)
        return self.proc.poll() is None

    def stop(self):
        if self.stats is not None:
            return self.stats
        try:
            self.proc.stdin.close()  # the upstream's cue to stop and print its stats
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _stop_process(self.proc)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and self._read_some(deadline - time.monotonic()):
            pass
        self.proc.stdout.close()
        match = re.search(rb"stats (\{.*\})", self._out)
        self.stats = json.loads(match.group(1)) if match else {}
        return self.stats


def _keep_log(path, name):
    kept = os.environ.get("OA_TEST_OUTPUT_DIR")
    if kept and os.path.exists(path):
        shutil.copyfile(path, os.path.join(kept, f"isolation_{name}.log"))


class GatewayProcess:
    """oa-bypass with --workers 1 in front of the upstream at `upstream_port` (over
    HTTPS, trusting `ca_file`, when that is given)."""

    def __init__(self, name, upstream_port, ca_file=None):
        self.name = name
        self.log_path = tempfile.mkstemp(prefix=f"isolation_{name}_", suffix=".log")[1]
        self._log = open(self.log_path, "wb")
        try:
            self.proc = _spawn(
                [GATEWAY_BINARY, "--listen", "127.0.0.1:0",
                 "--upstream", f"{'https' if ca_file else 'http'}://127.0.0.1:{upstream_port}/v1",
                 "--workers", "1", "--log-level", "info", "--drain-timeout", "1s"]
                + (["--upstream-ca-file", ca_file] if ca_file else []),
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        except OSError as exc:
            self._log.close()
            os.unlink(self.log_path)
            raise RuntimeError(
                f"cannot run {GATEWAY_BINARY} (set OA_BYPASS_BINARY): {exc}") from exc
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with open(self.log_path, "rb") as f:
                match = re.search(rb"listening on 127\.0\.0\.1:(\d+)", f.read())
            if match:
                self.port = int(match.group(1))
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                with open(self.log_path, "rb") as f:
                    log = f.read()[-4000:]
                self.stop()
                raise RuntimeError(f"{GATEWAY_BINARY} did not start (exit code "
                                   f"{self.proc.poll()}): {log!r}")
            time.sleep(0.02)

    def stop(self):
        """Stops the gateway (SIGTERM: it drains, then exits 0); returns its exit status."""
        if self._log.closed:
            return self.proc.returncode
        _stop_process(self.proc)
        self._log.close()
        _keep_log(self.log_path, self.name)
        os.unlink(self.log_path)
        return self.proc.returncode


NGINX_CONF = """\
# A keep-alive reverse proxy as bench/nginx.conf.in, one worker.
worker_processes 1;
daemon off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{
  worker_connections 4096;
}}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream openai {{
    server 127.0.0.1:{upstream_port};
    keepalive 1024;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    client_max_body_size 0;
    location /v1/ {{
      proxy_pass {scheme}://openai;{tls}
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxProcess:
    """nginx as a non-daemon child in a temporary prefix, in front of `upstream_port`."""

    def __init__(self, name, upstream_port, ca_file=None):
        if not os.access(NGINX_BINARY, os.X_OK):
            raise RuntimeError(f"{NGINX_BINARY} is missing: install Debian's nginx-light "
                               "(scripts/setup.sh nginx-light), or set OA_NGINX_BINARY")
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="isolation_nginx_")
        self.proc = None
        for _ in range(5):  # a port found free may be taken before nginx binds it
            self.port = _free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                # Over HTTPS: verified as the gateway verifies, sessions reused.
                tls = (f"\n      proxy_ssl_trusted_certificate {ca_file};"
                       "\n      proxy_ssl_verify on;\n      proxy_ssl_name localhost;"
                       if ca_file else "")
                f.write(NGINX_CONF.format(dir=self.dir, port=self.port,
                                          upstream_port=upstream_port,
                                          scheme="https" if ca_file else "http", tls=tls))
            with open(os.path.join(self.dir, "stderr.log"), "wb") as stderr:
                self.proc = _spawn(
                    [NGINX_BINARY, "-p", self.dir, "-c", conf, "-e", f"{self.dir}/error.log"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
            if self._wait_listening():
                return
            _stop_process(self.proc)
        log = self._logs()
        self.stop()
        raise RuntimeError(f"nginx did not start: {log[-4000:]}")

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _logs(self):
        text = ""
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def stop(self):
        if self.proc is not None:
            _stop_process(self.proc)
        _keep_log(os.path.join(self.dir, "error.log"), self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- callers -------------------------------------------------------------------------------

class Tally:
    """What a group of callers got: calls, ok, wrong (another caller's key in the answer),
    errors by kind, and the statuses seen."""

    def __init__(self, name):
        self.name = name
        self.calls = self.ok = self.wrong = 0
        self.wrong_answers = []  # (status, own keys, other callers' keys) of each
        self.errors = collections.Counter()
        self.statuses = collections.Counter()
        self._lock = threading.Lock()

    @property
    def error_count(self):
        return sum(self.errors.values())

    def answer(self, own_keys, status, raw, expect_echo=True):
        """Accounts for one answer (its head and body bytes) to a call made with
        `own_keys`: wrong if it holds any other key; else ok if it holds the caller's
        own (or, unless `expect_echo`, if its status is not an error); else an error."""
        foreign = {k.decode() for k in KEY_PATTERN.findall(raw)} - set(own_keys)
        with self._lock:
            self.calls += 1
            self.statuses[status] += 1
            if foreign:
                self.wrong += 1
                self.wrong_answers.append((status, sorted(own_keys), foreign))
            elif (own_keys[0].encode() in raw) if expect_echo else 200 <= status < 400:
                self.ok += 1
            else:
                self.errors[f"status {status}"] += 1

    @property
    def examples(self):
        """A few wrong answers."""
        return [f"status {status}, own {own}, got {sorted(foreign)}"
                for status, own, foreign in self.wrong_answers[:3]]

    def error(self, kind, calls=1):
        with self._lock:
            self.calls += calls
            self.errors[kind] += calls

    def line(self):
        errors = ", ".join(f"{n} {kind}" for kind, n in sorted(self.errors.items()))
        text = (f"{self.name}: {self.calls} calls, {self.ok} ok, {self.wrong} wrong, "
                f"{self.error_count} errors" + (f" ({errors})" if errors else ""))
        if self.wrong:
            text += "; e.g. " + "; ".join(self.examples)
        return text

    def status_line(self):
        return f"{self.name} got: " + ", ".join(
            f"{n}x {status}" for status, n in sorted(self.statuses.items(), key=str))


class CallerClosed(Exception):
    pass


class HttpConnection:
    """A caller's keep-alive HTTP/1.1 connection: raw bytes out, answers read whole."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def send(self, data):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT_S)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        self.sock.sendall(data)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise CallerClosed
        self.buf += data

    def read_answer(self, method="GET"):
        """(status, head and body bytes) of the next answer; closes the connection after
        an answer that says so."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ", 2)[1])
            if not 100 <= status < 200:
                break
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif b"chunked" in headers.get(b"transfer-encoding", b""):
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        elif b"content-length" in headers:
            size = int(headers[b"content-length"])
            while len(self.buf) < size:
                self._fill()
            body, self.buf = self.buf[:size], self.buf[size:]
        else:
            try:
                while True:
                    self._fill()
            except CallerClosed:
                body, self.buf = self.buf, b""
            self.close()
        if headers.get(b"connection") == b"close":
            self.close()
        return status, head + b"\r\n\r\n" + body


def request_bytes(method, path, key, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {key}"]
    lines += headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def error_kind(exc):
    if isinstance(exc, CallerClosed):
        return "connection closed"
    if isinstance(exc, socket.timeout):
        return "timeout"
    return type(exc).__name__


def run_threads(targets):
    """Runs each callable on a thread of its own; bounded by JOIN_TIMEOUT_S in all."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        raise AssertionError(f"{stuck} caller threads still running after {JOIN_TIMEOUT_S} s")


def victim_caller(port, tally, calls, shape=None, pause_s=0.0):
    """A caller making `calls` calls one after the other on a keep-alive connection;
    `shape(i)` gives (method, path, extra headers) of call i (default: GET
    /v1/models/m-<i>). Between calls it pauses a random time of `pause_s` on average
    (uniform from 0 to twice that), so that callers do not fall into step."""

    def run():
        conn = HttpConnection(port)
        try:
            for i in range(calls):
                method, path, headers = (
                    shape(i) if shape else ("GET", f"/v1/models/m-{i}", ()))
                key = new_key()
                try:
                    conn.send(request_bytes(method, path, key, headers))
                    status, raw = conn.read_answer(method)
                except (OSError, CallerClosed, ValueError, IndexError) as exc:
                    tally.error(error_kind(exc))
                    conn.close()
                    continue
                tally.answer([key], status, raw)
                if pause_s:
                    time.sleep(random.uniform(0, 2 * pause_s))
        finally:
            conn.close()

    return run


def pipelined_caller(port, tally, batches, depth, pause_s=0.0):
    """A caller sending `depth` GETs back to back on one keep-alive connection (each with a
    key of its own), then reading their answers in order; `batches` times."""

    def run():
        conn = HttpConnection(port)
        try:
            for b in range(batches):
                keys = [new_key() for _ in range(depth)]
                data = b"".join(request_bytes("GET", f"/v1/models/p-{b}-{i}", key)
                                for i, key in enumerate(keys))
                read = 0
                try:
                    conn.send(data)
                    for key in keys:
                        status, raw = conn.read_answer()
                        tally.answer([key], status, raw)
                        read += 1
                        if conn.sock is None and read < depth:
                            raise CallerClosed  # closed after an answer, the rest unread
                except (OSError, CallerClosed, ValueError, IndexError) as exc:
                    tally.error(error_kind(exc), depth - read)
                    conn.close()
                if pause_s:
                    time.sleep(random.uniform(0, 2 * pause_s))
        finally:
            conn.close()

    return run


def attack_bytes(shape):
    """(method, request bytes, own keys) of an attack: a whole request hidden in the body
    of a request whose body the upstream will not read."""
    outer, hidden = new_key(), new_key()
    n = secrets.token_hex(4)
    smuggled = request_bytes("GET", f"{HIDDEN_PATH}{n}", hidden)
    method = {"get-length": "GET", "get-chunked": "GET", "head-length": "HEAD",
              "delete-length": "DELETE"}[shape]
    if shape == "get-chunked":
        framing, body = "Transfer-Encoding: chunked", b"%x\r\n%s\r\n0\r\n\r\n" % (
            len(smuggled), smuggled)
    else:
        framing, body = f"Content-Length: {len(smuggled)}", smuggled
    data = request_bytes(method, f"{OUTER_PATH}{n}", outer,
                         ("Content-Type: application/json", framing), body)
    return method, data, [outer, hidden]


def attacker(port, tally, shapes, stop, pause_s):
    """Sends attacks of the given shapes in turn, each on a new connection, until `stop`."""

    def run():
        for shape in itertools.cycle(shapes):
            if stop.is_set():
                return
            method, data, keys = attack_bytes(shape)
            conn = HttpConnection(port)
            try:
                conn.send(data)
                status, raw = conn.read_answer(method)
                tally.answer(keys, status, raw, expect_echo=False)
            except (OSError, CallerClosed, ValueError, IndexError) as exc:
                tally.error(error_kind(exc))
            finally:
                conn.close()
            stop.wait(pause_s)

    return run


# ---- gRPC callers --------------------------------------------------------------------------

RETRIEVE_MODEL = "/openai.v1.ModelsService/RetrieveModel"


def grpc_callers(port, tally, threads, calls, pause_s=0.0, channels=2):
    """`threads` callers over `channels` channels (each its own HTTP/2 connection), each
    calling RetrieveModel `calls` times; returns (callables, channels to close)."""
    try:
        import grpc
    except ImportError as exc:
        raise RuntimeError("the gRPC callers need Debian's python3-grpcio: run this file "
                           "with /usr/bin/python3") from exc
    request_class, response_class, _ = load_openai_messages().method(RETRIEVE_MODEL)
    opened = [grpc.insecure_channel(f"127.0.0.1:{port}",
                                    options=[("grpc.enable_http_proxy", 0),
                                             ("grpc.use_local_subchannel_pool", 1)])
              for _ in range(channels)]
    try:
        for channel in opened:
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
    except Exception:
        for channel in opened:
            channel.close()
        raise

    def caller(t):
        stub = opened[t % channels].unary_unary(
            RETRIEVE_MODEL, request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString)

        def run():
            for i in range(calls):
                key = new_key()
                try:
                    response = stub(request_class(model=f"g-{t}-{i}"),
                                    metadata=(("authorization", f"Bearer {key}"),),
                                    timeout=IO_TIMEOUT_S * 2)
                except grpc.RpcError as exc:
                    tally.error(f"gRPC {exc.code().name}")
                    continue
                raw = response.SerializeToString()
                ok = response.id == key and response.owned_by == key
                tally.answer([key], 200 if ok else 0, raw)
                if pause_s:
                    time.sleep(random.uniform(0, 2 * pause_s))

        return run

    return [caller(t) for t in range(threads)], opened


class Attackers:
    """ATTACKERS threads sending attacks of the given shapes, one each ATTACK_PAUSE_S, for
    as long as the `with` block runs."""

    def __init__(self, port, shapes):
        self.tally = Tally("attackers")
        self._stop = threading.Event()
        self._threads = [threading.Thread(
            target=attacker(port, self.tally, shapes, self._stop, ATTACK_PAUSE_S), daemon=True)
            for _ in range(ATTACKERS)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        time.sleep(ATTACK_PAUSE_S)  # the first attacks are under way when the callers start
        return self

    def __exit__(self, *_):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2 * IO_TIMEOUT_S)


# ---- the tests -----------------------------------------------------------------------------

# REST callers: threads of calls one after the other, each thread on a keep-alive
# connection of its own (600 calls per test).
CALLER_THREADS = 24
CALLER_CALLS = 25
# Beside attackers, callers pause about PACED_PAUSE_S between calls, so that their calls
# spread over the attacks (ATTACKERS threads, an attack each ATTACK_PAUSE_S, each on a
# new connection): some 60 attacks per test. Before an upstream that sends stray bytes,
# they pause as much, so that a gateway mostly reuses a connection some time after its
# last answer, not within microseconds (see STRAY_MODES); with a well-behaved upstream
# they do not pause.
PACED_PAUSE_S = 0.01
ATTACKERS = 2
ATTACK_PAUSE_S = 0.01
ALL_ATTACKS = ("get-length", "get-chunked", "head-length", "delete-length")
# Pipelined callers: PIPELINE_DEPTH requests at a time (480 calls per test); beside
# attackers they pause about 2 * PACED_PAUSE_S between batches.
PIPELINE_THREADS = 8
PIPELINE_BATCHES = 15
PIPELINE_DEPTH = 4
# gRPC callers over two channels (480 calls per test).
GRPC_THREADS = 16
GRPC_CALLS = 30
# Late answers: the same load through oa-bypass and through nginx (400 calls each). The
# upstream takes LATE_THINK_MS over each answer, as a model server takes its time, and
# each caller pauses about LATE_PAUSE_S between calls (at random, so that no rhythm of
# the callers meets the 50 ms of the late answers): a late answer then lands on a
# connection with a request in flight often enough for nginx to give about a quarter of
# the callers another caller's answer (93 to 128 of 400 in six runs here), and on an idle
# connection the rest of the time. (With answers at once, late answers nearly always
# find the connection idle; nginx, which closes such a connection, then got 0 or 1 wrong
# of 300, and the comparison would say nothing.)
LATE_THREADS = 10
LATE_CALLS = 40
LATE_PAUSE_S = 0.02
LATE_THINK_MS = 10
MOST = 0.9  # the share of calls that must succeed where the gateway should simply work


class IsolationTest(unittest.TestCase):
    """Each test starts its own upstream (a child process) and gateway, both stopped after
    it even when it fails."""

    cert_dir = None  # make_test_certs.sh's CA and server certificate, for HTTPS upstreams

    @classmethod
    def setUpClass(cls):
        cls._certs = tempfile.TemporaryDirectory(prefix="isolation_certs_")
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "make_test_certs.sh"), cls._certs.name],
                       check=True, capture_output=True)
        cls.cert_dir = cls._certs.name

    @classmethod
    def tearDownClass(cls):
        cls._certs.cleanup()

    def setUp(self):
        say(f"\n[{self._testMethodName}]")

    def ca_file(self, tls):
        return os.path.join(self.cert_dir, "ca.pem") if tls else None

    def start(self, mode, think_ms=0, tls=False):
        """Starts an upstream in `mode` (HTTPS with `tls`) and a gateway in front of it;
        returns the gateway's port."""
        self.upstream = UpstreamProcess(mode, think_ms, self.cert_dir if tls else None)
        self.addCleanup(self.upstream.stop)
        self.gateway = GatewayProcess(self._testMethodName.removeprefix("test_"),
                                      self.upstream.port, self.ca_file(tls))
        self.addCleanup(self.gateway.stop)
        return self.gateway.port

    def finish(self, *tallies, upstream=None, proxy=None, name="upstream"):
        """Stops the proxy and the upstream (the test's own by default), then prints what
        the callers got and the upstream's stats; returns the stats."""
        exit_status = (proxy or self.gateway).stop()
        upstream = upstream or self.upstream
        stats = upstream.stop()
        for tally in tallies:
            say("  " + tally.line())
            if tally.name == "attackers":
                say("  " + tally.status_line())
        say(f"  {name}: " + ", ".join(f"{v} {k}" for k, v in sorted(stats.items())))
        if proxy is None:
            self.assertEqual(exit_status, 0, "the gateway did not exit 0 after SIGTERM "
                             "(a crash, or no end to its drain)")
        return stats

    def assert_no_wrong(self, *tallies, stats=None):
        """No wrong answer, but for one per stray send that raced the proxy's next request
        (RACED in the upstream's `stats`), which no HTTP/1.1 proxy can tell from a late
        answer."""
        excused = (stats or {}).get(RACED, 0)
        for tally in tallies:
            self.assertLessEqual(tally.wrong, excused,
                                 f"{tally.name}: {tally.wrong} of {tally.calls} answers held "
                                 f"another caller's key ({excused} excused, as raced), e.g. "
                                 f"{tally.examples}")

    def assert_most_succeed(self, tally):
        self.assertGreaterEqual(tally.ok, MOST * tally.calls,
                                f"{tally.name}: only {tally.ok} of {tally.calls} calls "
                                f"succeeded: {dict(tally.errors)}")

    def callers(self, port, tally, shape=None, pause_s=0.0):
        run_threads([victim_caller(port, tally, CALLER_CALLS, shape, pause_s)
                     for _ in range(CALLER_THREADS)])

    # -- 0. a well-behaved upstream --

    def test_concurrent_callers_get_their_own_answers(self):
        port = self.start("naive")
        callers = Tally("callers")
        self.callers(port, callers)
        self.finish(callers)
        self.assert_no_wrong(callers)
        self.assert_most_succeed(callers)

    # -- 1. client-triggered: a request hidden in a body the upstream will not read --

    def hidden_request_case(self, shape):
        port = self.start("naive")
        victims = Tally("victims")
        with Attackers(port, [shape]) as attackers:
            self.callers(port, victims, pause_s=PACED_PAUSE_S)
        stats = self.finish(victims, attackers.tally)
        self.assert_no_wrong(victims, attackers.tally)
        self.assertEqual(stats.get("hidden requests", 0), 0,
                         "a request hidden in a body ran upstream")
        self.assert_most_succeed(victims)

    def test_hidden_request_in_a_get_body_reaches_no_one(self):
        self.hidden_request_case("get-length")

    def test_hidden_request_in_a_chunked_get_body_reaches_no_one(self):
        self.hidden_request_case("get-chunked")

    def test_hidden_request_in_a_head_body_reaches_no_one(self):
        self.hidden_request_case("head-length")

    def test_hidden_request_in_a_delete_body_reaches_no_one(self):
        self.hidden_request_case("delete-length")

    # -- 2. extra bytes from the upstream, with or right after an answer --

    def extra_bytes_case(self, mode, shape=None, tls=False):
        port = self.start(mode, tls=tls)
        callers = Tally("callers")
        self.callers(port, callers, shape, PACED_PAUSE_S)
        stats = self.finish(callers)
        self.assert_no_wrong(callers, stats=stats)

    def test_extra_answer_sent_with_an_answer_reaches_no_one(self):
        self.extra_bytes_case("extra-with")

    def test_extra_answer_sent_right_after_an_answer_reaches_no_one(self):
        self.extra_bytes_case("extra-after")

    # Over TLS the extra answer is a record of its own, which TLS may hold, read from the
    # socket with the answer's last one, where neither the read buffer nor the socket
    # shows it (99 wrong of 200 before the gateway looked there too).
    def test_extra_answer_sent_right_after_an_answer_over_tls_reaches_no_one(self):
        self.extra_bytes_case("extra-after", tls=True)

    def test_extra_answer_sent_with_an_answer_over_tls_reaches_no_one(self):
        self.extra_bytes_case("extra-with", tls=True)

    def test_body_after_a_head_answer_reaches_no_one(self):
        # Every other call a HEAD, whose stray body would be the answer to a later call.
        self.extra_bytes_case("head-body", lambda i: (
            ("HEAD", f"/v1/models/h-{i}", ()) if i % 2 == 0
            else ("GET", f"/v1/models/m-{i}", ())))

    def test_body_after_204_and_304_answers_reaches_no_one(self):
        # A quarter of the calls DELETE (204), a quarter GET with If-None-Match (304).
        self.extra_bytes_case("no-content-body", lambda i: (
            ("DELETE", f"/v1/models/d-{i}", ()) if i % 4 == 0
            else ("GET", f"/v1/models/c-{i}", ('If-None-Match: "m1"',)) if i % 4 == 2
            else ("GET", f"/v1/models/m-{i}", ())))

    # -- 3. late unsolicited answers, beside nginx --

    @staticmethod
    def late_load(port, name):
        tally = Tally(name)
        run_threads([victim_caller(port, tally, LATE_CALLS, pause_s=LATE_PAUSE_S)
                     for _ in range(LATE_THREADS)])
        return tally

    def test_late_unsolicited_answers_fewer_wrong_than_nginx(self):
        self.late_case(tls=False)

    # Over TLS, bytes on an idle connection may be the server's close_notify: the gateway
    # reads them through TLS to tell application data (a late answer) from that.
    def test_late_unsolicited_answers_over_tls_fewer_wrong_than_nginx(self):
        self.late_case(tls=True)

    def late_case(self, tls):
        if not os.access(NGINX_BINARY, os.X_OK):
            self.fail(f"{NGINX_BINARY} is missing, and this test compares with it: install "
                      "Debian's nginx-light (scripts/setup.sh nginx-light), or set "
                      "OA_NGINX_BINARY")
        port = self.start("late", LATE_THINK_MS, tls=tls)
        ours = self.late_load(port, "oa-bypass")
        self.finish(ours, name="oa-bypass's upstream")

        nginx_upstream = UpstreamProcess("late", LATE_THINK_MS, self.cert_dir if tls else None)
        self.addCleanup(nginx_upstream.stop)
        nginx = NginxProcess("nginx_late_tls" if tls else "nginx_late", nginx_upstream.port,
                             self.ca_file(tls))
        self.addCleanup(nginx.stop)
        theirs = self.late_load(nginx.port, "nginx")
        self.finish(theirs, upstream=nginx_upstream, proxy=nginx, name="nginx's upstream")

        say(f"  late unsolicited answers: oa-bypass {ours.wrong} wrong of {ours.calls}, "
            f"nginx {theirs.wrong} wrong of {theirs.calls}")
        self.assertGreater(theirs.wrong, 0, "nginx got no wrong answer: this load does not "
                           "show late answers, so the comparison says nothing")
        self.assertLess(ours.wrong, theirs.wrong,
                        "oa-bypass gave no fewer callers another caller's answer than nginx")

    # -- 4. pipelined callers --

    def pipelined(self, port, tally, pause_s=0.0):
        run_threads([pipelined_caller(port, tally, PIPELINE_BATCHES, PIPELINE_DEPTH, pause_s)
                     for _ in range(PIPELINE_THREADS)])

    def test_pipelined_callers_get_their_own_answers(self):
        port = self.start("naive")
        callers = Tally("pipelined callers")
        self.pipelined(port, callers)
        self.finish(callers)
        self.assert_no_wrong(callers)
        self.assert_most_succeed(callers)

    def test_pipelined_callers_beside_attackers_get_their_own_answers(self):
        port = self.start("naive")
        callers = Tally("pipelined callers")
        with Attackers(port, ALL_ATTACKS) as attackers:
            self.pipelined(port, callers, 2 * PACED_PAUSE_S)
        self.finish(callers, attackers.tally)
        self.assert_no_wrong(callers, attackers.tally)
        self.assert_most_succeed(callers)

    def test_pipelined_callers_get_their_own_answers_despite_extra_answers(self):
        port = self.start("extra-after")
        callers = Tally("pipelined callers")
        self.pipelined(port, callers, 2 * PACED_PAUSE_S)
        stats = self.finish(callers)
        self.assert_no_wrong(callers, stats=stats)

    # -- 5. gRPC callers on the same port --

    def grpc(self, port, tally, pause_s=0.0):
        targets, channels = grpc_callers(port, tally, GRPC_THREADS, GRPC_CALLS, pause_s)
        try:
            run_threads(targets)
        finally:
            for channel in channels:
                channel.close()

    def test_grpc_callers_get_their_own_answers(self):
        port = self.start("naive")
        callers = Tally("gRPC callers")
        self.grpc(port, callers)
        self.finish(callers)
        self.assert_no_wrong(callers)
        self.assert_most_succeed(callers)

    def test_grpc_callers_beside_attackers_get_their_own_answers(self):
        port = self.start("naive")
        callers = Tally("gRPC callers")
        with Attackers(port, ALL_ATTACKS) as attackers:
            self.grpc(port, callers, PACED_PAUSE_S)
        self.finish(callers, attackers.tally)
        self.assert_no_wrong(callers, attackers.tally)
        self.assert_most_succeed(callers)

    def test_grpc_callers_get_their_own_answers_despite_extra_answers(self):
        port = self.start("extra-after")
        callers = Tally("gRPC callers")
        self.grpc(port, callers, PACED_PAUSE_S)
        stats = self.finish(callers)
        self.assert_no_wrong(callers, stats=stats)


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--upstream":
        upstream_main(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None)
    else:
        # A SIGTERM (a test runner's timeout) still stops every child process (atexit).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        unittest.main()
