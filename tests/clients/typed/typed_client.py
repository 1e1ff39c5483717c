#!/usr/bin/python3
"""A typed gRPC client of oa-bypass in Python: stubs generated from proto/ by
scripts/gen-clients.sh (protoc's *_pb2 and grpc_python_plugin's *_pb2_grpc), messages
built with their constructors, Debian's python3-grpcio.

    scripts/gen-clients.sh OUT py
    PYTHONPATH=OUT/py OPENAI_API_KEY=sk-... /usr/bin/python3 typed_client.py \\
        127.0.0.1:GATEWAY_PORT http://127.0.0.1:MOCK_PORT

The gateway must be in front of the project's mock OpenAI (tests/mock/): after each call
the client asks the mock (/__mock/requests) for the HTTP request it received and checks
it too. typed_client.{cc,ts,go} make the same calls and checks; run_typed_client.py
runs any of them. Prints one line per check; on a mismatch, says what and exits 1.
"""

import base64
import json
import os
import sys
import time
import urllib.request

import grpc
from google.protobuf import struct_pb2

from openai.v1 import (chat_pb2, chat_pb2_grpc, common_pb2, embeddings_pb2,
                       embeddings_pb2_grpc, files_pb2, files_pb2_grpc, responses_pb2,
                       responses_pb2_grpc, types_pb2)

DEADLINE_S = 20


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")
    print(f"ok   {what}")


def check_json(what, got, want):
    """JSON values compared as values, with bools told apart from numbers (in Python,
    True == 1)."""
    def strict(value):
        if isinstance(value, bool):
            return ("bool", value)
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strict(v) for v in value]
        return value
    if strict(got) != strict(want):
        raise Mismatch(f"{what}: got {json.dumps(got, sort_keys=True)}, "
                       f"want {json.dumps(want, sort_keys=True)}")
    print(f"ok   {what}")


def check_that(what, condition, detail=""):
    if not condition:
        raise Mismatch(f"{what}: not so{': ' + detail if detail else ''}")
    print(f"ok   {what}")


# ---- the mock's side: what the gateway sent upstream ---------------------------------------

class Mock:
    def __init__(self, url, key):
        self.url = url
        self.key = key
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, headers=None):
        request = urllib.request.Request(self.url + path, method=method, headers=headers or {},
                                         data=b"" if method == "POST" else None)
        with self.http.open(request, timeout=10) as reply:
            return json.loads(reply.read())

    def arm(self, path, **headers):
        """x-mock-* behaviour for the next request to `path` (x_mock_sse_events=4 is
        x-mock-sse-events: 4)."""
        self._call("POST", f"/__mock/override?path={path}",
                   {k.replace("_", "-"): str(v) for k, v in headers.items()})

    def take_request(self, method, target):
        """The one request the mock received since the last call, checked for method,
        target and key; the mock then forgets it."""
        received = self._call("GET", "/__mock/requests")
        self._call("POST", "/__mock/reset")
        check("upstream requests", len(received), 1)
        request = received[0]
        check("upstream method and path", (request["method"], request["target"]),
              (method, target))
        headers = {name.lower(): value for name, value in request["headers"]}
        check_that("upstream authorization is the caller's key",
                   headers.get("authorization") == "Bearer " + self.key)
        request["content_type"] = headers.get("content-type", "")
        request["body"] = base64.b64decode(request["body_base64"])
        return request

    def take_json(self, method, target):
        request = self.take_request(method, target)
        check("upstream content type", request["content_type"], "application/json")
        return request, json.loads(request["body"])


def if_set(message, field):
    return getattr(message, field) if message.HasField(field) else None


# ---- the calls, as a user writes them ------------------------------------------------------

def chat_request():
    user = chat_pb2.ChatCompletionRequestUserMessage(
        content=chat_pb2.ChatCompletionRequestUserMessage.Content(text="hi"))
    return chat_pb2.CreateChatCompletionRequest(
        model="gpt-4o-mini",
        messages=[chat_pb2.ChatCompletionRequestMessage(user=user)],
        temperature=0,
        max_completion_tokens=16)


CHAT_SENT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
             "temperature": 0, "max_completion_tokens": 16}


def chat(channel, auth, mock):
    client = chat_pb2_grpc.ChatServiceStub(channel)
    answer, call = client.CreateChatCompletion.with_call(chat_request(), metadata=auth,
                                                        timeout=DEADLINE_S)
    check("chat: id", answer.id, "chatcmpl-mock")
    check("chat: object", answer.object, "chat.completion")
    check("chat: created", answer.created, 1700000000)
    check("chat: choices[0].message.role", answer.choices[0].message.role, "assistant")
    check("chat: choices[0].message.content", answer.choices[0].message.content,
          "Hello from mock")
    check("chat: choices[0].finish_reason", answer.choices[0].finish_reason, "stop")
    check("chat: usage", (answer.usage.prompt_tokens, answer.usage.completion_tokens,
                          answer.usage.total_tokens), (5, 3, 8))
    request_id = dict(call.initial_metadata()).get("x-request-id")

    request, body = mock.take_json("POST", "/v1/chat/completions")
    check_json("chat: upstream body", body, CHAT_SENT)
    check("chat: x-request-id metadata", request_id, request["request_id"])


def chat_stream(channel, auth, mock):
    mock.arm("/v1/chat/completions", x_mock_sse_events=4, x_mock_sse_interval_ms=100)
    client = chat_pb2_grpc.ChatServiceStub(channel)
    chunks, times = [], []
    for chunk in client.CreateChatCompletionStream(chat_request(), metadata=auth,
                                                   timeout=DEADLINE_S):
        chunks.append(chunk)
        times.append(time.monotonic())
    check("chat stream: chunks", len(chunks), 4)
    check("chat stream: objects", {c.object for c in chunks}, {"chat.completion.chunk"})
    # An unset optional field reads as "" in Python: HasField tells.
    check("chat stream: deltas", [if_set(c.choices[0].delta, "content") for c in chunks],
          ["tok0", "tok1", "tok2", None])
    check("chat stream: finish reasons", [if_set(c.choices[0], "finish_reason") for c in chunks],
          [None, None, None, "stop"])
    check_that("chat stream: chunks arrived as sent, 100 ms apart", times[-1] - times[0] >= 0.2,
               f"all within {times[-1] - times[0]:.3f} s")

    _, body = mock.take_json("POST", "/v1/chat/completions")
    check_json("chat stream: upstream body", body, dict(CHAT_SENT, stream=True))


WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def response_request():
    question = types_pb2.InputItem.Message(
        role="user", content=types_pb2.Content(text="What is the weather in Paris?"))
    call = types_pb2.FunctionToolCall(call_id="call_1", name="get_weather",
                                      arguments='{"city":"Paris"}')
    result = types_pb2.FunctionCallOutputItemParam(
        call_id="call_1",
        output=types_pb2.FunctionCallOutputItemOutput(text='{"temperature_c":18}'))
    parameters = struct_pb2.Struct()
    parameters.update(WEATHER_PARAMETERS)
    weather = types_pb2.FunctionTool(name="get_weather", description="The weather in a city",
                                     parameters=parameters, strict=True)
    return responses_pb2.CreateResponseRequest(
        model="gpt-4o-mini",
        input=responses_pb2.InputParam(items=responses_pb2.InputItemList(items=[
            types_pb2.InputItem(message=question),
            types_pb2.InputItem(function_call=call),
            types_pb2.InputItem(function_call_output=result),
        ])),
        tools=[types_pb2.Tool(function=weather)],
        temperature=0)


RESPONSE_SENT = {
    "model": "gpt-4o-mini",
    "input": [
        {"type": "message", "role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temperature_c":18}'},
    ],
    "tools": [{"type": "function", "name": "get_weather", "description": "The weather in a city",
               "parameters": WEATHER_PARAMETERS, "strict": True}],
    "temperature": 0,
}


def response(channel, auth, mock):
    client = responses_pb2_grpc.ResponsesServiceStub(channel)
    answer = client.CreateResponse(response_request(), metadata=auth, timeout=DEADLINE_S)
    check("response: id", answer.id, "resp_mock1")
    check("response: status", answer.status, "completed")
    check("response: temperature", (answer.HasField("temperature"), answer.temperature), (True, 0))
    check("response: output[0] is a message", answer.output[0].WhichOneof("variant"), "message")
    message = answer.output[0].message
    check("response: output[0].message.role", message.role, "assistant")
    check("response: output[0].message.content[0] is output_text",
          message.content[0].WhichOneof("variant"), "output_text")
    check("response: output[0].message.content[0].output_text.text",
          message.content[0].output_text.text, "Hello from mock")
    check("response: usage", (answer.usage.input_tokens, answer.usage.output_tokens,
                              answer.usage.total_tokens), (5, 3, 8))
    # The mock repeats the tools it was sent: OpenAI's flat JSON read back into Tool.
    check("response: tools[0] is a function", answer.tools[0].WhichOneof("variant"), "function")
    tool = answer.tools[0].function
    check("response: tools[0].function.name", tool.name, "get_weather")
    check("response: tools[0].function.strict", tool.strict, True)
    check("response: tools[0].function.parameters.required",
          list(tool.parameters["required"]), ["city"])
    check("response: tools[0].function.parameters.properties.city.type",
          tool.parameters["properties"]["city"]["type"], "string")

    _, body = mock.take_json("POST", "/v1/responses")
    check_json("response: upstream body", body, RESPONSE_SENT)


def response_stream(channel, auth, mock):
    client = responses_pb2_grpc.ResponsesServiceStub(channel)
    events = list(client.CreateResponseStream(response_request(), metadata=auth,
                                              timeout=DEADLINE_S))
    check("response stream: events", [e.WhichOneof("variant") for e in events],
          ["response_created", "response_output_text_delta", "response_output_text_delta",
           "response_output_text_delta", "response_completed"])
    created, completed = events[0].response_created, events[4].response_completed
    deltas = [e.response_output_text_delta for e in events[1:4]]
    check("response stream: sequence numbers",
          [created.sequence_number] + [d.sequence_number for d in deltas]
          + [completed.sequence_number], [0, 1, 2, 3, 4])
    check("response stream: created.response.status", created.response.status, "in_progress")
    check("response stream: deltas", [d.delta for d in deltas], ["tok0", "tok1", "tok2"])
    check("response stream: completed.response.id", completed.response.id, created.response.id)
    check("response stream: completed.response.status", completed.response.status, "completed")
    check("response stream: completed text",
          completed.response.output[0].message.content[0].output_text.text, "tok0tok1tok2")
    check("response stream: completed.response.usage.total_tokens",
          completed.response.usage.total_tokens, 8)

    _, body = mock.take_json("POST", "/v1/responses")
    check_json("response stream: upstream body", body, dict(RESPONSE_SENT, stream=True))


def embeddings(channel, auth, mock):
    client = embeddings_pb2_grpc.EmbeddingsServiceStub(channel)
    answer = client.CreateEmbedding(
        embeddings_pb2.CreateEmbeddingRequest(
            model="text-embedding-3-small",
            input=embeddings_pb2.CreateEmbeddingRequest.Input(
                texts=types_pb2.StringList(items=["a", "b"]))),
        metadata=auth, timeout=DEADLINE_S)
    check("embeddings: data", len(answer.data), 2)
    for i, item in enumerate(answer.data):
        check(f"embeddings: data[{i}].index", item.index, i)
        # The mock's values: (k + 1) / 16 - i / 256, exact in binary.
        check(f"embeddings: data[{i}].embedding", list(item.embedding),
              [(k + 1) / 16 - i / 256 for k in range(8)])
    check("embeddings: usage.total_tokens", answer.usage.total_tokens, 8)

    _, body = mock.take_json("POST", "/v1/embeddings")
    check_json("embeddings: upstream body", body,
               {"model": "text-embedding-3-small", "input": ["a", "b"]})


FILE_BYTES = bytes(range(256))


def upload(channel, auth, mock):
    client = files_pb2_grpc.FilesServiceStub(channel)
    answer = client.CreateFile(
        files_pb2.CreateFileRequest(
            file=common_pb2.FileUpload(data=FILE_BYTES, filename="all-bytes.bin",
                                       content_type="application/octet-stream"),
            purpose="user_data"),
        metadata=auth, timeout=DEADLINE_S)
    check("file: id", answer.id, "file-mock1")
    check("file: bytes", answer.bytes, 256)
    check("file: filename", answer.filename, "all-bytes.bin")
    check("file: purpose", answer.purpose, "user_data")

    request = mock.take_request("POST", "/v1/files")
    prefix = "multipart/form-data; boundary="
    check_that("file: upstream content type is multipart/form-data",
               request["content_type"].startswith(prefix), request["content_type"])
    boundary = request["content_type"][len(prefix):].encode()
    check("file: upstream body", request["body"], b"".join([
        b"--", boundary, b"\r\n",
        b'Content-Disposition: form-data; name="file"; filename="all-bytes.bin"\r\n',
        b"Content-Type: application/octet-stream\r\n\r\n", FILE_BYTES, b"\r\n",
        b"--", boundary, b"\r\n",
        b'Content-Disposition: form-data; name="purpose"\r\n\r\n', b"user_data\r\n",
        b"--", boundary, b"--\r\n"]))


def main():
    sys.stdout.reconfigure(line_buffering=True)
    if len(sys.argv) != 3 or not os.environ.get("OPENAI_API_KEY"):
        sys.exit("usage: OPENAI_API_KEY=... typed_client.py GATEWAY_HOST:PORT MOCK_URL")
    gateway, mock_url = sys.argv[1:]
    key = os.environ["OPENAI_API_KEY"]
    auth = [("authorization", "Bearer " + key)]
    mock = Mock(mock_url, key)
    with grpc.insecure_channel(gateway, options=[("grpc.enable_http_proxy", 0)]) as channel:
        try:
            for step in (chat, chat_stream, response, response_stream, embeddings, upload):
                step(channel, auth, mock)
        except Mismatch as mismatch:
            sys.exit(f"FAIL python: {step.__name__}: {mismatch}")
        except grpc.RpcError as error:
            sys.exit(f"FAIL python: {step.__name__}: {error.code().name}: {error.details()}")
    print("python: all checks passed")


if __name__ == "__main__":
    main()
