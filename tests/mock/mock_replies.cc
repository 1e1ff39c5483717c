// The mock's answers. Overrides, from request headers, checked in this order:
//   x-mock-break: before-headers | reset | garbage      a broken answer: closed or reset
//                 | mid-body | mid-body-chunked          before it, a bad status line, or
//                 | reset-mid-body | stall-mid-body       part of a body, then FIN, RST or
//                 | in-first-chunk-size                  silence; or a chunked head and
//                                                       "1", then FIN
//   x-mock-status: N (400..999)                         an OpenAI-shaped error N
//   x-mock-delay-ms: N                                  wait before the response headers
//   x-mock-header: name: value (repeatable)             an extra response header
//   x-mock-interim: N (100..199, repeatable)            an interim answer N before it
//   x-mock-gzip: 1                                      gzip a JSON body
//   x-mock-sse-events: K, x-mock-sse-interval-ms: M     shape of a "stream": true answer
//   x-mock-sse-error-at: I                              chat/completion stream: event I is
//                                                       OpenAI's {"error":...}, and the last;
//                                                       Responses stream: an `error` event
//   x-mock-sse-reset-at: I                              event I is a TCP reset instead
//   x-mock-bytes: N, x-mock-chunked: 1                  size and framing of file content
// The same x-mock-* headers can be armed for later requests through the control path
// POST /__mock/override?path=P&times=N (see Overrides in mock_replies.h).
// Endpoints: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,
// GET /v1/models[/{id}], POST|GET /v1/files, GET|DELETE /v1/files/{id},
// GET /v1/files/{id}/content, POST /v1/assistants, POST /v1/threads,
// POST /v1/threads/{id}/runs, GET /v1/threads/{id}/runs/{id}, POST /v1/responses,
// POST /v1/realtime/calls/{id}/{accept,hangup,refer,reject} (an empty 200, as OpenAI's).
// Anything else is echoed as {"object":"mock.echo",...}.

#include "mock_replies.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <limits>

#include "mock_json.h"
#include "mock_text.h"

namespace oa::mock {
namespace {

constexpr std::string_view kCreated = "1700000000";
constexpr std::string_view kStarted = "1700000001";
constexpr std::string_view kCompleted = "1700000002";
constexpr std::string_view kRunExpires = "1700000600";
constexpr std::string_view kDefaultAssistantModel = "gpt-4o";
constexpr std::string_view kDefaultChatModel = "gpt-4o-mini";
constexpr std::string_view kDefaultCompletionModel = "gpt-3.5-turbo-instruct";
constexpr std::string_view kDefaultEmbeddingModel = "text-embedding-3-small";
constexpr std::string_view kModelIds[] = {"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"};
constexpr int kEmbeddingDimensions = 8;
constexpr size_t kMaxEmbeddingInputs = 65536;
constexpr uint64_t kTruncatedPromise = 1000000;

// ---- reading the request ----------------------------------------------------------------

std::optional<int64_t> IntHeader(const RecordedRequest& request, std::string_view name) {
  return ParseInt(request.header(name));
}

int64_t IntHeaderOr(const RecordedRequest& request, std::string_view name, int64_t fallback,
                    int64_t low, int64_t high) {
  return std::clamp(IntHeader(request, name).value_or(fallback), low, high);
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The raw value of a top-level member of the JSON request body. Bodies larger than what the
// mock keeps are searched in their tail too.
std::optional<std::string_view> Member(const BodySample& body, std::string_view key) {
  if (std::optional<std::string_view> value = FindMember(body.head, key)) return value;
  if (body.size > body.head.size()) return FindMemberLoosely(body.tail, key);
  return std::nullopt;
}

std::optional<std::string> StringMember(const BodySample& body, std::string_view key) {
  std::optional<std::string_view> raw = Member(body, key);
  return raw ? DecodeString(*raw) : std::nullopt;
}

std::string ModelOf(const BodySample& body, std::string_view fallback) {
  return StringMember(body, "model").value_or(std::string(fallback));
}

bool WantsStream(const BodySample& body) { return Member(body, "stream") == "true"; }

// The members `keys` of the request body that are present and not null, raw.
Members EchoMembers(const BodySample& body, std::initializer_list<std::string_view> keys) {
  Members out;
  for (std::string_view key : keys) {
    std::optional<std::string_view> raw = Member(body, key);
    if (raw && *raw != "null") out.emplace_back(key, *raw);
  }
  return out;
}

// The raw value of `key` in `echoed`, else `fallback`.
std::string_view EchoedOr(const Members& echoed, std::string_view key, std::string_view fallback) {
  for (const auto& [name, value] : echoed) {
    if (name == key) return value;
  }
  return fallback;
}

// Embedding inputs: a string, an array of token numbers (one input) or an array of inputs.
size_t InputCount(const BodySample& body) {
  std::optional<std::string_view> input = Member(body, "input");
  if (!input || input->front() != '[') return 1;
  std::string_view elements = StripWhitespace(input->substr(1));
  if (!elements.empty() &&
      (std::isdigit(static_cast<unsigned char>(elements.front())) || elements.front() == '-')) {
    return 1;
  }
  return std::min(CountElements(*input).value_or(1), kMaxEmbeddingInputs);
}

// ---- multipart uploads ------------------------------------------------------------------

struct Upload {
  std::string filename = "upload";
  std::string purpose = "assistants";
  uint64_t bytes = 0;
};

std::string BoundaryOf(std::string_view content_type) {
  std::string lowered = AsciiLowered(content_type);
  size_t at = lowered.find("boundary=");
  if (at == std::string::npos) return "";
  std::string_view value = content_type.substr(at + 9);
  value = value.substr(0, value.find(';'));
  value = StripWhitespace(value);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

// The quoted parameter `param` of a part's Content-Disposition, e.g. filename="a.jsonl".
std::optional<std::string> DispositionParam(std::string_view part_headers, std::string_view param) {
  std::string needle = Cat("; ", param, "=\"");
  size_t at = part_headers.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view value = part_headers.substr(at + needle.size());
  return std::string(value.substr(0, value.find('"')));
}

// One part of a multipart body: its headers, and where its content lies in the body.
struct Part {
  std::string_view headers;
  uint64_t content_begin = 0;
  uint64_t content_size = 0;
};

// The part that begins `delimiter_size` bytes after the delimiter at `delimiter_at`, and ends
// with the CRLF before the next delimiter, at `next_delimiter_at`.
std::optional<Part> PartBetween(const BodySample& body, uint64_t delimiter_at,
                                uint64_t delimiter_size, uint64_t next_delimiter_at) {
  uint64_t headers_begin = delimiter_at + delimiter_size + 2;
  if (next_delimiter_at < headers_begin + 2) return std::nullopt;
  uint64_t part_end = next_delimiter_at - 2;
  std::string_view window =
      body.Slice(headers_begin, std::min<uint64_t>(part_end - headers_begin, 8192)).value_or("");
  size_t headers_size = window.find("\r\n\r\n");
  if (headers_size == std::string_view::npos) return std::nullopt;
  uint64_t content_begin = headers_begin + headers_size + 4;
  return Part{window.substr(0, headers_size), content_begin, part_end - content_begin};
}

// Reads the parts between consecutive boundary delimiters that the sample shows. The size
// of the file part is exact whenever the delimiters around it fall in the head or the tail.
Upload ParseUpload(const RecordedRequest& request, const BodySample& body) {
  Upload upload{.bytes = body.size};
  std::string boundary = BoundaryOf(request.header("content-type"));
  if (boundary.empty()) return upload;
  std::string delimiter = Cat("--", boundary);
  std::vector<uint64_t> delimiters = body.FindAll(delimiter);
  for (size_t i = 0; i + 1 < delimiters.size(); ++i) {
    std::optional<Part> part =
        PartBetween(body, delimiters[i], delimiter.size(), delimiters[i + 1]);
    if (!part) continue;
    if (std::optional<std::string> filename = DispositionParam(part->headers, "filename")) {
      upload.filename = *filename;
      upload.bytes = part->content_size;
    } else if (DispositionParam(part->headers, "name") == "purpose") {
      std::optional<std::string_view> purpose = body.Slice(part->content_begin, part->content_size);
      if (purpose) upload.purpose = std::string(*purpose);
    }
  }
  return upload;
}

// ---- bodies -----------------------------------------------------------------------------

std::string ModelJson(std::string_view id) {
  return Cat(R"({"id":)", JsonQuote(id), R"(,"object":"model","created":)", kCreated,
             R"(,"owned_by":"openai"})");
}

std::string FileJson(const FileStore::File& file) {
  return Cat(R"({"id":)", JsonQuote(file.id), R"(,"object":"file","bytes":)", file.bytes,
             R"(,"created_at":)", kCreated, R"(,"filename":)", JsonQuote(file.filename),
             R"(,"purpose":)", JsonQuote(file.purpose),
             R"(,"status":"processed","status_details":null})");
}

std::string UsageJson(int prompt_tokens, int completion_tokens) {
  return Cat(R"({"prompt_tokens":)", prompt_tokens, R"(,"completion_tokens":)", completion_tokens,
             R"(,"total_tokens":)", prompt_tokens + completion_tokens, "}");
}

std::string ChatCompletionJson(std::string_view model) {
  return Cat(
      R"({"id":"chatcmpl-mock","object":"chat.completion","created":)", kCreated, R"(,"model":)",
      JsonQuote(model),
      R"(,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from mock"},)",
      R"("logprobs":null,"finish_reason":"stop"}],"usage":)", UsageJson(5, 3), "}");
}

std::string CompletionJson(std::string_view model) {
  return Cat(R"({"id":"cmpl-mock","object":"text_completion","created":)", kCreated, R"(,"model":)",
             JsonQuote(model),
             R"(,"choices":[{"text":"Hello from mock","index":0,"logprobs":null,)",
             R"("finish_reason":"stop"}],"usage":)", UsageJson(5, 3), "}");
}

// One chunk of a stream; an empty token with finish_reason "stop" ends it.
std::string ChunkJson(const EventStream& stream, std::string_view token, bool last) {
  std::string_view finish_reason = last ? R"("stop")" : "null";
  if (stream.api == EventStream::Api::kChat) {
    std::string delta = last ? "{}" : Cat(R"({"content":)", JsonQuote(token), "}");
    return Cat(R"({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":)", kCreated,
               R"(,"model":)", JsonQuote(stream.model), R"(,"choices":[{"index":0,"delta":)", delta,
               R"(,"finish_reason":)", finish_reason, "}]}");
  }
  return Cat(R"({"id":"cmpl-mock","object":"text_completion","created":)", kCreated, R"(,"model":)",
             JsonQuote(stream.model), R"(,"choices":[{"text":)", JsonQuote(token),
             R"(,"index":0,"logprobs":null,"finish_reason":)", finish_reason, "}]}");
}

// Values are binary fractions, so that JSON and base64 renderings decode to equal floats.
std::array<float, kEmbeddingDimensions> EmbeddingValues(size_t index) {
  std::array<float, kEmbeddingDimensions> values;
  for (int i = 0; i < kEmbeddingDimensions; ++i) {
    values[i] = static_cast<float>(i + 1) / 16.0f - static_cast<float>(index % 16) / 256.0f;
  }
  return values;
}

std::string FloatArrayJson(std::span<const float> values) {
  std::string out = "[";
  for (float value : values) {
    if (out.size() > 1) out += ',';
    char digits[32];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  }
  return out + "]";
}

std::string Base64(std::string_view bytes) {
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                               reinterpret_cast<const unsigned char*>(bytes.data()),
                               static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(length));
  return encoded;
}

// Base64 of the values as little-endian float32, the SDKs' encoding_format "base64".
std::string FloatArrayBase64(std::span<const float> values) {
  std::string bytes;
  for (float value : values) {
    auto bits = std::bit_cast<uint32_t>(value);
    for (int shift = 0; shift < 32; shift += 8) bytes += static_cast<char>(bits >> shift);
  }
  return JsonQuote(Base64(bytes));
}

std::string EmbeddingsJson(std::string_view model, size_t inputs, bool base64) {
  std::string data;
  for (size_t index = 0; index < inputs; ++index) {
    std::array<float, kEmbeddingDimensions> values = EmbeddingValues(index);
    Append(data, index ? "," : "", R"({"object":"embedding","index":)", index, R"(,"embedding":)",
           base64 ? FloatArrayBase64(values) : FloatArrayJson(values), "}");
  }
  return Cat(R"({"object":"list","data":[)", data, R"(],"model":)", JsonQuote(model),
             R"(,"usage":{"prompt_tokens":)", inputs * 4, R"(,"total_tokens":)", inputs * 4, "}}");
}

// ---- assistants, threads, runs ----------------------------------------------------------

std::string AssistantJson(std::string_view id, const Members& echoed) {
  return Cat(
      R"({"id":)", JsonQuote(id), R"(,"object":"assistant","created_at":)", kCreated, R"(,"name":)",
      EchoedOr(echoed, "name", "null"), R"(,"description":)",
      EchoedOr(echoed, "description", "null"), R"(,"model":)",
      EchoedOr(echoed, "model", JsonQuote(kDefaultAssistantModel)), R"(,"instructions":)",
      EchoedOr(echoed, "instructions", "null"), R"(,"tools":)", EchoedOr(echoed, "tools", "[]"),
      R"(,"tool_resources":)", EchoedOr(echoed, "tool_resources", "{}"), R"(,"metadata":)",
      EchoedOr(echoed, "metadata", "{}"), R"(,"temperature":)",
      EchoedOr(echoed, "temperature", "1.0"), R"(,"top_p":)", EchoedOr(echoed, "top_p", "1.0"),
      R"(,"response_format":)", EchoedOr(echoed, "response_format", R"("auto")"), "}");
}

std::string ThreadJson(std::string_view id, const Members& echoed) {
  return Cat(R"({"id":)", JsonQuote(id), R"(,"object":"thread","created_at":)", kCreated,
             R"(,"metadata":)", EchoedOr(echoed, "metadata", "{}"), R"(,"tool_resources":)",
             EchoedOr(echoed, "tool_resources", "{}"), "}");
}

// A run in `status`: "queued", "in_progress" or "completed".
std::string RunJson(const ObjectStore::Run& run, std::string_view status) {
  bool started = status != "queued";
  bool completed = status == "completed";
  const Members& echoed = run.echoed;
  return Cat(R"({"id":)", JsonQuote(run.id), R"(,"object":"thread.run","created_at":)", kCreated,
             R"(,"assistant_id":)", JsonQuote(run.assistant_id), R"(,"thread_id":)",
             JsonQuote(run.thread_id), R"(,"status":)", JsonQuote(status), R"(,"started_at":)",
             started ? kStarted : "null", R"(,"expires_at":)", completed ? "null" : kRunExpires,
             R"(,"cancelled_at":null,"failed_at":null,"completed_at":)",
             completed ? kCompleted : "null",
             R"(,"required_action":null,"last_error":null,"model":)", JsonQuote(run.model),
             R"(,"instructions":)", EchoedOr(echoed, "instructions", R"("")"), R"(,"tools":)",
             EchoedOr(echoed, "tools", "[]"), R"(,"metadata":)", EchoedOr(echoed, "metadata", "{}"),
             R"(,"incomplete_details":null,"usage":)", completed ? UsageJson(5, 3) : "null",
             R"(,"temperature":)", EchoedOr(echoed, "temperature", "1.0"), R"(,"top_p":)",
             EchoedOr(echoed, "top_p", "1.0"), R"(,"max_prompt_tokens":)",
             EchoedOr(echoed, "max_prompt_tokens", "null"), R"(,"max_completion_tokens":)",
             EchoedOr(echoed, "max_completion_tokens", "null"), R"(,"truncation_strategy":)",
             EchoedOr(echoed, "truncation_strategy", R"({"type":"auto","last_messages":null})"),
             R"(,"tool_choice":)", EchoedOr(echoed, "tool_choice", R"("auto")"),
             R"(,"parallel_tool_calls":)", EchoedOr(echoed, "parallel_tool_calls", "true"),
             R"(,"response_format":)", EchoedOr(echoed, "response_format", R"("auto")"), "}");
}

std::string MessageIdOf(std::string_view object_id) {
  return Cat("msg_", object_id.substr(object_id.find('_') + 1));
}

std::string MessageDeltaJson(std::string_view run_id, std::string_view token) {
  return Cat(R"({"id":)", JsonQuote(MessageIdOf(run_id)),
             R"(,"object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text",)",
             R"("text":{"value":)", JsonQuote(token), R"(,"annotations":[]}}]}})");
}

// ---- responses --------------------------------------------------------------------------

// A response in `status` ("in_progress" or "completed"); a completed one says `text`.
std::string ResponseJson(std::string_view id, std::string_view model, const Members& echoed,
                         std::string_view status, std::string_view text) {
  bool completed = status == "completed";
  std::string output;
  if (completed) {
    output = Cat(R"([{"type":"message","id":)", JsonQuote(MessageIdOf(id)),
                 R"(,"status":"completed","role":"assistant","content":[{"type":"output_text",)",
                 R"("text":)", JsonQuote(text), R"(,"annotations":[],"logprobs":[]}]}])");
  }
  std::string usage =
      Cat(R"({"input_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,)",
          R"("output_tokens_details":{"reasoning_tokens":0},"total_tokens":8})");
  return Cat(
      R"({"id":)", JsonQuote(id), R"(,"object":"response","created_at":)", kCreated,
      R"(,"status":)", JsonQuote(status), R"(,"completed_at":)", completed ? kCompleted : "null",
      R"(,"error":null,"incomplete_details":null,"instructions":)",
      EchoedOr(echoed, "instructions", "null"), R"(,"max_output_tokens":)",
      EchoedOr(echoed, "max_output_tokens", "null"), R"(,"model":)", JsonQuote(model),
      R"(,"output":)", completed ? std::string_view(output) : "[]", R"(,"parallel_tool_calls":)",
      EchoedOr(echoed, "parallel_tool_calls", "true"), R"(,"previous_response_id":)",
      EchoedOr(echoed, "previous_response_id", "null"),
      R"(,"reasoning":{"effort":null,"summary":null},"store":)", EchoedOr(echoed, "store", "true"),
      R"(,"temperature":)", EchoedOr(echoed, "temperature", "1.0"),
      R"(,"text":{"format":{"type":"text"}},"tool_choice":)",
      EchoedOr(echoed, "tool_choice", R"("auto")"), R"(,"tools":)", EchoedOr(echoed, "tools", "[]"),
      R"(,"top_p":)", EchoedOr(echoed, "top_p", "1.0"), R"(,"truncation":"disabled","usage":)",
      completed ? std::string_view(usage) : "null", R"(,"user":null,"metadata":)",
      EchoedOr(echoed, "metadata", "{}"), "}");
}

// The members of a Responses API request that the response repeats.
Members ResponseEcho(const BodySample& body) {
  return EchoMembers(
      body, {"instructions", "max_output_tokens", "parallel_tool_calls", "previous_response_id",
             "store", "temperature", "tool_choice", "tools", "top_p", "metadata"});
}

std::string SseEvent(std::string_view name, std::string_view data) {
  return Cat("event: ", name, "\ndata: ", data, "\n\n");
}

std::string RunStreamEvent(const EventStream& stream, int index) {
  ObjectStore::Run run{.id = stream.id,
                       .thread_id = stream.thread_id,
                       .assistant_id = stream.assistant_id,
                       .model = stream.model,
                       .echoed = stream.echoed};
  if (index == 0) return SseEvent("thread.run.created", RunJson(run, "queued"));
  if (index == 1) return SseEvent("thread.run.in_progress", RunJson(run, "in_progress"));
  int delta = index - 2;
  if (delta < stream.events)
    return SseEvent("thread.message.delta", MessageDeltaJson(run.id, Cat("tok", delta)));
  if (delta == stream.events) return SseEvent("thread.run.completed", RunJson(run, "completed"));
  return SseEvent("done", "[DONE]");
}

std::string ResponseStreamEvent(const EventStream& stream, int index) {
  if (index == stream.error_at) {
    return SseEvent("error", Cat(R"({"type":"error","code":"server_error",)",
                                 R"("message":"mock stream error","param":null,)",
                                 R"("sequence_number":)", index, "}"));
  }
  if (index == 0) {
    return SseEvent(
        "response.created",
        Cat(R"({"type":"response.created","sequence_number":0,"response":)",
            ResponseJson(stream.id, stream.model, stream.echoed, "in_progress", ""), "}"));
  }
  int delta = index - 1;
  if (delta < stream.events) {
    return SseEvent(
        "response.output_text.delta",
        Cat(R"({"type":"response.output_text.delta","sequence_number":)", index, R"(,"item_id":)",
            JsonQuote(MessageIdOf(stream.id)), R"(,"output_index":0,"content_index":0,"delta":)",
            JsonQuote(Cat("tok", delta)), R"(,"logprobs":[]})"));
  }
  std::string text;
  for (int i = 0; i < stream.events; ++i) Append(text, "tok", i);
  return SseEvent(
      "response.completed",
      Cat(R"({"type":"response.completed","sequence_number":)", index, R"(,"response":)",
          ResponseJson(stream.id, stream.model, stream.echoed, "completed", text), "}"));
}

struct ErrorKind {
  unsigned status;
  std::string_view type;
  std::string_view code;
};

constexpr ErrorKind kErrorKinds[] = {
    {400, "invalid_request_error", "invalid_request"},
    {401, "invalid_request_error", "invalid_api_key"},
    {403, "invalid_request_error", "permission_denied"},
    {404, "invalid_request_error", "not_found"},
    {409, "invalid_request_error", "conflict"},
    {422, "invalid_request_error", "unprocessable_entity"},
    {429, "requests", "rate_limit_exceeded"},
    {500, "server_error", "internal_error"},
    {502, "server_error", "bad_gateway"},
    {503, "server_error", "service_unavailable"},
    {504, "server_error", "timeout"},
};

ErrorKind ErrorKindOf(unsigned status) {
  for (const ErrorKind& kind : kErrorKinds) {
    if (kind.status == status) return kind;
  }
  if (status >= 500) return {status, "server_error", "server_error"};
  return {status, "invalid_request_error", "mock_error"};
}

// ---- plans ------------------------------------------------------------------------------

std::optional<Plan> BreakPlan(std::string_view how) {
  Plan plan;
  plan.pattern_bytes = kTruncatedPromise;
  if (how == "before-headers") {
    plan.kind = Plan::Kind::kHangUp;
  } else if (how == "reset") {
    plan.kind = Plan::Kind::kReset;
  } else if (how == "mid-body") {
    plan.kind = Plan::Kind::kTruncated;
  } else if (how == "mid-body-chunked") {
    plan.kind = Plan::Kind::kTruncated;
    plan.chunked = true;
  } else if (how == "reset-mid-body") {
    plan.kind = Plan::Kind::kTruncated;
    plan.cut = Plan::Cut::kReset;
  } else if (how == "stall-mid-body") {
    plan.kind = Plan::Kind::kTruncated;
    plan.cut = Plan::Cut::kStall;
  } else if (how == "garbage") {
    plan.kind = Plan::Kind::kRaw;
    plan.raw = "HTTP/1.1 abc\r\n\r\n";
  } else if (how == "in-first-chunk-size") {
    // A head and the start of a chunk's size line in one write, then the end.
    plan.kind = Plan::Kind::kRaw;
    plan.raw =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n1";
  } else {
    return std::nullopt;
  }
  return plan;
}

// The answer that x-mock-break or x-mock-status impose, if any.
std::optional<Plan> OverridePlan(const RecordedRequest& request) {
  if (std::optional<Plan> plan = BreakPlan(request.header("x-mock-break"))) return plan;
  std::optional<int64_t> status = IntHeader(request, "x-mock-status");
  if (status && *status >= 400 && *status <= 999) return ErrorPlan(static_cast<unsigned>(*status));
  return std::nullopt;
}

Plan EventStreamPlan(const RecordedRequest& request, EventStream::Api api, std::string model) {
  Plan plan;
  plan.kind = Plan::Kind::kEventStream;
  plan.content_type = "text/event-stream";
  plan.headers = {{"cache-control", "no-cache"}};
  plan.stream = {
      .api = api,
      .model = std::move(model),
      .events = static_cast<int>(IntHeaderOr(request, "x-mock-sse-events", 3, 0, 1000000)),
      .interval =
          std::chrono::milliseconds(IntHeaderOr(request, "x-mock-sse-interval-ms", 0, 0, 600000)),
      .error_at = static_cast<int>(IntHeaderOr(request, "x-mock-sse-error-at", -1, -1, 1000000)),
      .reset_at = static_cast<int>(IntHeaderOr(request, "x-mock-sse-reset-at", -1, -1, 1000000)),
  };
  return plan;
}

Plan AssistantPlan(const BodySample& body, ObjectStore& objects) {
  std::string id = objects.NewId("asst_");
  Members echoed =
      EchoMembers(body, {"name", "description", "model", "instructions", "tools", "tool_resources",
                         "metadata", "temperature", "top_p", "response_format"});
  objects.AddAssistant(id, ModelOf(body, kDefaultAssistantModel));
  return JsonPlan(AssistantJson(id, echoed));
}

Plan ThreadPlan(const BodySample& body, ObjectStore& objects) {
  return JsonPlan(
      ThreadJson(objects.NewId("thread_"), EchoMembers(body, {"metadata", "tool_resources"})));
}

// POST /v1/threads/{thread_id}/runs: a queued run, or the events of its whole life.
Plan CreateRunPlan(const RecordedRequest& request, const BodySample& body, std::string thread_id,
                   ObjectStore& objects) {
  std::string assistant_id = StringMember(body, "assistant_id").value_or("");
  std::string model = StringMember(body, "model").value_or(objects.AssistantModel(assistant_id));
  if (model.empty()) model = kDefaultAssistantModel;
  const ObjectStore::Run& run = objects.AddRun({
      .id = objects.NewId("run_"),
      .thread_id = std::move(thread_id),
      .assistant_id = std::move(assistant_id),
      .model = std::move(model),
      .echoed =
          EchoMembers(body, {"instructions", "tools", "metadata", "temperature", "top_p",
                             "max_prompt_tokens", "max_completion_tokens", "truncation_strategy",
                             "tool_choice", "parallel_tool_calls", "response_format"}),
  });
  if (!WantsStream(body)) return JsonPlan(RunJson(run, "queued"));
  Plan plan = EventStreamPlan(request, EventStream::Api::kRun, run.model);
  plan.stream.id = run.id;
  plan.stream.thread_id = run.thread_id;
  plan.stream.assistant_id = run.assistant_id;
  plan.stream.echoed = run.echoed;
  return plan;
}

// /v1/threads/{thread_id}/runs[/{run_id}]; `rest` is what follows "/v1/threads/". A run the
// mock did not create is not found, as on OpenAI.
std::optional<Plan> RunPlan(const RecordedRequest& request, std::string_view method,
                            std::string_view rest, const BodySample& body, ObjectStore& objects) {
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string thread_id = PercentDecode(rest.substr(0, slash));
  std::string_view after = rest.substr(slash);
  if (thread_id.empty()) return std::nullopt;
  if (method == "POST" && after == "/runs") {
    return CreateRunPlan(request, body, std::move(thread_id), objects);
  }
  constexpr std::string_view kRuns = "/runs/";
  if (method != "GET" || !after.starts_with(kRuns)) return std::nullopt;
  std::string_view run_id = after.substr(kRuns.size());
  if (run_id.empty() || run_id.find('/') != std::string_view::npos) return std::nullopt;
  const ObjectStore::Run* run = objects.FindRun(thread_id, PercentDecode(run_id));
  if (!run) return ErrorPlan(404);
  return JsonPlan(RunJson(*run, "completed"));
}

Plan ResponsePlan(const RecordedRequest& request, const BodySample& body, ObjectStore& objects) {
  std::string id = objects.NewId("resp_");
  std::string model = ModelOf(body, kDefaultChatModel);
  Members echoed = ResponseEcho(body);
  if (!WantsStream(body)) {
    return JsonPlan(ResponseJson(id, model, echoed, "completed", "Hello from mock"));
  }
  Plan plan = EventStreamPlan(request, EventStream::Api::kResponse, std::move(model));
  plan.stream.id = std::move(id);
  plan.stream.echoed = std::move(echoed);
  return plan;
}

Plan ChatPlan(const RecordedRequest& request, const BodySample& body) {
  std::string model = ModelOf(body, kDefaultChatModel);
  if (WantsStream(body)) return EventStreamPlan(request, EventStream::Api::kChat, model);
  return JsonPlan(ChatCompletionJson(model));
}

Plan CompletionPlan(const RecordedRequest& request, const BodySample& body) {
  std::string model = ModelOf(body, kDefaultCompletionModel);
  if (WantsStream(body)) return EventStreamPlan(request, EventStream::Api::kCompletion, model);
  return JsonPlan(CompletionJson(model));
}

Plan EmbeddingsPlan(const BodySample& body) {
  bool base64 = StringMember(body, "encoding_format") == "base64";
  return JsonPlan(EmbeddingsJson(ModelOf(body, kDefaultEmbeddingModel), InputCount(body), base64));
}

Plan ModelListPlan() {
  std::string data;
  for (std::string_view id : kModelIds) Append(data, data.empty() ? "" : ",", ModelJson(id));
  return JsonPlan(Cat(R"({"object":"list","data":[)", data, "]}"));
}

Plan FileListPlan(const FileStore& files) {
  std::string data;
  for (const FileStore::File& file : files.files()) {
    Append(data, data.empty() ? "" : ",", FileJson(file));
  }
  return JsonPlan(Cat(R"({"object":"list","data":[)", data, R"(],"has_more":false})"));
}

Plan FileContentPlan(const RecordedRequest& request) {
  Plan plan;
  plan.kind = Plan::Kind::kPattern;
  plan.content_type = "application/octet-stream";
  plan.pattern_bytes = static_cast<uint64_t>(
      IntHeaderOr(request, "x-mock-bytes", 4096, 0, std::numeric_limits<int64_t>::max()));
  plan.chunked = request.header("x-mock-chunked") == "1";
  return plan;
}

// /v1/files/{id} and /v1/files/{id}/content; `rest` is what follows "/v1/files/".
std::optional<Plan> FilePlan(const RecordedRequest& request, std::string_view method,
                             std::string_view rest, FileStore& files) {
  size_t slash = rest.find('/');
  std::string id = PercentDecode(rest.substr(0, slash));
  if (id.empty()) return std::nullopt;
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/content" || method != "GET") return std::nullopt;
    return FileContentPlan(request);
  }
  if (method == "DELETE") {
    files.Remove(id);
    return JsonPlan(Cat(R"({"id":)", JsonQuote(id), R"(,"object":"file","deleted":true})"));
  }
  if (method != "GET") return std::nullopt;
  const FileStore::File* file = files.Find(id);
  return JsonPlan(FileJson(
      file ? *file
           : FileStore::File{
                 .id = id, .filename = "mock.jsonl", .purpose = "assistants", .bytes = 4096}));
}

Plan UploadPlan(const RecordedRequest& request, const BodySample& body, FileStore& files) {
  Upload upload = ParseUpload(request, body);
  return JsonPlan(
      FileJson(files.Add(std::move(upload.filename), std::move(upload.purpose), upload.bytes)));
}

Plan EchoPlan(const RecordedRequest& request) {
  return JsonPlan(Cat(R"({"object":"mock.echo","method":)", JsonQuote(request.method),
                      R"(,"target":)", JsonQuote(request.target), "}"));
}

std::optional<Plan> EndpointPlan(const RecordedRequest& request, const BodySample& body,
                                 MockState& state) {
  FileStore& files = state.files;
  std::string_view path = PathOf(request.target);
  // HEAD is answered like GET; the body is then left out when the plan is written.
  std::string_view method = request.method == "HEAD" ? "GET" : std::string_view(request.method);
  if (method == "POST" && path == "/v1/chat/completions") return ChatPlan(request, body);
  if (method == "POST" && path == "/v1/completions") return CompletionPlan(request, body);
  if (method == "POST" && path == "/v1/embeddings") return EmbeddingsPlan(body);
  if (method == "GET" && path == "/v1/models") return ModelListPlan();
  if (method == "POST" && path == "/v1/files") return UploadPlan(request, body, files);
  if (method == "GET" && path == "/v1/files") return FileListPlan(files);
  if (method == "POST" && path == "/v1/assistants") return AssistantPlan(body, state.objects);
  if (method == "POST" && path == "/v1/threads") return ThreadPlan(body, state.objects);
  if (method == "POST" && path == "/v1/responses")
    return ResponsePlan(request, body, state.objects);
  constexpr std::string_view kRealtimeCalls = "/v1/realtime/calls/";
  if (method == "POST" && path.starts_with(kRealtimeCalls)) {
    const std::string_view rest = path.substr(kRealtimeCalls.size());
    const size_t slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
    const std::string_view action = rest.substr(slash + 1);
    if (action != "accept" && action != "hangup" && action != "refer" && action != "reject") {
      return std::nullopt;
    }
    Plan plan = JsonPlan("");
    plan.content_type.clear();
    return plan;
  }
  constexpr std::string_view kThreads = "/v1/threads/";
  if (path.starts_with(kThreads)) {
    return RunPlan(request, method, path.substr(kThreads.size()), body, state.objects);
  }
  constexpr std::string_view kModels = "/v1/models/";
  if (method == "GET" && path.starts_with(kModels)) {
    std::string_view id = path.substr(kModels.size());
    if (id.empty() || id.find('/') != std::string_view::npos) return std::nullopt;
    return JsonPlan(ModelJson(PercentDecode(id)));
  }
  constexpr std::string_view kFiles = "/v1/files/";
  if (path.starts_with(kFiles)) {
    return FilePlan(request, method, path.substr(kFiles.size()), files);
  }
  return std::nullopt;
}

bool IsHeaderToken(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Each "x-mock-header: name: value" becomes a response header "name: value".
void AddRequestedHeaders(const RecordedRequest& request, Plan& plan) {
  for (const auto& [name, value] : request.headers) {
    if (!EqualsIgnoreCase(name, "x-mock-header")) continue;
    std::string_view line = value;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view header_name = StripWhitespace(line.substr(0, colon));
    if (!IsHeaderToken(header_name)) continue;
    plan.headers.emplace_back(header_name, StripWhitespace(line.substr(colon + 1)));
  }
}

// Each "x-mock-interim: N" (100..199) becomes an interim answer N before the answer.
void AddInterimAnswers(const RecordedRequest& request, Plan& plan) {
  for (const auto& [name, value] : request.headers) {
    if (!EqualsIgnoreCase(name, "x-mock-interim")) continue;
    unsigned status = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), status);
    if (ec == std::errc() && end == value.data() + value.size() && status >= 100 && status <= 199) {
      plan.interim.push_back(status);
    }
  }
}

std::string Gzip(std::string_view data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return "";
  }
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

void GzipIfAsked(const RecordedRequest& request, Plan& plan) {
  if (request.header("x-mock-gzip") != "1" || plan.kind != Plan::Kind::kBody ||
      plan.content_type != "application/json") {
    return;
  }
  plan.body = Gzip(plan.body);
  plan.headers.emplace_back("content-encoding", "gzip");
}

}  // namespace

// ---- public -----------------------------------------------------------------------------

std::optional<std::string_view> BodySample::Slice(uint64_t offset, uint64_t length) const {
  if (length > size || offset > size - length) return std::nullopt;
  if (offset + length <= head.size()) return head.substr(offset, length);
  uint64_t tail_begin = size - tail.size();
  if (offset >= tail_begin) return tail.substr(offset - tail_begin, length);
  return std::nullopt;
}

std::vector<uint64_t> BodySample::FindAll(std::string_view needle) const {
  std::vector<uint64_t> found;
  for (size_t at = head.find(needle); at != std::string_view::npos;
       at = head.find(needle, at + 1)) {
    found.push_back(at);
  }
  // Occurrences wholly inside the head were found above.
  uint64_t tail_begin = size - tail.size();
  for (size_t at = tail.find(needle); at != std::string_view::npos;
       at = tail.find(needle, at + 1)) {
    if (tail_begin + at + needle.size() > head.size()) found.push_back(tail_begin + at);
  }
  return found;
}

const FileStore::File& FileStore::Add(std::string filename, std::string purpose, uint64_t bytes) {
  return files_.emplace_back(File{.id = Cat("file-mock", next_number_++),
                                  .filename = std::move(filename),
                                  .purpose = std::move(purpose),
                                  .bytes = bytes});
}

const FileStore::File* FileStore::Find(std::string_view id) const {
  auto it = std::find_if(files_.begin(), files_.end(), [&](const File& f) { return f.id == id; });
  return it == files_.end() ? nullptr : &*it;
}

void FileStore::Remove(std::string_view id) {
  std::erase_if(files_, [&](const File& f) { return f.id == id; });
}

std::string ObjectStore::NewId(std::string_view prefix) {
  return Cat(prefix, "mock", next_number_++);
}

void ObjectStore::AddAssistant(std::string id, std::string model) {
  assistant_models_.emplace_back(std::move(id), std::move(model));
}

std::string ObjectStore::AssistantModel(std::string_view id) const {
  for (const auto& [assistant, model] : assistant_models_) {
    if (assistant == id) return model;
  }
  return "";
}

const ObjectStore::Run& ObjectStore::AddRun(Run run) { return runs_.emplace_back(std::move(run)); }

const ObjectStore::Run* ObjectStore::FindRun(std::string_view thread_id,
                                             std::string_view run_id) const {
  auto it = std::find_if(runs_.begin(), runs_.end(), [&](const Run& run) {
    return run.id == run_id && run.thread_id == thread_id;
  });
  return it == runs_.end() ? nullptr : &*it;
}

void ObjectStore::Clear() {
  assistant_models_.clear();
  runs_.clear();
}

bool Overrides::Arm(const RecordedRequest& control) {
  Armed armed;
  std::string_view target = control.target;
  size_t question = target.find('?');
  std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    std::string value =
        equals == std::string_view::npos ? "" : PercentDecode(pair.substr(equals + 1));
    if (key == "path") {
      armed.path = std::move(value);
    } else if (key == "times") {
      std::optional<int64_t> times = ParseInt(value);
      if (!times || *times < 1) return false;
      armed.remaining = *times;
    } else if (!key.empty()) {
      return false;
    }
  }
  for (const auto& [name, value] : control.headers) {
    if (AsciiLowered(name).starts_with("x-mock-")) armed.headers.emplace_back(name, value);
  }
  if (armed.headers.empty()) return false;
  armed_.push_back(std::move(armed));
  return true;
}

RecordedRequest Overrides::Apply(const RecordedRequest& request) {
  std::string_view path = PathOf(request.target);
  auto it = std::find_if(armed_.begin(), armed_.end(), [&](const Armed& armed) {
    return armed.path.empty() || armed.path == path;
  });
  if (it == armed_.end()) return request;
  RecordedRequest applied = request;
  applied.headers.insert(applied.headers.begin(), it->headers.begin(), it->headers.end());
  if (--it->remaining == 0) armed_.erase(it);
  return applied;
}

Plan PlanReply(const RecordedRequest& received, const BodySample& body, MockState& state) {
  RecordedRequest request = state.overrides.Apply(received);
  std::optional<Plan> plan = OverridePlan(request);
  if (!plan) plan = EndpointPlan(request, body, state);
  if (!plan) plan = EchoPlan(request);
  plan->headers_only = request.method == "HEAD";
  plan->delay = std::chrono::milliseconds(IntHeaderOr(request, "x-mock-delay-ms", 0, 0, 600000));
  AddRequestedHeaders(request, *plan);
  AddInterimAnswers(request, *plan);
  GzipIfAsked(request, *plan);
  return std::move(*plan);
}

Plan JsonPlan(std::string body) {
  Plan plan;
  plan.body = std::move(body);
  return plan;
}

Plan ErrorPlan(unsigned status) {
  ErrorKind kind = ErrorKindOf(status);
  Plan plan =
      JsonPlan(Cat(R"({"error":{"message":"mock error )", status, R"(","type":)",
                   JsonQuote(kind.type), R"(,"param":null,"code":)", JsonQuote(kind.code), "}}"));
  plan.status = status;
  if (status == 429) {
    plan.headers = {{"retry-after", "1"},
                    {"x-ratelimit-limit-requests", "60"},
                    {"x-ratelimit-remaining-requests", "0"},
                    {"x-ratelimit-reset-requests", "1s"}};
  }
  return plan;
}

int StreamLength(const EventStream& stream) {
  switch (stream.api) {
    case EventStream::Api::kRun:
      return stream.events + 4;  // created, in_progress, deltas, completed, done
    case EventStream::Api::kResponse:
      if (stream.error_at >= 0) return std::min(stream.error_at + 1, stream.events + 2);
      return stream.events + 2;  // created, deltas, completed
    default:
      if (stream.error_at >= 0) return std::min(stream.error_at + 1, stream.events + 1);
      return stream.events + 1;  // chunks, [DONE]
  }
}

std::string StreamEvent(const EventStream& stream, int index) {
  if (stream.api == EventStream::Api::kRun) return RunStreamEvent(stream, index);
  if (stream.api == EventStream::Api::kResponse) return ResponseStreamEvent(stream, index);
  if (index == stream.error_at) {
    return "data: {\"error\":{\"message\":\"mock stream error\",\"type\":\"server_error\"}}\n\n";
  }
  if (index >= stream.events) return "data: [DONE]\n\n";
  bool last = index == stream.events - 1;
  std::string token = last ? "" : Cat("tok", index);
  return Cat("data: ", ChunkJson(stream, token, last), "\n\n");
}

char PatternByte(uint64_t index) { return static_cast<char>((index * 31 + 7) % 251); }

void FillPattern(uint64_t offset, std::span<char> out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = PatternByte(offset + i);
}

std::string RecordedRequestsJson(const std::vector<RecordedRequest>& requests) {
  std::string out = "[";
  for (const RecordedRequest& request : requests) {
    std::string headers;
    for (const auto& [name, value] : request.headers) {
      Append(headers, headers.empty() ? "" : ",", "[", JsonQuote(name), ",", JsonQuote(value), "]");
    }
    Append(out, out.size() > 1 ? "," : "", R"({"method":)", JsonQuote(request.method),
           R"(,"target":)", JsonQuote(request.target), R"(,"headers":[)", headers,
           R"(],"body_bytes":)", request.body_bytes, R"(,"body_sha256":)",
           JsonQuote(request.body_sha256), R"(,"chunked":)", request.chunked ? "true" : "false",
           R"(,"request_id":)", JsonQuote(request.request_id), R"(,"body_base64":")",
           Base64(request.body_prefix), R"("})");
  }
  return out + "]";
}

std::string StatsJson(int accepted, int open, int aborted, int open_websockets) {
  return Cat(R"({"accepted":)", accepted, R"(,"open":)", open, R"(,"aborted":)", aborted,
             R"(,"open_websockets":)", open_websockets, "}");
}

}  // namespace oa::mock
