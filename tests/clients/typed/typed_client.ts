// A typed gRPC client of oa-bypass in TypeScript: messages and services generated from
// proto/ by scripts/gen-clients.sh (protoc-gen-es), messages built with create(), calls
// made with @connectrpc/connect-node's gRPC transport.
//
//   scripts/gen-clients.sh OUT ts && cp typed_client.ts OUT/ts/
//   tests/clients/node_modules/.bin/tsc --strict -p OUT/ts
//   OPENAI_API_KEY=sk-... node OUT/ts/dist/typed_client.js 127.0.0.1:GATEWAY_PORT \
//       http://127.0.0.1:MOCK_PORT
//
// The gateway must be in front of the project's mock OpenAI (tests/mock/): after each
// call the client asks the mock (/__mock/requests) for the HTTP request it received and
// checks it too. typed_client.{py,cc,go} make the same calls and checks;
// run_typed_client.py runs any of them. Prints one line per check; on a mismatch, says
// what and exits 1.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { isDeepStrictEqual } from "node:util";

import {
  ChatCompletionRequestMessageSchema,
  ChatCompletionRequestUserMessage_ContentSchema,
  ChatCompletionRequestUserMessageSchema,
  ChatService,
  CreateChatCompletionRequestSchema,
} from "./openai/v1/chat_pb.js";
import { FileUploadSchema } from "./openai/v1/common_pb.js";
import {
  CreateEmbeddingRequest_InputSchema,
  CreateEmbeddingRequestSchema,
  EmbeddingsService,
} from "./openai/v1/embeddings_pb.js";
import { CreateFileRequestSchema, FilesService } from "./openai/v1/files_pb.js";
import {
  CreateResponseRequestSchema,
  InputItemListSchema,
  InputParamSchema,
  ResponsesService,
} from "./openai/v1/responses_pb.js";
import {
  ContentSchema,
  FunctionCallOutputItemOutputSchema,
  FunctionCallOutputItemParamSchema,
  FunctionToolCallSchema,
  FunctionToolSchema,
  InputItem_MessageSchema,
  InputItemSchema,
  StringListSchema,
  ToolSchema,
} from "./openai/v1/types_pb.js";

const DEADLINE_MS = 20_000;

class Mismatch extends Error {}

const show = (value: unknown) =>
  JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v));

function check<T>(what: string, got: T, want: T) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Mismatch(`${what}: got ${show(got)}, want ${show(want)}`);
  }
  console.log(`ok   ${what}`);
}

function checkThat(what: string, condition: boolean, detail = "") {
  if (!condition) throw new Mismatch(`${what}: not so${detail ? ": " + detail : ""}`);
  console.log(`ok   ${what}`);
}

// ---- the mock's side: what the gateway sent upstream ----------------------------------

interface Recorded {
  method: string;
  target: string;
  headers: [string, string][];
  request_id: string;
  body_base64: string;
}

interface Upstream {
  requestId: string;
  contentType: string;
  body: Buffer;
}

class Mock {
  constructor(
    private url: string,
    private key: string,
  ) {}

  private async call(method: string, path: string, headers: Record<string, string> = {}) {
    const reply = await fetch(this.url + path, { method, headers });
    if (!reply.ok) throw new Error(`mock ${path}: HTTP ${reply.status}`);
    return reply.json();
  }

  // x-mock-* behaviour for the next request to `path`.
  async arm(path: string, headers: Record<string, string>) {
    await this.call("POST", `/__mock/override?path=${path}`, headers);
  }

  // The one request the mock received since the last call, checked for method, target
  // and key; the mock then forgets it.
  async takeRequest(method: string, target: string): Promise<Upstream> {
    const received = (await this.call("GET", "/__mock/requests")) as Recorded[];
    await this.call("POST", "/__mock/reset");
    check("upstream requests", received.length, 1);
    const request = received[0];
    check("upstream method and path", [request.method, request.target], [method, target]);
    const header = (name: string) =>
      request.headers.find(([n]) => n.toLowerCase() === name)?.[1] ?? "";
    checkThat(
      "upstream authorization is the caller's key",
      header("authorization") === `Bearer ${this.key}`,
    );
    return {
      requestId: request.request_id,
      contentType: header("content-type"),
      body: Buffer.from(request.body_base64, "base64"),
    };
  }

  async takeJson(method: string, target: string): Promise<[Upstream, unknown]> {
    const request = await this.takeRequest(method, target);
    check("upstream content type", request.contentType, "application/json");
    return [request, JSON.parse(request.body.toString("utf8"))];
  }
}

// ---- the calls, as a user writes them ---------------------------------------------------

type Call = { headers: Record<string, string>; timeoutMs: number };

function chatRequest() {
  const user = create(ChatCompletionRequestUserMessageSchema, {
    content: create(ChatCompletionRequestUserMessage_ContentSchema, {
      variant: { case: "text", value: "hi" },
    }),
  });
  return create(CreateChatCompletionRequestSchema, {
    model: "gpt-4o-mini",
    messages: [
      create(ChatCompletionRequestMessageSchema, { variant: { case: "user", value: user } }),
    ],
    temperature: 0,
    maxCompletionTokens: 16,
  });
}

const CHAT_SENT = {
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "hi" }],
  temperature: 0,
  max_completion_tokens: 16,
};

async function chat(call: Call, mock: Mock) {
  const client = createClient(ChatService, transport);
  let requestId: string | null = null;
  const answer = await client.createChatCompletion(chatRequest(), {
    ...call,
    onHeader: (headers) => (requestId = headers.get("x-request-id")),
  });
  check("chat: id", answer.id, "chatcmpl-mock");
  check("chat: object", answer.object, "chat.completion");
  check("chat: created", answer.created, 1700000000n);
  const choice = answer.choices[0];
  check("chat: choices[0].message.role", choice.message?.role, "assistant");
  check("chat: choices[0].message.content", choice.message?.content, "Hello from mock");
  check("chat: choices[0].finish_reason", choice.finishReason, "stop");
  const usage = answer.usage;
  check(
    "chat: usage",
    [usage?.promptTokens, usage?.completionTokens, usage?.totalTokens],
    [5, 3, 8],
  );

  const [request, body] = await mock.takeJson("POST", "/v1/chat/completions");
  check("chat: upstream body", body, CHAT_SENT);
  check("chat: x-request-id metadata", requestId, request.requestId);
}

async function chatStream(call: Call, mock: Mock) {
  await mock.arm("/v1/chat/completions", {
    "x-mock-sse-events": "4",
    "x-mock-sse-interval-ms": "100",
  });
  const client = createClient(ChatService, transport);
  const deltas: (string | undefined)[] = [];
  const finishReasons: (string | undefined)[] = [];
  const objects = new Set<string | undefined>();
  const times: number[] = [];
  for await (const chunk of client.createChatCompletionStream(chatRequest(), call)) {
    deltas.push(chunk.choices[0].delta?.content);
    finishReasons.push(chunk.choices[0].finishReason);
    objects.add(chunk.object);
    times.push(performance.now());
  }
  check("chat stream: chunks", times.length, 4);
  check("chat stream: objects", [...objects], ["chat.completion.chunk"]);
  check("chat stream: deltas", deltas, ["tok0", "tok1", "tok2", undefined]);
  check("chat stream: finish reasons", finishReasons, [undefined, undefined, undefined, "stop"]);
  const spread = times[times.length - 1] - times[0];
  checkThat(
    "chat stream: chunks arrived as sent, 100 ms apart",
    spread >= 200,
    `all within ${spread.toFixed(0)} ms`,
  );

  const [, body] = await mock.takeJson("POST", "/v1/chat/completions");
  check("chat stream: upstream body", body, { ...CHAT_SENT, stream: true });
}

const WEATHER_PARAMETERS = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};

function responseRequest() {
  const question = create(InputItem_MessageSchema, {
    role: "user",
    content: create(ContentSchema, {
      variant: { case: "text", value: "What is the weather in Paris?" },
    }),
  });
  const toolCall = create(FunctionToolCallSchema, {
    callId: "call_1",
    name: "get_weather",
    arguments: '{"city":"Paris"}',
  });
  const result = create(FunctionCallOutputItemParamSchema, {
    callId: "call_1",
    output: create(FunctionCallOutputItemOutputSchema, {
      variant: { case: "text", value: '{"temperature_c":18}' },
    }),
  });
  // google.protobuf.Struct fields are plain JSON objects in protobuf-es.
  const weather = create(FunctionToolSchema, {
    name: "get_weather",
    description: "The weather in a city",
    parameters: WEATHER_PARAMETERS,
    strict: true,
  });
  return create(CreateResponseRequestSchema, {
    model: "gpt-4o-mini",
    input: create(InputParamSchema, {
      variant: {
        case: "items",
        value: create(InputItemListSchema, {
          items: [
            create(InputItemSchema, { variant: { case: "message", value: question } }),
            create(InputItemSchema, { variant: { case: "functionCall", value: toolCall } }),
            create(InputItemSchema, { variant: { case: "functionCallOutput", value: result } }),
          ],
        }),
      },
    }),
    tools: [create(ToolSchema, { variant: { case: "function", value: weather } })],
    temperature: 0,
  });
}

const RESPONSE_SENT = {
  model: "gpt-4o-mini",
  input: [
    { type: "message", role: "user", content: "What is the weather in Paris?" },
    {
      type: "function_call",
      call_id: "call_1",
      name: "get_weather",
      arguments: '{"city":"Paris"}',
    },
    { type: "function_call_output", call_id: "call_1", output: '{"temperature_c":18}' },
  ],
  tools: [
    {
      type: "function",
      name: "get_weather",
      description: "The weather in a city",
      parameters: WEATHER_PARAMETERS,
      strict: true,
    },
  ],
  temperature: 0,
};

async function response(call: Call, mock: Mock) {
  const client = createClient(ResponsesService, transport);
  const answer = await client.createResponse(responseRequest(), call);
  check("response: id", answer.id, "resp_mock1");
  check("response: status", answer.status, "completed");
  check("response: temperature", answer.temperature, 0);
  const output = answer.output[0].variant;
  check("response: output[0] is a message", output.case, "message");
  if (output.case !== "message") return;
  check("response: output[0].message.role", output.value.role, "assistant");
  const content = output.value.content[0].variant;
  check("response: output[0].message.content[0] is output_text", content.case, "outputText");
  check(
    "response: output[0].message.content[0].output_text.text",
    content.case === "outputText" ? content.value.text : undefined,
    "Hello from mock",
  );
  const usage = answer.usage;
  check(
    "response: usage",
    [usage?.inputTokens, usage?.outputTokens, usage?.totalTokens],
    [5, 3, 8],
  );
  // The mock repeats the tools it was sent: OpenAI's flat JSON read back into Tool.
  const tool = answer.tools[0].variant;
  check("response: tools[0] is a function", tool.case, "function");
  if (tool.case !== "function") return;
  check("response: tools[0].function.name", tool.value.name, "get_weather");
  check("response: tools[0].function.strict", tool.value.strict, true);
  check("response: tools[0].function.parameters", tool.value.parameters, WEATHER_PARAMETERS);

  const [, body] = await mock.takeJson("POST", "/v1/responses");
  check("response: upstream body", body, RESPONSE_SENT);
}

async function responseStream(call: Call, mock: Mock) {
  const client = createClient(ResponsesService, transport);
  const events = [];
  for await (const event of client.createResponseStream(responseRequest(), call)) {
    events.push(event.variant);
  }
  check(
    "response stream: events",
    events.map((e) => e.case),
    [
      "responseCreated",
      "responseOutputTextDelta",
      "responseOutputTextDelta",
      "responseOutputTextDelta",
      "responseCompleted",
    ],
  );
  const [created, d0, d1, d2, completed] = events;
  if (created.case !== "responseCreated" || completed.case !== "responseCompleted") return;
  const deltas = [d0, d1, d2].flatMap((e) =>
    e.case === "responseOutputTextDelta" ? [e.value] : [],
  );
  check(
    "response stream: sequence numbers",
    [
      created.value.sequenceNumber,
      ...deltas.map((d) => d.sequenceNumber),
      completed.value.sequenceNumber,
    ],
    [0, 1, 2, 3, 4],
  );
  check("response stream: created.response.status", created.value.response?.status, "in_progress");
  check("response stream: deltas", deltas.map((d) => d.delta), ["tok0", "tok1", "tok2"]);
  const done = completed.value.response;
  check("response stream: completed.response.id", done?.id, created.value.response?.id);
  check("response stream: completed.response.status", done?.status, "completed");
  const output = done?.output[0].variant;
  const content = output?.case === "message" ? output.value.content[0].variant : undefined;
  check(
    "response stream: completed text",
    content?.case === "outputText" ? content.value.text : undefined,
    "tok0tok1tok2",
  );
  check("response stream: completed.response.usage.total_tokens", done?.usage?.totalTokens, 8);

  const [, body] = await mock.takeJson("POST", "/v1/responses");
  check("response stream: upstream body", body, { ...RESPONSE_SENT, stream: true });
}

async function embeddings(call: Call, mock: Mock) {
  const client = createClient(EmbeddingsService, transport);
  const answer = await client.createEmbedding(
    create(CreateEmbeddingRequestSchema, {
      model: "text-embedding-3-small",
      input: create(CreateEmbeddingRequest_InputSchema, {
        variant: { case: "texts", value: create(StringListSchema, { items: ["a", "b"] }) },
      }),
    }),
    call,
  );
  check("embeddings: data", answer.data.length, 2);
  answer.data.forEach((item, i) => {
    check(`embeddings: data[${i}].index`, item.index, i);
    // The mock's values: (k + 1) / 16 - i / 256, exact in binary.
    const want = Array.from({ length: 8 }, (_, k) => (k + 1) / 16 - i / 256);
    check(`embeddings: data[${i}].embedding`, item.embedding, want);
  });
  check("embeddings: usage.total_tokens", answer.usage?.totalTokens, 8);

  const [, body] = await mock.takeJson("POST", "/v1/embeddings");
  check("embeddings: upstream body", body, { model: "text-embedding-3-small", input: ["a", "b"] });
}

const FILE_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

async function upload(call: Call, mock: Mock) {
  const client = createClient(FilesService, transport);
  const answer = await client.createFile(
    create(CreateFileRequestSchema, {
      file: create(FileUploadSchema, {
        data: FILE_BYTES,
        filename: "all-bytes.bin",
        contentType: "application/octet-stream",
      }),
      purpose: "user_data",
    }),
    call,
  );
  check("file: id", answer.id, "file-mock1");
  check("file: bytes", answer.bytes, 256n);
  check("file: filename", answer.filename, "all-bytes.bin");
  check("file: purpose", answer.purpose, "user_data");

  const request = await mock.takeRequest("POST", "/v1/files");
  const prefix = "multipart/form-data; boundary=";
  checkThat(
    "file: upstream content type is multipart/form-data",
    request.contentType.startsWith(prefix),
    request.contentType,
  );
  const boundary = request.contentType.slice(prefix.length);
  const want = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\n` +
        `Content-Disposition: form-data; name="file"; filename="all-bytes.bin"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    ),
    FILE_BYTES,
    Buffer.from(
      `\r\n--${boundary}\r\n` +
        `Content-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n` +
        `--${boundary}--\r\n`,
    ),
  ]);
  checkThat(
    "file: upstream body",
    request.body.equals(want),
    `got ${show(request.body.toString("latin1"))}`,
  );
}

// ---- main ---------------------------------------------------------------------------------

const [address, mockUrl] = process.argv.slice(2);
const key = process.env.OPENAI_API_KEY;
if (!address || !mockUrl || !key) {
  console.error("usage: OPENAI_API_KEY=... node typed_client.js GATEWAY_HOST:PORT MOCK_URL");
  process.exit(2);
}
const transport = createGrpcTransport({ baseUrl: `http://${address}` });
const call: Call = { headers: { authorization: `Bearer ${key}` }, timeoutMs: DEADLINE_MS };
const mock = new Mock(mockUrl, key);
const steps = { chat, chatStream, response, responseStream, embeddings, upload };
for (const [name, step] of Object.entries(steps)) {
  try {
    await step(call, mock);
  } catch (error) {
    if (error instanceof Mismatch) {
      console.log(`FAIL typescript: ${name}: ${error.message}`);
    } else if (error instanceof ConnectError) {
      console.log(`FAIL typescript: ${name}: gRPC ${Code[error.code]}: ${error.rawMessage}`);
    } else {
      console.log(`FAIL typescript: ${name}:`, error);
    }
    process.exit(1);
  }
}
console.log("typescript: all checks passed");
