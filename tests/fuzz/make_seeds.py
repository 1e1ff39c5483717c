#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are small, hand-chosen inputs of the shapes the gateway meets: real paths and
templates of proto/, OpenAI's JSON answers and SSE streams, gRPC request messages in
wire format (built from JSON with the committed descriptor set, gen/openai_v1.binpb),
and raw HTTP/1.1 requests, smuggling shapes included. Run it again after changing a
seed below; it rewrites the corpus folders from scratch. Needs python3-protobuf.
"""
import json
import os
import shutil
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def load_pool():
    fds = descriptor_pb2.FileDescriptorSet.FromString(
        open(os.path.join(ROOT, "gen", "openai_v1.binpb"), "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return fds, pool


def templates_from_protos():
    """(http method, template) of every rule in proto/, as written in the files."""
    out = []
    for name in sorted(os.listdir(os.path.join(ROOT, "proto", "openai", "v1"))):
        text = open(os.path.join(ROOT, "proto", "openai", "v1", name)).read()
        for line in text.splitlines():
            line = line.strip()
            for verb in ("get", "post", "put", "patch", "delete"):
                if line.startswith(verb + ': "/'):
                    out.append((verb.upper(), line.split('"')[1]))
    return out


def seeds_http_template(rules):
    picked = sorted({t for _, t in rules})
    # A spread of the real templates: one, two and three variables, literals after them.
    for i, t in enumerate(picked[:: max(1, len(picked) // 16)]):
        write("http_template_fuzz", f"proto_{i:02d}", t)
    synthetic = {
        "verb": "/v1/{name=operations/*}:cancel",
        "multi": "/v1/files/{path=**}",
        "multi_verb": "/v1/{name=projects/*/files/**}:download",
        "nested_field": "/v1/threads/{thread.id}/runs/{run_id}",
        "wildcards": "/v1/*/x/**",
        "star_literal_mix": "/v1/{a=x/*/y}/{b}",
        "colon_model": "/v1/models/{model}",
        "bad_double_star": "/v1/**/x",
        "bad_nested_var": "/v1/{a={b}}",
        "bad_repeated_var": "/v1/{a}/{a}",
        "bad_field": "/v1/{9a}",
        "bad_unclosed": "/v1/{a=x",
        "bad_empty_segment": "/v1//x",
        "bad_no_slash": "v1/models",
        "bad_empty_verb": "/v1/x:",
        "percent_literal": "/v1/a%2Fb/{x}",
    }
    for name, t in synthetic.items():
        write("http_template_fuzz", name, t)


def sample_path(template, value="id-1"):
    out = []
    for seg in template.strip("/").split("/"):
        if seg.startswith("{"):
            inner = seg[1:-1]
            out.append(value if "=" not in inner else "a/b")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def seeds_route_match(rules):
    seen = set()
    for i, (method, t) in enumerate(rules[:: max(1, len(rules) // 20)]):
        line = f"{method} {sample_path(t)}"
        if line not in seen:
            seen.add(line)
            write("route_match_fuzz", f"proto_{i:02d}", line)
    extra = {
        "model_colons": "GET /v1/models/ft:gpt-4o:acme::abc123",
        "literal_beats_variable": "POST /v1/responses/compact",
        "variable": "GET /v1/responses/resp_123?include[]=output&stream=true",
        "threads_runs": "POST /v1/threads/runs",
        "videos_characters": "POST /v1/videos/characters",
        "encoded_slash": "GET /v1/files/file%2Fabc/content",
        "empty_id": "GET /v1/models/",
        "double_slash": "GET /v1//models",
        "unmodelled": "POST /v1/brand_new_endpoint",
        "lowercase_method": "get /v1/models",
        "bare_v1": "GET /v1?x=1",
        "query_only": "GET /v1/chat/completions?limit=2&after=x&metadata[k]=v",
        "percent_junk": "DELETE /v1/files/%zz%2",
        "not_absolute": "GET v1/models",
    }
    for name, line in extra.items():
        write("route_match_fuzz", name, line)


def seeds_sse():
    # Header: [0] streaming RPC pick, [1] size limit / 4, [2..3] split seed.
    h = bytes([0, 16, 0x12, 0x34])
    streams = {
        "chat_chunks": (
            'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
            '"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
            'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
            '"delta":{"content":"Hel"}}]}\n\n'
            'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
            '"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
            "data: [DONE]\n\n"),
        "assistants_named": (
            "event: thread.run.created\r\n"
            'data: {"id":"run_1","object":"thread.run","status":"queued"}\r\n\r\n'
            "event: thread.message.delta\r\n"
            'data: {"id":"msg_1","delta":{"content":[{"index":0,"type":"text",'
            '"text":{"value":"hi"}}]}}\r\n\r\n'
            "event: done\r\ndata: [DONE]\r\n\r\n"),
        "responses_events": (
            "event: response.created\n"
            'data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1",'
            '"object":"response","status":"in_progress","output":[]}}\n\n'
            "event: response.output_text.delta\n"
            'data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,'
            '"content_index":0,"delta":"Hi","sequence_number":1}\n\n'),
        "error_event": 'event: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n',
        "error_object": 'data: {"error":{"message":"Rate limit","type":"requests"}}\n\n',
        "comments_ids_cr": ": keep-alive\r\rid: 7\rdata: a\rdata: b\r\rretry: 10\r\r",
        "multiline_data": "data: {\"a\":\ndata: 1}\n\ndata\n\ndata:\n\nevent: x\n\n",
        "no_final_blank_line": "data: {\"id\":\"x\"}\ndata: tail",
        "speech_stream": (
            'data: {"type":"speech.audio.delta","audio":"AAAA"}\n\n'
            'data: {"type":"speech.audio.done","usage":{"input_tokens":1,"output_tokens":2,'
            '"total_tokens":3}}\n\n'),
    }
    for i, (name, s) in enumerate(streams.items()):
        write("sse_fuzz", name, bytes([i * 7, 16, i, 0x34]) + s.encode())
    write("sse_fuzz", "tiny_limit", bytes([1, 0, 0, 1]) + b"data: 0123456789\n\n")
    write("sse_fuzz", "bom_and_nul", h + b"\xef\xbb\xbfdata: x\x00y\n\n")


def seeds_transcode(pool):
    factory = message_factory.MessageFactory(pool)

    def wire(type_name, obj):
        cls = factory.GetPrototype(pool.FindMessageTypeByName(type_name))
        msg = cls()
        json_format.ParseDict(obj, msg, ignore_unknown_fields=True)
        return msg.SerializeToString()

    answers = {
        "chat_completion": ("openai.v1.ChatService/CreateChatCompletion", {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": "Hello!", "refusal": None,
                                     "tool_calls": [{"id": "call_1", "type": "function",
                                                     "function": {"name": "f",
                                                                  "arguments": "{\"x\":1}"}}]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
                      "completion_tokens_details": {"reasoning_tokens": 0}},
            "brand_new_field": [1, {"x": None}]}),
        "embedding": ("openai.v1.EmbeddingsService/CreateEmbedding", {
            "object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0,
                      "embedding": [0.0023064255, -0.009327292, 1e-7, 3]}],
            "usage": {"prompt_tokens": 8, "total_tokens": 8}}),
        "file": ("openai.v1.FilesService/RetrieveFile", {
            "id": "file-abc", "object": "file", "bytes": 3000000000, "created_at": 1700000000,
            "expires_at": None, "filename": "a.jsonl", "purpose": "batch",
            "status": "processed"}),
        "models": ("openai.v1.ModelsService/ListModels", {
            "object": "list",
            "data": [{"id": "ft:gpt-4o:acme::abc123", "object": "model", "created": 1,
                      "owned_by": "acme"}]}),
        "response": ("openai.v1.ResponsesService/CreateResponse", {
            "id": "resp_1", "object": "response", "created_at": 1741476542,
            "status": "completed", "model": "gpt-4.1", "temperature": 1.0, "top_p": 1.0,
            "metadata": {"k": "v"},
            "output": [{"type": "message", "id": "msg_1", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}],
            "tools": [{"type": "function", "name": "f",
                       "parameters": {"type": "object", "properties": {"x": {"type": "number"}}}}],
            "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123}}),
        "run": ("openai.v1.AssistantsService/CreateRun", {
            "id": "run_1", "object": "thread.run", "status": "requires_action",
            "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {
                "tool_calls": [{"id": "c", "type": "function",
                                "function": {"name": "f", "arguments": "{}"}}]}},
            "tool_choice": "auto", "response_format": {"type": "json_object"}}),
        "wrong_types": ("openai.v1.FilesService/RetrieveFile",
                        {"id": 7, "bytes": "many", "created_at": 1.5, "status": ["x"]}),
        "big_numbers": ("openai.v1.ChatService/CreateChatCompletion",
                        {"created": 18446744073709551615, "usage": {"total_tokens": -1e300}}),
    }
    for name, (rpc, obj) in answers.items():
        write("transcode_fuzz", "answer_" + name, f"A {rpc}\n" + json.dumps(obj))
    write("transcode_fuzz", "answer_not_json", "A openai.v1.ModelsService/ListModels\n{\"data\":[")
    write("transcode_fuzz", "answer_array", "A openai.v1.ModelsService/ListModels\n[1,2]")

    requests = {
        "chat": ("openai.v1.ChatService/CreateChatCompletionStream",
                 "openai.v1.CreateChatCompletionRequest", {
                     "model": "gpt-4o", "temperature": 0, "max_completion_tokens": 5,
                     "messages": [{"role": "user", "content": "Hi"},
                                  {"role": "user",
                                   "content": [{"type": "text", "text": "more"}]}],
                     "stop": ["\n", "END"], "metadata": {"k": "v"},
                     "response_format": {"type": "json_schema", "json_schema": {
                         "name": "s", "schema": {"type": "object"}}}}),
        "retrieve_model": ("openai.v1.ModelsService/RetrieveModel",
                           "openai.v1.RetrieveModelRequest",
                           {"model": "ft:gpt-4o:acme::abc/123"}),
        "list_files": ("openai.v1.FilesService/ListFiles", "openai.v1.ListFilesRequest",
                       {"purpose": "batch", "limit": 2, "order": "asc", "after": "file x&y"}),
        "download": ("openai.v1.FilesService/DownloadFile", "openai.v1.DownloadFileRequest",
                     {"file_id": "file-abc"}),
        "get_response": ("openai.v1.ResponsesService/GetResponseStream",
                         "openai.v1.GetResponseRequest",
                         {"response_id": "resp_1", "include": ["a", "b"]}),
        "create_run": ("openai.v1.AssistantsService/CreateRun", "openai.v1.CreateRunRequest",
                       {"thread_id": "thread_1", "assistant_id": "asst_1",
                        "include": ["step_details.tool_calls[*].file_search.results[*].content"]}),
        "upload_file": ("openai.v1.FilesService/CreateFile", "openai.v1.CreateFileRequest",
                        {"purpose": "batch",
                         "file": {"filename": "a\"b.jsonl", "content_type": "application/jsonl",
                                  "data": "eyJhIjoxfQo="}}),
        "speech": ("openai.v1.AudioService/CreateSpeechStream", "openai.v1.CreateSpeechRequest",
                   {"model": "gpt-4o-mini-tts", "input": "hi", "voice": "alloy"}),
        "embedding": ("openai.v1.EmbeddingsService/CreateEmbedding",
                      "openai.v1.CreateEmbeddingRequest",
                      {"model": "text-embedding-3-small", "input": ["a", "b"],
                       "dimensions": 256}),
    }
    for name, (rpc, type_name, obj) in requests.items():
        write("transcode_fuzz", "request_" + name, f"R {rpc}\n".encode() + wire(type_name, obj))
    write("transcode_fuzz", "request_dot_id",
          b"R openai.v1.ModelsService/RetrieveModel\n" +
          wire("openai.v1.RetrieveModelRequest", {"model": ".."}))
    write("transcode_fuzz", "request_garbage",
          b"R openai.v1.ChatService/CreateChatCompletion\n\x0a\xff\xff\xff\x0f")


def http_requests():
    """Raw HTTP/1.1 requests by name: the SDK's, the gateway's own, and hostile ones."""
    key = "Bearer sk-fuzz-0123456789abcdef"
    chat = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]})
    stream = json.dumps({"model": "gpt-4o", "stream": True,
                         "messages": [{"role": "user", "content": "Hi"}]})

    def req(method, target, headers=(), body=b"", version="1.1"):
        if isinstance(body, str):
            body = body.encode()
        lines = [f"{method} {target} HTTP/{version}", "Host: gw"]
        lines += list(headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def cl(body):
        return f"Content-Length: {len(body)}"

    auth = f"Authorization: {key}"
    seeds = {
        "chat": req("POST", "/v1/chat/completions",
                    [auth, "Content-Type: application/json", cl(chat)], chat),
        "chat_stream": req("POST", "/v1/chat/completions",
                           [auth, "Content-Type: application/json", cl(stream)], stream),
        "get_model": req("GET", "/v1/models/ft:gpt-4o:acme::abc123", [auth]),
        "list_query": req("GET", "/v1/files?purpose=batch&limit=2&include[]=x", [auth]),
        "health": req("GET", "/health"),
        "ready_head": req("HEAD", "/ready"),
        "metrics": req("GET", "/metrics"),
        "no_key": req("GET", "/v1/models"),
        "unknown_path": req("GET", "/v2/models?key=secret", [auth]),
        "unmodelled": req("POST", "/v1/brand_new", [auth, cl("{}")], "{}"),
        "preflight": req("OPTIONS", "/v1/chat/completions",
                         ["Origin: https://app.example", "Access-Control-Request-Method: POST",
                          "Access-Control-Request-Headers: authorization, content-type"]),
        "cors_origin": req("GET", "/v1/models", [auth, "Origin: https://evil.example"]),
        "chunked": req("POST", "/v1/embeddings",
                       [auth, "Transfer-Encoding: chunked"],
                       "5\r\n{\"a\":\r\n3;ext=1\r\n1}\n\r\n0\r\nX-Trailer: t\r\n\r\n"),
        "expect_continue": req("POST", "/v1/moderations",
                               [auth, "Expect: 100-continue", cl(chat)], chat),
        "head_relay": req("HEAD", "/v1/models", [auth]),
        "http10": req("GET", "/v1/models", [auth], version="1.0"),
        "hop_by_hop": req("GET", "/v1/models",
                          [auth, "Connection: keep-alive, X-Secret", "X-Secret: 1", "TE: trailers",
                           "Keep-Alive: 5", "Upgrade: websocket", "Proxy-Authorization: x"]),
        "too_large": req("POST", "/v1/files", [auth, "Content-Length: 999999"], "x"),
        "cut_body": req("POST", "/v1/chat/completions", [auth, "Content-Length: 100"], "{\"a\""),
        "smuggle_cl_te": req("POST", "/v1/chat/completions",
                             [auth, "Content-Length: 4", "Transfer-Encoding: chunked"],
                             "0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"),
        "smuggle_te_te": req("POST", "/v1/chat/completions",
                             [auth, "Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
                             "0\r\n\r\n"),
        "smuggle_two_cl": req("POST", "/v1/chat/completions",
                              [auth, "Content-Length: 3", "Content-Length: 40"], "abc"),
        "smuggle_te_obfuscated": req("POST", "/v1/chat/completions",
                                     [auth, "Transfer-Encoding : chunked", cl("0\r\n\r\n")],
                                     "0\r\n\r\n"),
        "smuggle_lf_only": (f"POST /v1/embeddings HTTP/1.1\nHost: gw\n{auth}\n"
                            "Content-Length: 2\n\n{}").encode(),
        "bad_chunk_size": req("POST", "/v1/embeddings", [auth, "Transfer-Encoding: chunked"],
                              "fffffffffffffffff\r\nx\r\n0\r\n\r\n"),
        "bad_version": b"GET /v1/models HTTP/9.9\r\nHost: gw\r\n\r\n",
        "absolute_form": req("GET", "http://evil.example/v1/models", [auth]),
        "asterisk": req("OPTIONS", "*"),
        "header_too_large": req("GET", "/v1/models", [auth, "X-Big: " + "a" * 5000]),
        "obs_fold": (f"GET /v1/models HTTP/1.1\r\nHost: gw\r\n{auth}\r\nX-A: 1\r\n 2\r\n\r\n"
                     ).encode(),
        "h2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        "h2_preface_prefix": b"PRI * HTTP/2.0\r\n",
        "key_in_error": req("GET", "/nowhere", ["Authorization: Bearer sk-secret-key-in-a-404"]),
    }
    seeds["pipelined"] = (req("GET", "/health") + req("GET", "/v1/models", [auth]) +
                          req("POST", "/v1/chat/completions", [auth, cl(stream)], stream) +
                          req("GET", "/ready", ["Connection: close"]) + req("GET", "/health"))
    seeds["pipelined_cut"] = req("GET", "/v1/models", [auth]) + b"GET /v1/mod"
    return seeds


def seeds_http_front():
    for name, data in http_requests().items():
        write("http_front_fuzz", name, data)


def seeds_http1_parser():
    # Header: [0] bit 0 request, bit 1 HEAD's answer, bits 2-3 piece size (0: whole);
    # [1] body room - 1; [2] head limit: 16 + 16 * it bytes (255: 4096).
    whole_request, bytewise_request, whole_response, head_response = 0b0001, 0b0101, 0, 0b0010
    roomy, tight = 255, 3  # 4096 bytes; 64
    for name, data in http_requests().items():
        write("http1_parser_fuzz", name, bytes([whole_request, 63, roomy]) + data)
    write("http1_parser_fuzz", "chat_bytewise",
          bytes([bytewise_request, 3, roomy]) + http_requests()["chat"])
    chunked_head = (b"POST /v1/files HTTP/1.1\r\nHost: gw\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
    chunked = {
        "extensions": b'5;a=1;b="q \\"x\\""\r\nhello\r\n0\r\n\r\n',
        "trailers": b"3\r\nabc\r\n0\r\nX-One: 1\r\nX-Two: 2\r\n\r\n",
        "long_extension": b"5;x=" + b"a" * 100 + b"\r\nhello\r\n0\r\n\r\n",
        "open_quote": b'5;x="open\r\nhello\r\n0\r\n\r\n',
        "folded_trailer": b"0\r\nX-A: 1\r\n folded\r\n\r\n",
    }
    for name, body in chunked.items():
        write("http1_parser_fuzz", "chunked_" + name,
              bytes([bytewise_request, 15, tight]) + chunked_head + body)
    answer = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
    responses = {
        "answer": ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "x-request-id: req_1\r\nopenai-processing-ms: 12\r\n"
                   f"Content-Length: {len(answer)}\r\n\r\n{answer}"),
        "answer_close": f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{{}}",
        "answer_http10": "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        "error": ("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                  "Retry-After: 1\r\nContent-Length: 2\r\n\r\n{}"),
        "stream": ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n"
                   "e\r\ndata: {\"a\":1}\n\n\r\n0\r\n\r\n"),
        "until_close": "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\nbytes",
        "no_content": "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n",
        "continue": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "obs_text_reason": "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 0\r\n\r\n",
    }
    for name, text in responses.items():
        write("http1_parser_fuzz", "response_" + name,
              bytes([whole_response, 63, roomy]) + text.encode("latin-1"))
    write("http1_parser_fuzz", "response_to_head",
          bytes([head_response, 63, roomy]) + responses["answer"].encode())


def seeds_upstream():
    # Records of [flags][length][reply]: flags bits 0-1 the method (GET, HEAD, POST,
    # DELETE), bit 2 a stray answer while idle after it, bit 3 close after the reply, bit
    # 4 the reply in two writes; '#' in a reply is the exchange's own tag.
    def record(flags, reply):
        reply = reply.encode("latin-1")
        return bytes([flags, len(reply)]) + reply
    ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n###"
    chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n###\r\n0\r\n\r\n"
    head = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
    scripts = {
        "keep_alive": record(0, ok) + record(2, ok) + record(0, chunked),
        "extra_with_answer": record(0, ok + ok) + record(0, ok),
        "extra_split": record(16, ok + ok) + record(0, ok),
        "stray_while_idle": record(4, ok) + record(0, ok) + record(0, ok),
        "body_after_head": record(1, head + "###") + record(0, ok),
        "no_content_body": record(3, "HTTP/1.1 204 No Content\r\n\r\n###") + record(0, ok),
        "interim": record(0, "HTTP/1.1 103 Early Hints\r\n\r\n" + ok) + record(0, ok),
        "until_close": record(8, "HTTP/1.1 200 OK\r\n\r\n###") + record(0, ok),
        "gzip_coding": record(0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                 "3\r\n###\r\n0\r\n\r\n") + record(0, ok),
        "chunk_extension": record(0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     '3;a="x"\r\n###\r\n0\r\nT: 1\r\n\r\n') + record(0, ok),
    }
    for name, data in scripts.items():
        write("upstream_fuzz", name, data)


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    _, pool = load_pool()
    rules = templates_from_protos()
    if not rules:
        sys.exit("make_seeds: no google.api.http rules found in proto/")
    seeds_http_template(rules)
    seeds_route_match(rules)
    seeds_sse()
    seeds_transcode(pool)
    seeds_http_front()
    seeds_http1_parser()
    seeds_upstream()
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} seeds")


if __name__ == "__main__":
    main()
