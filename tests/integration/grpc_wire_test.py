#!/usr/bin/python3
"""Hostile gRPC clients, frame by frame: what the gRPC front holds to whatever a client
sends on the wire. A gRPC library never sends most of this (a message that inflates to a
gigabyte, more streams than the server allows), so these clients speak HTTP/2 themselves,
with Debian's python3-h2.

- The server advertises MAX_CONCURRENT_STREAMS (--grpc-max-concurrent-streams); a client
  that opens more anyway loses its connection, and the gateway serves everyone else.
- A compressed message is inflated no further than --grpc-max-message-bytes: a gzip bomb
  (1 MiB on the wire, 1 GiB inflated) is refused with RESOURCE_EXHAUSTED while the
  gateway's peak memory stays where it was (it took 866 MiB before, for a 255 KB bomb).
- Messages compressed with gzip or deflate, in one piece or split over several frames,
  reach the upstream as their uncompressed selves; corrupt ones are INVALID_ARGUMENT.
- An uncompressed message past the limit is RESOURCE_EXHAUSTED.
- Request bodies held at once, over all calls, are bounded (--grpc-max-buffered-bytes):
  a call past the budget is RESOURCE_EXHAUSTED, however small it was on the wire (a
  message of control characters comes six times its size as JSON).
- A client-stream upload that stops sending is ended (DEADLINE_EXCEEDED) once
  --client-body-timeout has passed, as a slow REST body is; one that keeps sending is not.

Run by CTest (grpc_wire) with OA_BYPASS_BINARY and OA_MOCK_BINARY set; by hand:
/usr/bin/python3 tests/integration/grpc_wire_test.py -v
"""

import collections
import os
import socket
import sys
import time
import unittest
import zlib

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from oa_test_support import (GATEWAY_BINARY, MOCK_BINARY, Process,  # noqa: E402
                             load_openai_messages)

KEY = "sk-grpc-wire-test-key-0123456789SECRET"
RETRIEVE_MODEL = "/openai.v1.ModelsService/RetrieveModel"
CREATE_FILE_UPLOAD = "/openai.v1.FilesService/CreateFileUpload"
CREATE_EMBEDDING = "/openai.v1.EmbeddingsService/CreateEmbedding"
BUFFERED_LIMIT = 1 << 20  # --grpc-max-buffered-bytes here
BODY_TIMEOUT_S = 2
START_TIMEOUT_S = 20
IO_TIMEOUT_S = 20
MAX_STREAMS = 3
MESSAGE_LIMIT = 4 << 20  # --grpc-max-message-bytes's default

RESOURCE_EXHAUSTED = 8
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4


Answer = collections.namedtuple("Answer", "headers trailers data status message")


class H2Client:
    """One HTTP/2 connection to the gateway, speaking gRPC by hand."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.remote_settings = {}
        self.closed = False
        self.streams = collections.defaultdict(lambda: {"headers": [], "trailers": [],
                                                        "data": b"", "ended": False})
        self._flush()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _pump(self):
        """Reads once and handles what came; False once the server closed."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            data = b""
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.remote_settings[code] = change.new_value
            elif isinstance(event, h2.events.ResponseReceived):
                self.streams[event.stream_id]["headers"] = event.headers
            elif isinstance(event, h2.events.TrailersReceived):
                self.streams[event.stream_id]["trailers"] = event.headers
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id]["data"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.streams[event.stream_id]["ended"] = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.terminated = event
                self.closed = True
        self._flush()
        return not self.closed

    def wait_settings(self):
        deadline = time.monotonic() + IO_TIMEOUT_S
        while not self.remote_settings and time.monotonic() < deadline and self._pump():
            pass
        return self.remote_settings

    def start(self, path, encoding=None, metadata=()):
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                   ("te", "trailers"), ("authorization", f"Bearer {KEY}"), *metadata]
        if encoding:
            headers.append(("grpc-encoding", encoding))
        self.conn.send_headers(stream, headers)
        self._flush()
        return stream

    def send(self, stream, data, end=True):
        """Sends `data` on `stream` as flow control allows; False if the server closed the
        connection, or ended the stream (it may answer before the request is whole)."""
        while data:
            if self.streams[stream]["ended"]:
                return False
            window = min(self.conn.local_flow_control_window(stream),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                if not self._pump():
                    return False
                continue
            self.conn.send_data(stream, data[:window])
            data = data[window:]
            self._flush()
        if end:
            self.conn.end_stream(stream)
            self._flush()
        return True

    def answer(self, stream):
        deadline = time.monotonic() + IO_TIMEOUT_S
        while not self.streams[stream]["ended"] and time.monotonic() < deadline:
            if not self._pump():
                break
        got = self.streams[stream]
        fields = dict(got["trailers"] or got["headers"])
        status = fields.get("grpc-status")
        return Answer(got["headers"], got["trailers"], got["data"],
                      int(status) if status is not None else None, fields.get("grpc-message", ""))

    def call(self, path, payload, encoding=None, flag=None, frames=1, metadata=()):
        """One unary call whose request is `payload` (already compressed when `encoding`
        is set), framed as gRPC does, sent in `frames` DATA frames."""
        compressed = bool(encoding) if flag is None else flag
        message = bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload
        stream = self.start(path, encoding, metadata)
        step = -(-len(message) // frames)
        for i in range(frames):
            if not self.send(stream, message[i * step:(i + 1) * step], end=i == frames - 1):
                break
        return self.answer(stream)

    def close(self):
        try:
            self.conn.close_connection()
            self._flush()
        except OSError:
            pass
        self.sock.close()


def retrieve_model_request(model):
    """The bytes of openai.v1.RetrieveModelRequest{model: ...}: field 1, a string."""
    raw = model.encode()
    return b"\x0a" + encode_varint(len(raw)) + raw


def encode_varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def gzip(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)  # gzip framing
    return compressor.compress(data) + compressor.flush()


def deflate(data):
    return zlib.compress(data, 9)  # zlib framing: what gRPC calls deflate


def gzip_bomb(size):
    """`size` zero bytes after a valid start of a message (field 1, a string of that
    length), gzipped a mebibyte at a time: about size / 1000 on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    out = [compressor.compress(b"\x0a" + encode_varint(size))]
    chunk = bytes(1 << 20)
    for _ in range(size >> 20):
        out.append(compressor.compress(chunk))
    out.append(compressor.flush())
    return b"".join(out)


class GrpcWireTest(unittest.TestCase):

    def setUp(self):
        self.mock = Process([MOCK_BINARY, "--host", "127.0.0.1", "--port", "0"], "stdout")
        self.addCleanup(self.mock.stop)
        match = self.mock.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S)
        self.gateway = Process(
            [GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--workers", "1", "--log-level", "debug",
             "--upstream", f"http://127.0.0.1:{match.group(1)}/v1",
             "--grpc-max-concurrent-streams", str(MAX_STREAMS), "--drain-timeout", "1s",
             "--client-body-timeout", f"{BODY_TIMEOUT_S}s", "--client-body-min-rate", "64KiB",
             "--grpc-max-buffered-bytes", str(BUFFERED_LIMIT)],
            "stderr")
        self.addCleanup(self.gateway.stop)
        match = self.gateway.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S)
        self.port = int(match.group(1))

    def tearDown(self):
        self.assertEqual(self.gateway.stop(), 0, "the gateway did not exit 0")
        self.assertNotIn(KEY, self.gateway.output(), "the key reached the gateway's log")

    def client(self):
        client = H2Client(self.port)
        self.addCleanup(client.close)
        return client

    def assert_model(self, answer, model):
        self.assertEqual(answer.status, 0, answer)
        # The mock's model answers carry the id asked for; the message's field 1.
        self.assertIn(model.encode(), answer.data, answer)

    def test_the_stream_limit_is_advertised_and_held(self):
        client = self.client()
        settings = client.wait_settings()
        self.assertEqual(settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS),
                         MAX_STREAMS, settings)
        # Past the advertised limit (which h2, as every HTTP/2 client, keeps to itself,
        # hence the override), the server ends the connection.
        client.conn.remote_settings._settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = \
            collections.deque([1000])
        for _ in range(MAX_STREAMS + 2):
            client.start(RETRIEVE_MODEL)
        deadline = time.monotonic() + IO_TIMEOUT_S
        while client._pump() and time.monotonic() < deadline:
            pass
        self.assertTrue(client.closed, "the server kept a connection past its stream limit")
        # Everyone else is served.
        self.assert_model(self.client().call(RETRIEVE_MODEL, retrieve_model_request("m-after")),
                          "m-after")

    def test_a_gzip_bomb_is_refused_without_being_inflated(self):
        bomb = gzip_bomb(1 << 30)
        self.assertLess(len(bomb), MESSAGE_LIMIT)
        before = self.gateway.peak_rss_kib()
        answer = self.client().call(RETRIEVE_MODEL, bomb, "gzip")
        growth = self.gateway.peak_rss_kib() - before
        print(f"gzip bomb: {len(bomb)} bytes on the wire, 1 GiB inflated; answer "
              f"{answer.status} {answer.message!r}; peak RSS {before} KiB -> +{growth} KiB",
              flush=True)
        self.assertEqual(answer.status, RESOURCE_EXHAUSTED, answer)
        self.assertIn("grpc-max-message-bytes", answer.message)
        self.assertLess(growth, 64 * 1024, "the gateway inflated the bomb")
        # The same connection's next call is served.
        self.assert_model(self.client().call(RETRIEVE_MODEL, retrieve_model_request("m-next")),
                          "m-next")

    def test_compressed_messages_reach_the_upstream_whole(self):
        client = self.client()
        long_id = "m-" + "x" * 200000  # spans many frames and slices once compressed
        cases = [("gzip", gzip, "m-gzip", 1), ("deflate", deflate, "m-deflate", 1),
                 ("gzip", gzip, long_id, 1), ("deflate", deflate, long_id, 7)]
        for encoding, compress, model, frames in cases:
            answer = client.call(RETRIEVE_MODEL, compress(retrieve_model_request(model)),
                                 encoding, frames=frames)
            self.assert_model(answer, model[:64])
        # A message the client chose not to compress on a call that names gzip.
        self.assert_model(client.call(RETRIEVE_MODEL, retrieve_model_request("m-plain"), "gzip",
                                      flag=False), "m-plain")

    def test_pings_past_the_keepalive_policy_end_the_connection(self):
        # gRPC's servers allow two pings within 5 minutes while no call is under way; the
        # third is answered with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", then the end.
        client = self.client()
        client.wait_settings()
        for i in range(4):
            client.conn.ping(i.to_bytes(8, "big"))
            client._flush()
            time.sleep(0.05)
        deadline = time.monotonic() + IO_TIMEOUT_S
        while client._pump() and time.monotonic() < deadline:
            pass
        goaway = getattr(client, "terminated", None)
        self.assertIsNotNone(goaway, "no GOAWAY came")
        self.assertEqual(goaway.error_code, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
        self.assertEqual(goaway.additional_data, b"too_many_pings")
        self.assertTrue(client.closed)

    def test_answers_come_compressed_as_the_request_when_the_client_accepts_it(self):
        model = "m-" + "z" * 4000  # an answer past the 1 KiB below which none is compressed
        answer = self.client().call(RETRIEVE_MODEL, gzip(retrieve_model_request(model)), "gzip",
                                    metadata=[("grpc-accept-encoding", "identity,gzip")])
        self.assertEqual(answer.status, 0, answer)
        flag, length = answer.data[0], int.from_bytes(answer.data[1:5], "big")
        body = answer.data[5:5 + length]
        if os.environ.get("OA_TEST_GRPC_SERVER") == "workers":
            self.assertEqual(dict(answer.headers).get("grpc-encoding"), "gzip", answer)
            self.assertEqual(flag, 1, answer)
            body = zlib.decompress(body, 16 + 15)
        else:  # grpc++ compresses no answer unless told to
            self.assertEqual(flag, 0, answer)
        self.assertIn(model[:64].encode(), body)
        # Without grpc-accept-encoding, the answer goes as it is.
        plain = self.client().call(RETRIEVE_MODEL, gzip(retrieve_model_request(model)), "gzip")
        self.assertEqual(plain.data[0], 0, plain)

    def test_corrupt_compressed_messages_are_invalid_argument(self):
        good = gzip(retrieve_model_request("m-1"))
        for name, payload in [("cut short", good[:-9]), ("bad checksum", good[:-8] + b"\0" * 8),
                              ("trailing bytes", good + b"more"), ("not gzip", b"plain bytes"),
                              ("deflate named gzip", deflate(retrieve_model_request("m-1")))]:
            answer = self.client().call(RETRIEVE_MODEL, payload, "gzip")
            self.assertEqual(answer.status, INVALID_ARGUMENT, f"{name}: {answer}")

    def upload_message(self, data, first):
        request_class, _, _ = load_openai_messages().method(CREATE_FILE_UPLOAD)
        message = request_class()
        message.file.data = data
        if first:
            message.file.filename = "f.jsonl"
            message.purpose = "batch"
        raw = message.SerializeToString()
        return b"\0" + len(raw).to_bytes(4, "big") + raw

    def test_an_upload_that_stops_sending_is_ended_after_its_time(self):
        client = self.client()
        stream = client.start(CREATE_FILE_UPLOAD)
        client.send(stream, self.upload_message(b"x" * 1000, True), end=False)
        start = time.monotonic()
        answer = client.answer(stream)  # the client sends nothing more
        waited = time.monotonic() - start
        print(f"an upload that stopped: {answer.status} {answer.message!r} after {waited:.2f} s",
              flush=True)
        self.assertEqual(answer.status, DEADLINE_EXCEEDED, answer)
        self.assertIn("--client-body-timeout", answer.message)
        self.assertGreaterEqual(waited, BODY_TIMEOUT_S - 0.5)

    def test_an_upload_that_keeps_sending_takes_as_long_as_it_needs(self):
        client = self.client()
        stream = client.start(CREATE_FILE_UPLOAD)
        client.send(stream, self.upload_message(b"x" * 1000, True), end=False)
        # 128 KiB every 0.5 s for 3 s: 256 KiB/s against the 64 KiB/s asked, past the
        # 2 s the body has to begin with.
        for _ in range(6):
            time.sleep(0.5)
            client.send(stream, self.upload_message(b"y" * (128 << 10), False), end=False)
        client.send(stream, b"", end=True)
        answer = client.answer(stream)
        self.assertEqual(answer.status, 0, answer)

    def embedding_request(self, text):
        request_class, _, _ = load_openai_messages().method(CREATE_EMBEDDING)
        message = request_class(model="m")
        message.input.text = text
        raw = message.SerializeToString()
        return b"\0" + len(raw).to_bytes(4, "big") + raw

    def test_request_bodies_held_at_once_are_bounded(self):
        client = self.client()
        # 700 KB each, the upstream holding the first for a while: two do not fit 1 MiB.
        slow = [("x-mock-delay-ms", "1500")]
        first = client.start(CREATE_EMBEDDING, metadata=slow)
        client.send(first, self.embedding_request("a" * 700_000))
        time.sleep(0.3)  # the first call is with the upstream, its body held
        second = client.start(CREATE_EMBEDDING, metadata=slow)
        client.send(second, self.embedding_request("b" * 700_000))
        refused = client.answer(second)
        self.assertEqual(refused.status, RESOURCE_EXHAUSTED, refused)
        self.assertIn("--grpc-max-buffered-bytes", refused.message)
        self.assertEqual(client.answer(first).status, 0)
        # Its body given back, the budget takes the next call.
        self.assertEqual(client.call(CREATE_EMBEDDING, self.embedding_request("c" * 700_000)[5:])
                         .status, 0)
        # A message of control characters comes six times its size as JSON: past the
        # budget, however small it was on the wire.
        raw = self.embedding_request("\x01" * 400_000)[5:]
        answer = client.call(CREATE_EMBEDDING, gzip(raw), "gzip")
        print(f"{len(gzip(raw))} bytes of gzip, {len(raw)} of message: {answer.status} "
              f"{answer.message!r}", flush=True)
        self.assertEqual(answer.status, RESOURCE_EXHAUSTED, answer)

    def test_an_uncompressed_message_past_the_limit_is_resource_exhausted(self):
        big = retrieve_model_request("m" * (MESSAGE_LIMIT + 1))
        answer = self.client().call(RETRIEVE_MODEL, big)
        self.assertEqual(answer.status, RESOURCE_EXHAUSTED, answer)


if __name__ == "__main__":
    unittest.main()
