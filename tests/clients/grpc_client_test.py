#!/usr/bin/python3
"""gRPC clients through oa-bypass: Debian's python3-grpcio, with message classes built at run
time from gen/openai_v1.binpb and generic stubs, against the gateway's one port, in front of
the project's mock OpenAI. Each test checks what the gRPC caller gets and the exact HTTP request
the mock received.

Run by CTest (grpc_python_client) with OA_BYPASS_BINARY and OA_MOCK_BINARY set to the built
binaries; by hand: /usr/bin/python3 tests/clients/grpc_client_test.py -v
"""

import base64
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc
from google.protobuf import descriptor_pb2, json_format

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from oa_test_support import (GATEWAY_BINARY, MOCK_BINARY, ROOT, Messages,  # noqa: E402
                             Process, load_openai_messages)

GRPC_PROTO_DIR = "/usr/share/grpc-proto"

KEY = "sk-grpc-python-test-key-0123456789SECRET"
AUTH = (("authorization", f"Bearer {KEY}"),)
START_TIMEOUT_S = 20
CALL_TIMEOUT_S = 20


def compile_grpc_protos(out_dir):
    """The reflection (v1alpha, v1) and health protos of grpc-proto, compiled by protoc."""
    out = os.path.join(out_dir, "grpc.binpb")
    subprocess.run(
        ["protoc", f"-I{GRPC_PROTO_DIR}", "--include_imports", f"--descriptor_set_out={out}",
         "grpc/reflection/v1alpha/reflection.proto", "grpc/reflection/v1/reflection.proto",
         "grpc/health/v1/health.proto"],
        check=True, capture_output=True)
    with open(out, "rb") as f:
        return Messages(f.read())


def new(name, **fields):
    """A message of openai.v1.`name` built by its constructor, as a typed client does."""
    return load_openai_messages()["openai.v1." + name](**fields)


def pattern_bytes(size):
    """The mock's generated file content: byte i is (i * 31 + 7) % 251."""
    return bytes((i * 31 + 7) % 251 for i in range(size))


# ---- the tests -----------------------------------------------------------------------------

def start_mock_and_gateway(test, *gateway_args):
    """Starts the mock and a gateway pointed at it, both stopped when `test` ends; sets
    test.mock, test.mock_url, test.gateway and test.port."""
    test.mock = Process([MOCK_BINARY, "--host", "127.0.0.1", "--port", "0"], "stdout")
    test.addCleanup(test.mock.stop)
    match = test.mock.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S)
    test.mock_url = f"http://127.0.0.1:{match.group(1)}"
    test.gateway = Process(
        [GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--upstream", f"{test.mock_url}/v1",
         "--workers", "2", *gateway_args], "stderr")
    test.addCleanup(test.gateway.stop)
    match = test.gateway.wait_for(r"listening on 127\.0\.0\.1:(\d+)", START_TIMEOUT_S)
    test.port = int(match.group(1))


class GatewayGrpcTest(unittest.TestCase):
    """Starts the mock and the gateway for each test, stops both after it."""

    messages = None
    grpc_messages = None
    _protoc_dir = None

    @classmethod
    def setUpClass(cls):
        cls.messages = load_openai_messages()
        cls._protoc_dir = tempfile.TemporaryDirectory()
        cls.grpc_messages = compile_grpc_protos(cls._protoc_dir.name)

    @classmethod
    def tearDownClass(cls):
        cls._protoc_dir.cleanup()

    def setUp(self):
        start_mock_and_gateway(self, "--log-level", "debug")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}",
                                             options=[("grpc.enable_http_proxy", 0)])
        self.addCleanup(self.channel.close)
        grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT_S)
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def tearDown(self):
        # Invariant: the key went through the calls of the test and is in no log line.
        self.channel.close()
        self.gateway.stop()
        log = self.gateway.output()
        self.assertNotIn(KEY, log, "the API key leaked into the gateway's log")
        self.assertNotIn(KEY[len("sk-"):], log, "the API key leaked into the gateway's log")

    # -- mock control --

    def mock_call(self, method, path, headers=None):
        request = urllib.request.Request(f"{self.mock_url}{path}", method=method,
                                         headers=headers or {},
                                         data=b"" if method == "POST" else None)
        with self._http.open(request, timeout=10) as response:
            return json.loads(response.read())

    def mock_requests(self):
        return self.mock_call("GET", "/__mock/requests")

    def only_mock_request(self):
        requests = self.mock_requests()
        self.assertEqual(len(requests), 1, f"the mock received {requests}")
        return requests[0]

    def arm(self, path, times=1, **headers):
        """Arms x-mock-* headers (x_mock_status=429 is x-mock-status: 429) for the next
        `times` requests to `path`: the gateway does not forward x-mock-* metadata."""
        self.mock_call("POST", f"/__mock/override?path={path}&times={times}",
                       {name.replace("_", "-"): str(value) for name, value in headers.items()})

    @staticmethod
    def header(recorded, name):
        values = [v for n, v in recorded["headers"] if n.lower() == name]
        return values[0] if values else None

    @staticmethod
    def body(recorded):
        return base64.b64decode(recorded["body_base64"])

    def json_body(self, recorded):
        self.assertEqual(self.header(recorded, "content-type").split(";")[0].strip(),
                         "application/json")
        return json.loads(self.body(recorded))

    def assert_upstream(self, recorded, method, target):
        self.assertEqual(recorded["method"], method)
        self.assertEqual(recorded["target"], target)
        self.assertEqual(self.header(recorded, "authorization"), f"Bearer {KEY}")

    # -- gRPC calls --

    def request(self, full_method, fields):
        """The request message: `fields` itself when it is one (built with the classes'
        constructors, as a typed client does), else a dict of plain fields."""
        request_class, _, _ = self.messages.method(full_method)
        if not isinstance(fields, dict):
            return fields
        return json_format.ParseDict(fields, request_class())

    def new(self, name, **fields):
        return new(name, **fields)

    def chat_hi(self, **fields):
        """CreateChatCompletionRequest for gpt-4o-mini with one user message, "hi"."""
        user = self.new("ChatCompletionRequestUserMessage",
                        content=self.new("ChatCompletionRequestUserMessage.Content", text="hi"))
        return self.new("CreateChatCompletionRequest", model="gpt-4o-mini",
                        messages=[self.new("ChatCompletionRequestMessage", user=user)], **fields)

    def embedding_request(self, *texts):
        inputs = self.new("CreateEmbeddingRequest.Input",
                          texts=self.new("StringList", items=list(texts)))
        return self.new("CreateEmbeddingRequest", model="text-embedding-3-small", input=inputs)

    def unary(self, full_method, fields, metadata=AUTH, timeout=CALL_TIMEOUT_S):
        """(response, call) of a unary RPC."""
        request_class, response_class, streaming = self.messages.method(full_method)
        self.assertFalse(streaming, full_method)
        stub = self.channel.unary_unary(full_method,
                                        request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        return stub.with_call(self.request(full_method, fields), metadata=metadata,
                              timeout=timeout)

    def stream(self, full_method, fields, metadata=AUTH, timeout=CALL_TIMEOUT_S):
        """(messages, arrival times, call) of a server-streaming RPC read to its end."""
        request_class, response_class, streaming = self.messages.method(full_method)
        self.assertTrue(streaming, full_method)
        stub = self.channel.unary_stream(full_method,
                                         request_serializer=request_class.SerializeToString,
                                         response_deserializer=response_class.FromString)
        call = stub(self.request(full_method, fields), metadata=metadata, timeout=timeout)
        messages, times = [], []
        for message in call:
            messages.append(message)
            times.append(time.monotonic())
        self.assertEqual(call.code(), grpc.StatusCode.OK, call.details())
        return messages, times, call

    def expect_error(self, code, full_method, fields, metadata=AUTH, timeout=CALL_TIMEOUT_S):
        with self.assertRaises(grpc.RpcError) as caught:
            self.unary(full_method, fields, metadata=metadata, timeout=timeout)
        error = caught.exception
        self.assertEqual(error.code(), code, error.details())
        return error

    # ---- 1. chat -------------------------------------------------------------------------

    def test_chat_completion_unary(self):
        response, call = self.unary(
            "/openai.v1.ChatService/CreateChatCompletion",
            self.chat_hi(temperature=0, max_completion_tokens=16, user="u-1"),
            metadata=AUTH + (("openai-organization", "org-grpc"),
                             ("openai-project", "proj_grpc"),
                             ("idempotency-key", "idem-grpc-1")))
        self.assertEqual(response.object, "chat.completion")
        self.assertEqual(response.id, "chatcmpl-mock")
        self.assertEqual(response.model, "gpt-4o-mini")
        self.assertEqual(response.created, 1700000000)
        self.assertEqual(len(response.choices), 1)
        self.assertEqual(response.choices[0].message.role, "assistant")
        self.assertEqual(response.choices[0].message.content, "Hello from mock")
        self.assertEqual(response.choices[0].finish_reason, "stop")
        self.assertEqual((response.usage.prompt_tokens, response.usage.completion_tokens,
                          response.usage.total_tokens), (5, 3, 8))

        seen = self.only_mock_request()
        self.assert_upstream(seen, "POST", "/v1/chat/completions")
        self.assertEqual(self.header(seen, "openai-organization"), "org-grpc")
        self.assertEqual(self.header(seen, "openai-project"), "proj_grpc")
        self.assertEqual(self.header(seen, "idempotency-key"), "idem-grpc-1")
        body = self.json_body(seen)
        self.assertEqual(body, {"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": "hi"}],
                                "temperature": 0, "max_completion_tokens": 16, "user": "u-1"})
        # proto3 optional: an explicit 0 is sent as the number 0, not left out.
        self.assertIn("temperature", body)
        self.assertIsInstance(body["temperature"], (int, float))
        self.assertNotIsInstance(body["temperature"], bool)

        # 7. The upstream's x-request-id and openai-* headers are initial metadata.
        initial = dict(call.initial_metadata())
        self.assertEqual(initial.get("x-request-id"), seen["request_id"])
        self.assertRegex(initial.get("x-request-id", ""), r"^req_mock_\d+$")
        self.assertEqual(initial.get("openai-version"), "2020-10-01")
        self.assertEqual(initial.get("openai-processing-ms"), "1")

    def test_chat_completion_stream(self):
        self.arm("/v1/chat/completions", x_mock_sse_events=5, x_mock_sse_interval_ms=150)
        chunks, times, call = self.stream(
            "/openai.v1.ChatService/CreateChatCompletionStream",
            self.chat_hi(temperature=0))
        self.assertEqual(len(chunks), 5, [json_format.MessageToDict(c) for c in chunks])
        for chunk in chunks:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            self.assertEqual(chunk.model, "gpt-4o-mini")
        self.assertEqual([c.choices[0].delta.content for c in chunks[:4]],
                         ["tok0", "tok1", "tok2", "tok3"])
        self.assertEqual([c.choices[0].HasField("finish_reason") for c in chunks[:4]],
                         [False] * 4)
        self.assertFalse(chunks[4].choices[0].delta.HasField("content"))
        self.assertEqual(chunks[4].choices[0].finish_reason, "stop")
        # Relayed as they come (150 ms apart upstream), not gathered up and sent at the end.
        self.assertGreater(times[-1] - times[0], 0.4, "the chunks arrived all at once")
        self.assertRegex(dict(call.initial_metadata()).get("x-request-id", ""), r"^req_mock_\d+$")

        seen = self.only_mock_request()
        self.assert_upstream(seen, "POST", "/v1/chat/completions")
        body = self.json_body(seen)
        self.assertIs(body.get("stream"), True)
        self.assertEqual(body, {"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": "hi"}],
                                "temperature": 0, "stream": True})

    # ---- 2. embeddings --------------------------------------------------------------------

    def test_embeddings(self):
        response, _ = self.unary("/openai.v1.EmbeddingsService/CreateEmbedding",
                                 self.embedding_request("a", "b"))
        self.assertEqual(response.object, "list")
        self.assertEqual(response.model, "text-embedding-3-small")
        self.assertEqual(len(response.data), 2)
        for index, item in enumerate(response.data):
            self.assertEqual(item.object, "embedding")
            self.assertEqual(item.index, index)
            # The mock's values: (i + 1) / 16 - index / 256, exact in binary.
            self.assertEqual(list(item.embedding),
                             [(i + 1) / 16 - index / 256 for i in range(8)])
        self.assertEqual((response.usage.prompt_tokens, response.usage.total_tokens), (8, 8))

        seen = self.only_mock_request()
        self.assert_upstream(seen, "POST", "/v1/embeddings")
        self.assertEqual(self.json_body(seen),
                         {"model": "text-embedding-3-small", "input": ["a", "b"]})

    # ---- 3. files ----------------------------------------------------------------------------

    def test_file_upload_and_download(self):
        # Every byte value, CR LF and "--" included, in a few hundred KB.
        data = bytes((i * 7 + i // 256) % 256 for i in range(300_001)) + b"\r\n--x--\r\n"
        response, _ = self.unary(
            "/openai.v1.FilesService/CreateFile",
            {"file": {"data": base64.b64encode(data).decode(), "filename": "train.jsonl",
                      "content_type": "application/jsonl"},
             "purpose": "fine-tune"})
        self.assertRegex(response.id, r"^file-")
        self.assertEqual(response.object, "file")
        self.assertEqual(response.filename, "train.jsonl")
        self.assertEqual(response.purpose, "fine-tune")
        self.assertEqual(response.bytes, len(data))
        self.assertEqual(response.status, "processed")

        seen = self.only_mock_request()
        self.assert_upstream(seen, "POST", "/v1/files")
        content_type = self.header(seen, "content-type")
        match = re.fullmatch(r'multipart/form-data;\s*boundary="?([^";]+)"?', content_type)
        self.assertTrue(match, content_type)
        body = self.body(seen)
        self.assertEqual(seen["body_bytes"], len(body))  # under 1 MiB: the mock kept it whole
        self.assertEqual(seen["body_sha256"], hashlib.sha256(body).hexdigest())
        parts = self.multipart_parts(body, match.group(1).encode())
        self.assertEqual(parts[("file", "train.jsonl")]["content"], data)
        self.assertEqual(parts[("file", "train.jsonl")]["content-type"], "application/jsonl")
        self.assertEqual(parts[("purpose", None)]["content"], b"fine-tune")
        self.assertEqual(len(parts), 2, list(parts))

        # The download streams the upstream's bytes back in order, as HttpBody chunks.
        size = 300_007
        self.arm(f"/v1/files/{response.id}/content", x_mock_bytes=size)
        chunks, _, call = self.stream("/openai.v1.FilesService/DownloadFile",
                                      {"file_id": response.id})
        self.assertGreater(len(chunks), 1, "a 300 KB download came as one message")
        self.assertEqual(chunks[0].content_type, "application/octet-stream")
        self.assertEqual(b"".join(c.data for c in chunks), pattern_bytes(size))
        self.assertEqual(dict(call.initial_metadata()).get("x-content-type"),
                         "application/octet-stream")
        download = self.mock_requests()[-1]
        self.assert_upstream(download, "GET", f"/v1/files/{response.id}/content")
        self.assertEqual(download["body_bytes"], 0)

    def multipart_parts(self, body, boundary):
        """{(name, filename): {"content", "content-type"}} of a multipart/form-data body."""
        delimiter = b"--" + boundary
        self.assertTrue(body.startswith(delimiter), body[:200])
        self.assertTrue(body.endswith(delimiter + b"--\r\n") or body.endswith(delimiter + b"--"),
                        body[-200:])
        parts = {}
        for raw in body.split(delimiter)[1:-1]:
            self.assertTrue(raw.startswith(b"\r\n") and raw.endswith(b"\r\n"), raw[:200])
            head, _, content = raw[2:-2].partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            disposition = headers["content-disposition"]
            name = re.search(r'\bname="([^"]*)"', disposition).group(1)
            filename = re.search(r'\bfilename="([^"]*)"', disposition)
            parts[(name, filename.group(1) if filename else None)] = {
                "content": content, "content-type": headers.get("content-type")}
        return parts

    # ---- 4. assistants, threads, runs -------------------------------------------------------

    def test_assistant_thread_run(self):
        beta = AUTH + (("openai-beta", "assistants=v2"),)
        assistant, _ = self.unary(
            "/openai.v1.AssistantsService/CreateAssistant",
            {"model": "gpt-4o", "name": "Math tutor", "instructions": "Answer with numbers.",
             "temperature": 0, "metadata": {"team": "qa"}}, metadata=beta)
        self.assertRegex(assistant.id, r"^asst_")
        self.assertEqual(assistant.object, "assistant")
        self.assertEqual(assistant.name, "Math tutor")
        self.assertEqual(assistant.model, "gpt-4o")
        self.assertEqual(assistant.instructions, "Answer with numbers.")
        self.assertTrue(assistant.HasField("temperature"))
        self.assertEqual(assistant.temperature, 0)
        self.assertEqual(dict(assistant.metadata), {"team": "qa"})

        thread, _ = self.unary("/openai.v1.AssistantsService/CreateThread",
                               {"metadata": {"topic": "sums"}}, metadata=beta)
        self.assertRegex(thread.id, r"^thread_")
        self.assertEqual(thread.object, "thread")
        self.assertEqual(dict(thread.metadata), {"topic": "sums"})

        run_request = {"thread_id": thread.id,
                       "body": {"assistant_id": assistant.id,
                                "additional_instructions": "Be brief.", "temperature": 0}}
        run, _ = self.unary("/openai.v1.AssistantsService/CreateRun", run_request, metadata=beta)
        self.assertRegex(run.id, r"^run_")
        self.assertEqual(run.object, "thread.run")
        self.assertEqual(run.thread_id, thread.id)
        self.assertEqual(run.assistant_id, assistant.id)
        self.assertEqual(run.status, "queued")
        self.assertEqual(run.model, "gpt-4o")

        events, _, _ = self.stream("/openai.v1.AssistantsService/CreateRunStream", run_request,
                                   metadata=beta)
        names = [e.event for e in events]
        self.assertEqual(names, ["thread.run.created", "thread.run.in_progress",
                                 "thread.message.delta", "thread.message.delta",
                                 "thread.message.delta", "thread.run.completed"])
        data = [e.data.object for e in events]  # the run, message and delta objects
        streamed_run_id = data[0].id
        self.assertRegex(streamed_run_id, r"^run_")
        self.assertNotEqual(streamed_run_id, run.id)
        self.assertEqual([d.status for d in data[:2]], ["queued", "in_progress"])
        self.assertEqual(data[0].thread_id, thread.id)
        self.assertEqual([d.delta.content[0].text.text.value for d in data[2:5]],
                         ["tok0", "tok1", "tok2"])
        self.assertEqual(data[2].object, "thread.message.delta")
        self.assertEqual(data[5].status, "completed")
        self.assertEqual(data[5].usage.total_tokens, 8)

        got, _ = self.unary("/openai.v1.AssistantsService/GetRun",
                            {"thread_id": thread.id, "run_id": run.id}, metadata=beta)
        self.assertEqual(got.id, run.id)
        self.assertEqual(got.status, "completed")
        self.assertEqual(got.assistant_id, assistant.id)
        self.assertEqual(got.thread_id, thread.id)
        self.assertEqual(got.completed_at, 1700000002)
        self.assertEqual(got.usage.total_tokens, 8)

        seen = self.mock_requests()
        self.assertEqual(len(seen), 5, seen)
        for recorded in seen:
            self.assertEqual(self.header(recorded, "openai-beta"), "assistants=v2")
        self.assert_upstream(seen[0], "POST", "/v1/assistants")
        self.assertEqual(self.json_body(seen[0]),
                         {"model": "gpt-4o", "name": "Math tutor",
                          "instructions": "Answer with numbers.", "temperature": 0,
                          "metadata": {"team": "qa"}})
        self.assert_upstream(seen[1], "POST", "/v1/threads")
        self.assertEqual(self.json_body(seen[1]), {"metadata": {"topic": "sums"}})
        self.assert_upstream(seen[2], "POST", f"/v1/threads/{thread.id}/runs")
        self.assertEqual(self.json_body(seen[2]), run_request["body"])
        self.assert_upstream(seen[3], "POST", f"/v1/threads/{thread.id}/runs")
        self.assertEqual(self.json_body(seen[3]), dict(run_request["body"], stream=True))
        self.assert_upstream(seen[4], "GET", f"/v1/threads/{thread.id}/runs/{run.id}")
        self.assertEqual(seen[4]["body_bytes"], 0)

    # ---- 5. responses --------------------------------------------------------------------

    def test_responses(self):
        request = self.new("CreateResponseRequest", model="gpt-4o-mini",
                           input=self.new("InputParam", text="Say hi"), temperature=0,
                           instructions="Be terse.", metadata={"case": "grpc"})
        response, _ = self.unary("/openai.v1.ResponsesService/CreateResponse", request)
        self.assertRegex(response.id, r"^resp_")
        self.assertEqual(response.object, "response")
        self.assertEqual(response.status, "completed")
        self.assertEqual(response.model, "gpt-4o-mini")
        self.assertTrue(response.HasField("temperature"))
        self.assertEqual(response.temperature, 0)
        self.assertEqual(response.instructions.text, "Be terse.")
        self.assertEqual(dict(response.metadata), {"case": "grpc"})
        self.assertEqual(len(response.output), 1)
        self.assertEqual(response.output[0].WhichOneof("variant"), "message")
        message = response.output[0].message
        self.assertEqual(message.role, "assistant")
        self.assertEqual(message.content[0].WhichOneof("variant"), "output_text")
        self.assertEqual(message.content[0].output_text.text, "Hello from mock")
        self.assertEqual((response.usage.input_tokens, response.usage.output_tokens,
                          response.usage.total_tokens), (5, 3, 8))

        events, _, _ = self.stream("/openai.v1.ResponsesService/CreateResponseStream", request)
        self.assertEqual([e.WhichOneof("variant") for e in events],
                         ["response_created", "response_output_text_delta",
                          "response_output_text_delta", "response_output_text_delta",
                          "response_completed"])
        events = [getattr(e, e.WhichOneof("variant")) for e in events]
        self.assertEqual([e.type for e in events],
                         ["response.created", "response.output_text.delta",
                          "response.output_text.delta", "response.output_text.delta",
                          "response.completed"])
        self.assertEqual([e.sequence_number for e in events], [0, 1, 2, 3, 4])
        self.assertEqual(events[0].response.status, "in_progress")
        self.assertRegex(events[0].response.id, r"^resp_")
        self.assertEqual([e.delta for e in events[1:4]], ["tok0", "tok1", "tok2"])
        self.assertEqual({e.item_id for e in events[1:4]}, {events[1].item_id})
        done = events[4].response
        self.assertEqual(done.id, events[0].response.id)
        self.assertEqual(done.status, "completed")
        self.assertEqual(done.output[0].message.content[0].output_text.text, "tok0tok1tok2")

        seen = self.mock_requests()
        self.assertEqual(len(seen), 2, seen)
        for recorded in seen:
            self.assert_upstream(recorded, "POST", "/v1/responses")
        sent = {"model": "gpt-4o-mini", "input": "Say hi", "temperature": 0,
                "instructions": "Be terse.", "metadata": {"case": "grpc"}}
        self.assertEqual(self.json_body(seen[0]), sent)
        self.assertEqual(self.json_body(seen[1]), dict(sent, stream=True))

    # ---- 6. errors ---------------------------------------------------------------------------

    # -- WebSocket sessions as bidirectional RPCs --

    def connect(self, service, messages, metadata=AUTH, timeout=CALL_TIMEOUT_S):
        """Calls `service`.Connect with the request messages `messages` yields; returns the
        call (an iterator of response messages, with code() and trailing_metadata())."""
        full = f"/openai.v1.{service}/Connect"
        request_class, response_class, _ = self.messages.method(full)
        stub = self.channel.stream_stream(full, request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=response_class.FromString)
        return stub(messages(request_class), metadata=metadata, timeout=timeout)

    def mock_websockets(self, count):
        for _ in range(100):
            sessions = self.mock_call("GET", "/__mock/websockets")
            if len(sessions) >= count and sessions[count - 1]["ended"]:
                return sessions
            time.sleep(0.05)
        self.fail(f"the mock did not record {count} ended sessions")

    def test_realtime_connect_is_a_typed_bidirectional_stream(self):
        audio = bytes(range(256)) * 10
        responded = threading.Event()

        def messages(Request):
            yield Request(model="gpt-realtime-mini")
            append = Request()
            append.event.input_audio_buffer_append.audio = audio  # bytes, not base64
            yield append
            create = Request()
            create.event.response_create.SetInParent()
            yield create
            future = Request()  # an event type the protos do not know goes as it is
            future.event.other.struct_value.update({"type": "session.future_thing"})
            yield future
            responded.wait(CALL_TIMEOUT_S)

        call = self.connect("RealtimeService", messages)
        kinds = []
        for event in call:
            kind = event.WhichOneof("variant")
            kinds.append(kind)
            if kind == "response_done":
                self.assertEqual(event.response_done.response.usage.output_tokens, 20)
            if kind == "response_output_audio_delta":
                self.assertIsInstance(event.response_output_audio_delta.delta, bytes)
            if kind == "error":  # the unknown event's answer: a message, not a status
                self.assertEqual(event.error.error.code, "unknown_event")
                responded.set()
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertEqual(kinds[0], "session_created")
        self.assertIn("response_done", kinds)

        session = self.mock_websockets(1)[0]
        self.assertEqual(session["target"], "/v1/realtime?model=gpt-realtime-mini")
        headers = {name.lower(): value for name, value in session["headers"]}
        self.assertEqual(headers["authorization"], f"Bearer {KEY}")
        self.assertNotIn("openai-beta", headers)
        self.assertEqual(session["audio_bytes"], len(audio))
        sent = session["messages"]
        append = '{"type":"input_audio_buffer.append","audio":"%s"}' % base64.b64encode(audio).decode()
        self.assertEqual(sent[0]["sha256"], hashlib.sha256(append.encode()).hexdigest())
        self.assertEqual(json.loads(sent[1]["prefix"]), {"type": "response.create"})
        self.assertEqual(json.loads(sent[2]["prefix"]), {"type": "session.future_thing"})
        self.assertEqual(session["close_code"], 1000)  # the client's half-close
        self.assertRegex(self.gateway.output(),
                         r"front=grpc .*rpc=openai\.v1\.RealtimeService/Connect grpc_status=0 "
                         r"status=101 .*frames_in=4 ")

    def test_responses_connect_streams_the_events_of_each_response(self):
        def messages(Request):
            first = Request()
            create = first.event.response_create
            create.model = "gpt-5-mini"
            create.input.text = "Say hello."
            create.stream_id = "lane_1"
            yield first

        call = self.connect("ResponsesService", messages)
        events = list(call)
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        kinds = [e.WhichOneof("variant") for e in events]
        self.assertEqual(kinds[0], "response_created")
        self.assertEqual(kinds[-1], "response_completed")
        deltas = [e.response_output_text_delta for e in events
                  if e.WhichOneof("variant") == "response_output_text_delta"]
        self.assertEqual("".join(d.delta for d in deltas), "Hello!")
        self.assertEqual({d.stream_id for d in deltas}, {"lane_1"})
        self.assertEqual(events[-1].response_completed.response.usage.total_tokens, 8)
        sent = json.loads(self.mock_websockets(1)[0]["messages"][0]["prefix"])
        self.assertEqual(sent, {"type": "response.create", "model": "gpt-5-mini",
                                "input": "Say hello.", "stream_id": "lane_1"})

    def test_an_upstream_close_after_an_error_is_the_status(self):
        def messages(Request):
            yield Request(model="gpt-realtime")
            close = Request()
            close.event.other.struct_value.update({"type": "mock.error_then_close", "code": 4000})
            yield close
            time.sleep(CALL_TIMEOUT_S)

        call = self.connect("RealtimeService", messages)
        kinds = []
        with self.assertRaises(grpc.RpcError) as raised:
            for event in call:
                kinds.append(event.WhichOneof("variant"))
        self.assertEqual(kinds[-1], "error")  # delivered as a message first
        # The error event's type (server_error) gives the code, its message the details.
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertIn("mock failure", raised.exception.details())
        self.assertIn("code 4000", raised.exception.details())
        trailers = dict(raised.exception.trailing_metadata())
        self.assertEqual(trailers["openai-close-code"], "4000")
        self.assertIn(b"mock_error", trailers["openai-error-bin"])

    def test_a_deadline_closes_the_upstream_with_1001(self):
        def messages(Request):
            yield Request(model="gpt-realtime")
            time.sleep(CALL_TIMEOUT_S)

        call = self.connect("RealtimeService", messages, timeout=1)
        with self.assertRaises(grpc.RpcError) as raised:
            list(call)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        session = self.mock_websockets(1)[0]
        self.assertEqual(session["close_code"], 1001)

    def test_a_refused_upgrade_is_the_upstreams_error(self):
        def messages(Request):
            first = Request(model="gpt-realtime")
            first.extra_fields.update({"mock_ws_refuse": "401"})  # a query parameter
            yield first

        call = self.connect("RealtimeService", messages)
        with self.assertRaises(grpc.RpcError) as raised:
            list(call)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(dict(raised.exception.trailing_metadata())["openai-http-status"], "401")

    def test_websockets_off_is_unimplemented_at_once(self):
        start_mock_and_gateway(self, "--websocket", "off")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}",
                                             options=[("grpc.enable_http_proxy", 0)])

        def messages(Request):
            yield Request(model="gpt-realtime")

        with self.assertRaises(grpc.RpcError) as raised:
            list(self.connect("RealtimeService", messages))
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("--websocket=off", raised.exception.details())
        self.assertEqual(self.mock_requests(), [])

    def test_missing_authorization_is_unauthenticated(self):
        error = self.expect_error(grpc.StatusCode.UNAUTHENTICATED,
                                  "/openai.v1.ChatService/CreateChatCompletion",
                                  self.chat_hi(),
                                  metadata=())
        self.assertIn("authorization", error.details().lower())
        self.assertEqual(self.mock_requests(), [])

    def test_upstream_429_is_resource_exhausted(self):
        self.arm("/v1/chat/completions", x_mock_status=429)
        error = self.expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  "/openai.v1.ChatService/CreateChatCompletion",
                                  self.chat_hi())
        self.assertEqual(error.details(), "mock error 429")
        trailing = dict(error.trailing_metadata())
        self.assertEqual(trailing.get("openai-http-status"), "429")
        error_body = json.loads(trailing["openai-error-bin"])
        self.assertEqual(error_body, {"error": {"message": "mock error 429", "type": "requests",
                                                "param": None, "code": "rate_limit_exceeded"}})
        # Rate-limit headers come back too: as initial metadata, which a response without
        # messages sends together with the trailers.
        metadata = dict(error.initial_metadata() or ())
        metadata.update(trailing)
        self.assertEqual(metadata.get("retry-after"), "1")
        self.assertEqual(metadata.get("x-ratelimit-remaining-requests"), "0")
        seen = self.only_mock_request()
        self.assert_upstream(seen, "POST", "/v1/chat/completions")
        self.assertEqual(metadata.get("x-request-id"), seen["request_id"])

    def test_deadline_shorter_than_upstream_delay(self):
        self.arm("/v1/chat/completions", x_mock_delay_ms=5000)
        started = time.monotonic()
        self.expect_error(grpc.StatusCode.DEADLINE_EXCEEDED,
                          "/openai.v1.ChatService/CreateChatCompletion",
                          self.chat_hi(),
                          timeout=0.5)
        self.assertLess(time.monotonic() - started, 3)
        self.assert_upstream(self.only_mock_request(), "POST", "/v1/chat/completions")
        # The gateway gives up the upstream call too, well before the mock would answer.
        deadline = time.monotonic() + 3
        while self.mock_call("GET", "/__mock/stats")["aborted"] < 1:
            self.assertLess(time.monotonic(), deadline,
                            "the upstream call went on after the deadline")
            time.sleep(0.05)

    def test_unknown_method_is_unimplemented(self):
        for method in ("/openai.v1.ChatService/NoSuchMethod", "/openai.v1.NoSuchService/Create"):
            stub = self.channel.unary_unary(method)
            with self.assertRaises(grpc.RpcError) as caught:
                stub(b"", metadata=AUTH, timeout=CALL_TIMEOUT_S)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED, method)
        self.assertEqual(self.mock_requests(), [])

    # ---- 8. reflection and health -------------------------------------------------------------

    def reflect(self, version, requests):
        package = f"grpc.reflection.{version}"
        request_class = self.grpc_messages[f"{package}.ServerReflectionRequest"]
        response_class = self.grpc_messages[f"{package}.ServerReflectionResponse"]
        stub = self.channel.stream_stream(f"/{package}.ServerReflection/ServerReflectionInfo",
                                          request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)
        return list(stub(iter([json_format.ParseDict(r, request_class()) for r in requests]),
                         timeout=CALL_TIMEOUT_S))

    def test_reflection(self):
        for version in ("v1alpha", "v1"):
            with self.subTest(version=version):
                listed, described = self.reflect(
                    version, [{"list_services": ""},
                              {"file_containing_symbol": "openai.v1.ChatService"}])
                services = {s.name for s in listed.list_services_response.service}
                self.assertIn("openai.v1.ChatService", services)
                self.assertIn("openai.v1.AssistantsService", services)
                self.assertIn("grpc.health.v1.Health", services)
                self.assertIn(f"grpc.reflection.{version}.ServerReflection", services)

                files = []
                for raw in described.file_descriptor_response.file_descriptor_proto:
                    file = descriptor_pb2.FileDescriptorProto()
                    file.ParseFromString(raw)
                    files.append(file)
                self.assertTrue(files, described)
                chat = [f for f in files if f.name == "openai/v1/chat.proto"]
                self.assertEqual(len(chat), 1, [f.name for f in files])
                service = [s for s in chat[0].service if s.name == "ChatService"]
                self.assertEqual(len(service), 1)
                self.assertIn("CreateChatCompletionStream", [m.name for m in service[0].method])
        self.assertEqual(self.mock_requests(), [])

    def test_health(self):
        request_class = self.grpc_messages["grpc.health.v1.HealthCheckRequest"]
        response_class = self.grpc_messages["grpc.health.v1.HealthCheckResponse"]
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                         request_serializer=request_class.SerializeToString,
                                         response_deserializer=response_class.FromString)
        response = check(request_class(service=""), timeout=CALL_TIMEOUT_S)
        serving = response_class.DESCRIPTOR.fields_by_name["status"].enum_type \
            .values_by_name["SERVING"].number
        self.assertEqual(response.status, serving)

    # ---- 9. the key in the log ---------------------------------------------------------------

    def test_debug_log_names_calls_but_not_the_key(self):
        self.unary("/openai.v1.ChatService/CreateChatCompletion",
                   self.chat_hi())
        self.stream("/openai.v1.ChatService/CreateChatCompletionStream",
                    self.chat_hi())
        self.arm("/v1/embeddings", x_mock_status=401)
        self.expect_error(grpc.StatusCode.UNAUTHENTICATED,
                          "/openai.v1.EmbeddingsService/CreateEmbedding",
                          self.embedding_request("a"))
        self.gateway.stop()
        log = self.gateway.output()
        # The debug log is not empty of the calls (so the check below means something) ...
        self.assertIn("CreateChatCompletion", log)
        self.assertIn("CreateEmbedding", log)
        # ... and tearDown checks that the key is nowhere in it.



class GatewayTlsTest(unittest.TestCase):
    """--tls-cert/--tls-key: a gRPC client with grpc.ssl_channel_credentials and an https
    client share the gateway's one TLS port, which the ClientHello's ALPN splits."""

    def setUp(self):
        certs = tempfile.TemporaryDirectory()
        self.addCleanup(certs.cleanup)
        subprocess.run([os.path.join(ROOT, "tests", "integration", "make_test_certs.sh"),
                        certs.name], check=True)
        self.ca = os.path.join(certs.name, "ca.pem")
        start_mock_and_gateway(self, "--tls-cert", os.path.join(certs.name, "good.pem"),
                               "--tls-key", os.path.join(certs.name, "good.key"))
        self.assertIn("REST and gRPC over TLS", self.gateway.output())

    def test_grpc_and_https_share_the_tls_port(self):
        with open(self.ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        full_method = "/openai.v1.EmbeddingsService/CreateEmbedding"
        request_class, response_class, _ = load_openai_messages().method(full_method)
        with grpc.secure_channel(f"127.0.0.1:{self.port}", credentials,
                                 options=[("grpc.enable_http_proxy", 0)]) as channel:
            create = channel.unary_unary(full_method,
                                         request_serializer=request_class.SerializeToString,
                                         response_deserializer=response_class.FromString)
            request = new("CreateEmbeddingRequest", model="text-embedding-3-small",
                          input=new("CreateEmbeddingRequest.Input",
                                    texts=new("StringList", items=["a"])))
            response = create(request, metadata=AUTH, timeout=CALL_TIMEOUT_S)
        self.assertEqual(response.object, "list")
        self.assertEqual(len(response.data), 1)

        https = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.ca)))
        with https.open(f"https://127.0.0.1:{self.port}/health", timeout=10) as reply:
            self.assertEqual(reply.read(), b"OpenAI API Server is running")

        plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with plain.open(f"{self.mock_url}/__mock/requests", timeout=10) as reply:
            seen = json.loads(reply.read())
        self.assertEqual([(r["method"], r["target"]) for r in seen], [("POST", "/v1/embeddings")])
        self.gateway.stop()
        self.assertNotIn(KEY, self.gateway.output())


if __name__ == "__main__":
    unittest.main()
