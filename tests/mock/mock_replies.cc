// The mock's answers. Overrides, from request headers, checked in this order:
//   x-mock-break: before-headers | mid-body | garbage   a broken answer
//   x-mock-status: N (400..999)                         an OpenAI-shaped error N
//   x-mock-delay-ms: N                                  wait before the response headers
//   x-mock-header: name: value (repeatable)             an extra response header
//   x-mock-gzip: 1                                      gzip a JSON body
//   x-mock-sse-events: K, x-mock-sse-interval-ms: M     shape of a "stream": true answer
//   x-mock-bytes: N, x-mock-chunked: 1                  size and framing of file content
// Endpoints: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,
// GET /v1/models[/{id}], POST|GET /v1/files, GET|DELETE /v1/files/{id},
// GET /v1/files/{id}/content. Anything else is echoed as {"object":"mock.echo",...}.

#include "mock_replies.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <limits>

#include "mock_json.h"
#include "mock_text.h"

namespace oa::mock {
namespace {

constexpr std::string_view kCreated = "1700000000";
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

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    unsigned char byte = 0;
    const char* digits = text.data() + pos + 1;
    if (text[pos] == '%' && pos + 2 < text.size() &&
        std::from_chars(digits, digits + 2, byte, 16).ptr == digits + 2) {
      out += static_cast<char>(byte);
      pos += 2;
    } else {
      out += text[pos];
    }
  }
  return out;
}

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

// Base64 of the values as little-endian float32, the SDKs' encoding_format "base64".
std::string FloatArrayBase64(std::span<const float> values) {
  std::string bytes;
  for (float value : values) {
    auto bits = std::bit_cast<uint32_t>(value);
    for (int shift = 0; shift < 32; shift += 8) bytes += static_cast<char>(bits >> shift);
  }
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                               reinterpret_cast<const unsigned char*>(bytes.data()),
                               static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(length));
  return JsonQuote(encoded);
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
  if (how == "before-headers") {
    plan.kind = Plan::Kind::kHangUp;
  } else if (how == "mid-body") {
    plan.kind = Plan::Kind::kTruncated;
    plan.pattern_bytes = kTruncatedPromise;
  } else if (how == "garbage") {
    plan.kind = Plan::Kind::kGarbage;
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
  };
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
                                 FileStore& files) {
  std::string_view path = PathOf(request.target);
  // HEAD is answered like GET; the body is then left out when the plan is written.
  std::string_view method = request.method == "HEAD" ? "GET" : std::string_view(request.method);
  if (method == "POST" && path == "/v1/chat/completions") return ChatPlan(request, body);
  if (method == "POST" && path == "/v1/completions") return CompletionPlan(request, body);
  if (method == "POST" && path == "/v1/embeddings") return EmbeddingsPlan(body);
  if (method == "GET" && path == "/v1/models") return ModelListPlan();
  if (method == "POST" && path == "/v1/files") return UploadPlan(request, body, files);
  if (method == "GET" && path == "/v1/files") return FileListPlan(files);
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

Plan PlanReply(const RecordedRequest& request, const BodySample& body, FileStore& files) {
  std::optional<Plan> plan = OverridePlan(request);
  if (!plan) plan = EndpointPlan(request, body, files);
  if (!plan) plan = EchoPlan(request);
  plan->headers_only = request.method == "HEAD";
  plan->delay = std::chrono::milliseconds(IntHeaderOr(request, "x-mock-delay-ms", 0, 0, 600000));
  AddRequestedHeaders(request, *plan);
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

std::string StreamEvent(const EventStream& stream, int index) {
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
           R"(,"request_id":)", JsonQuote(request.request_id), "}");
  }
  return out + "]";
}

std::string StatsJson(int accepted, int open, int aborted) {
  return Cat(R"({"accepted":)", accepted, R"(,"open":)", open, R"(,"aborted":)", aborted, "}");
}

}  // namespace oa::mock
