"""What the Python tests share: child processes whose output they read (the gateway, the
mock), and message classes built at run time from the committed descriptor set.

    sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
    from oa_test_support import Process, load_openai_messages

Run with Debian's /usr/bin/python3: Messages needs python3-protobuf.
"""

import os
import re
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESCRIPTOR_SET = os.path.join(ROOT, "gen", "openai_v1.binpb")
# The binaries under test: CTest sets both; by hand they default to the build tree.
GATEWAY_BINARY = os.environ.get("OA_BYPASS_BINARY", os.path.join(ROOT, "build", "oa-bypass"))
MOCK_BINARY = os.environ.get("OA_MOCK_BINARY",
                             os.path.join(ROOT, "build", "tests", "mock", "mock_openai"))


class Messages:
    """Message classes of one descriptor set, looked up by full name."""

    def __init__(self, descriptor_set_bytes):
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        files = descriptor_pb2.FileDescriptorSet()
        files.ParseFromString(descriptor_set_bytes)
        self.pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            self.pool.Add(file)
        self._factory = message_factory.MessageFactory(self.pool)

    def __getitem__(self, full_name):
        return self._factory.GetPrototype(self.pool.FindMessageTypeByName(full_name))

    def method(self, full_method):
        """(request class, response class, server streaming) of "/pkg.Service/Method"."""
        service, name = full_method.strip("/").split("/")
        method = self.pool.FindServiceByName(service).FindMethodByName(name)
        return (self[method.input_type.full_name], self[method.output_type.full_name],
                method.server_streaming)


_openai_messages = None


def load_openai_messages():
    """The classes of gen/openai_v1.binpb, the API of proto/ (built once)."""
    global _openai_messages
    if _openai_messages is None:
        with open(DESCRIPTOR_SET, "rb") as f:
            _openai_messages = Messages(f.read())
    return _openai_messages


class Process:
    """A child process whose output stream ("stdout" or "stderr") is read on a thread;
    waits for a line. stop() keeps what it printed in $OA_TEST_OUTPUT_DIR, when CTest
    sets it, for the suite's key scan (scripts/check-no-keys.py)."""

    def __init__(self, args, stream_name):
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stream_name == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream_name == "stderr" else subprocess.DEVNULL)
        self._stream = getattr(self.proc, stream_name)
        self._text = ""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in iter(self._stream.readline, b""):
            with self._changed:
                self._text += raw.decode("utf-8", "replace")
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self):
        with self._lock:
            return self._text

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = re.search(pattern, self._text)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.proc.args[0]} did not print {pattern!r} "
                        f"(exit code {self.proc.poll()}): {self._text[-4000:]}")
                self._changed.wait(min(left, 0.2))

    def peak_rss_kib(self):
        """The process's peak resident set so far (VmHWM), in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1))

    def stop(self):
        """Stops the process (SIGTERM, then SIGKILL after 10 s); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            self._stream.close()
        kept = os.environ.get("OA_TEST_OUTPUT_DIR")
        if kept:
            name = os.path.basename(self.proc.args[0])
            with open(os.path.join(kept, f"python-{name}-{self.proc.pid}.txt"), "a") as out:
                out.write(self.output())
        return self.proc.returncode
