// The mock's WebSocket sessions. A request on any path with Upgrade: websocket is recorded
// like any other, then answered by its header or, for browsers, its query parameter:
//   x-mock-ws-refuse: N    mock_ws_refuse=N    answer N (200..999) as plain HTTP, with an
//                                              OpenAI error body, and close; no upgrade
//   x-mock-ws: SCRIPT      mock_ws=SCRIPT      play SCRIPT; by default "realtime" on paths
//                                              under /v1/realtime, "responses" under
//                                              /v1/responses, "echo" elsewhere (an unknown
//                                              name is refused with 400)
//   model=M (query)                            realtime: the session's model
// The mock answers the subprotocol "realtime" when the client offers it (as OpenAI does),
// none otherwise, and permessage-deflate when the client offers it.
// Scripts:
//   echo        every message back as it came: text or binary, the same bytes
//   realtime    session.created on open; response.create -> response.created,
//               response.output_audio.delta, response.done (with usage);
//               input_audio_buffer.append -> nothing (its audio is counted);
//               input_audio_buffer.commit -> input_audio_buffer.committed;
//               session.update -> session.updated; anything else -> an error event
//   responses   response.create -> response.created, three response.output_text.delta
//               ("Hel", "lo", "!"), response.completed (with usage), sequence_number from
//               0 and the client's stream_id in each; anything else -> an error event
// Error events leave the session open. Control messages, obeyed in every script (a text
// message, a JSON object of this type):
//   mock.close {"code":N,"reason":R}       close with N (default 1000) and R
//   mock.vanish                             half of a frame, then the TCP connection closed
//   mock.big {"bytes":N}                    one text message of exactly N bytes (JSON)
//   mock.fragmented {"parts":K}             one text message (JSON) in K frames
//   mock.ping {"payload":P}                 a ping with P; the pong's payload is recorded
//   mock.error_then_close {"code":N}        an error event ("mock_error"), then close with N
//   mock.silent                             nothing, for idle timeouts

#include "mock_websocket.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <optional>
#include <span>
#include <utility>

#include "mock_json.h"
#include "mock_text.h"

namespace oa::mock {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Action = WebSocketAction;

constexpr auto kAwait = net::as_tuple(net::use_awaitable);
constexpr size_t kReadMessageMax = 64 << 20;
constexpr size_t kRecordedPrefix = 4 << 10;
constexpr size_t kJsonPrefix = 200;
constexpr int64_t kBigMessageMax = int64_t{256} << 20;
constexpr int64_t kFragmentsMax = 4096;
// The close frame's reason and a ping's payload must fit in a control frame.
constexpr size_t kCloseReasonMax = 123;
constexpr size_t kPingPayloadMax = 125;
// Tests stop the mock when they are done; the timeouts only keep forgotten sessions from
// living forever.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::minutes(10);
constexpr std::string_view kDefaultRealtimeModel = "gpt-realtime";
constexpr std::string_view kDefaultResponsesModel = "gpt-4o-mini";
constexpr std::string_view kCreated = "1700000000";
// Six bytes of "audio", 0 to 5, as base64.
constexpr std::string_view kAudioDelta = "AAECAwQF";

// ---- reading requests and messages ------------------------------------------------------

// The decoded value of query parameter `name` of `target`, nullopt when it has none.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    size_t equals = pair.find('=');
    if (pair.substr(0, equals) != name) continue;
    return equals == std::string_view::npos ? "" : PercentDecode(pair.substr(equals + 1));
  }
  return std::nullopt;
}

// What header `header` or, without it, query parameter `param` of `request` says.
std::string Choice(const RecordedRequest& request, std::string_view header,
                   std::string_view param) {
  std::string value = request.header(header);
  if (!value.empty()) return value;
  return QueryParam(request.target, param).value_or("");
}

// Calls `each` with every element of the comma-separated lists in the headers `name`.
template <class Each>
void ForEachListed(const RecordedRequest& request, std::string_view name, Each each) {
  for (const auto& [key, value] : request.headers) {
    if (!EqualsIgnoreCase(key, name)) continue;
    std::string_view list = value;
    while (!list.empty()) {
      std::string_view item = list.substr(0, list.find(','));
      list.remove_prefix(std::min(list.size(), item.size() + 1));
      each(StripWhitespace(item));
    }
  }
}

// A server may only answer a subprotocol that the client offered.
std::string ChooseSubprotocol(const RecordedRequest& request) {
  std::string chosen;
  ForEachListed(request, "sec-websocket-protocol", [&](std::string_view offered) {
    if (offered == "realtime") chosen = offered;
  });
  return chosen;
}

std::optional<std::string> StringMember(std::string_view json, std::string_view key) {
  std::optional<std::string_view> raw = FindMember(json, key);
  return raw ? DecodeString(*raw) : std::nullopt;
}

std::optional<int64_t> IntMember(std::string_view json, std::string_view key) {
  std::optional<std::string_view> raw = FindMember(json, key);
  return raw ? ParseInt(*raw) : std::nullopt;
}

// The size that base64 `text` decodes to (whitespace-free, as the SDKs send it).
uint64_t Base64DecodedSize(std::string_view text) {
  uint64_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  uint64_t whole = text.size() / 4 * 3;
  uint64_t rest = text.size() % 4;  // a short final group without its padding
  return whole - (rest == 0 ? padding : 0) + (rest > 1 ? rest - 1 : 0);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned char byte : std::span(digest, size)) {
    hex += HexDigit(byte >> 4);
    hex += HexDigit(byte);
  }
  return hex;
}

// ---- events -----------------------------------------------------------------------------

Action Text(std::string data) { return {.kind = Action::Kind::kText, .data = std::move(data)}; }

// One text message of exactly `bytes` bytes when that is at least the 28 of the JSON
// around its padding.
std::string BigMessage(int64_t bytes) {
  std::string message = R"({"type":"mock.big","data":")";
  constexpr std::string_view kEnd = R"("})";
  bytes = std::clamp<int64_t>(bytes, 0, kBigMessageMax);
  size_t padding = static_cast<size_t>(bytes) -
                   std::min<size_t>(static_cast<size_t>(bytes), message.size() + kEnd.size());
  message.append(padding, 'x');
  message.append(kEnd);
  return message;
}

// A message with at least 16 bytes for each of its `parts` frames.
std::string FragmentedMessage(int64_t parts) {
  return Cat(R"({"type":"mock.fragmented","parts":)", parts, R"(,"data":")",
             std::string(static_cast<size_t>(parts) * 16, 'y'), R"("})");
}

// The raw JSON of the client's member `key`, or null.
std::string RawOrNull(std::string_view message, std::string_view key) {
  return std::string(FindMember(message, key).value_or("null"));
}

std::string RealtimeErrorJson(std::string_view event_id, std::string_view type,
                              std::string_view code, std::string_view text,
                              std::string_view client_event_id) {
  return Cat(R"({"type":"error","event_id":)", JsonQuote(event_id), R"(,"error":{"type":)",
             JsonQuote(type), R"(,"code":)", JsonQuote(code), R"(,"message":)", JsonQuote(text),
             R"(,"param":null,"event_id":)", client_event_id, "}}");
}

std::string RealtimeResponseJson(std::string_view id, std::string_view status, bool usage) {
  return Cat(R"({"id":)", JsonQuote(id), R"(,"object":"realtime.response","status":)",
             JsonQuote(status), R"(,"usage":)",
             usage ? R"({"total_tokens":30,"input_tokens":10,"output_tokens":20,)"
                     R"("input_token_details":{"cached_tokens":4,"text_tokens":6,)"
                     R"("audio_tokens":4},"output_token_details":{"text_tokens":12,)"
                     R"("audio_tokens":8}})"
                   : "null",
             "}");
}

// A Responses API response object; a completed one says "Hello!".
std::string ResponseJson(std::string_view id, std::string_view model, bool completed) {
  std::string output;
  if (completed) {
    output = Cat(R"([{"type":"message","id":)", JsonQuote(Cat("msg_", id)),
                 R"(,"status":"completed","role":"assistant","content":[{"type":"output_text",)",
                 R"("text":"Hello!","annotations":[]}]}])");
  }
  return Cat(R"({"id":)", JsonQuote(id), R"(,"object":"response","created_at":)", kCreated,
             R"(,"status":)", completed ? R"("completed")" : R"("in_progress")", R"(,"model":)",
             JsonQuote(model), R"(,"output":)", completed ? std::string_view(output) : "[]",
             R"(,"usage":)",
             completed ? R"({"input_tokens":5,"input_tokens_details":{"cached_tokens":1},)"
                         R"("output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},)"
                         R"("total_tokens":8})"
                       : "null",
             "}");
}

// The control message `type`, when it is one: what the mock does about it. `next_event_id`
// names an event the mock sends.
std::optional<std::vector<Action>> ControlActions(
    std::string_view type, std::string_view message,
    const std::function<std::string()>& next_event_id) {
  auto close = [](int64_t code, std::string reason) {
    reason.resize(std::min(reason.size(), kCloseReasonMax));
    return Action{.kind = Action::Kind::kClose,
                  .data = std::move(reason),
                  .number = static_cast<int>(std::clamp<int64_t>(code, 0, 65535))};
  };
  if (type == "mock.close") {
    return {{close(IntMember(message, "code").value_or(1000),
                   StringMember(message, "reason").value_or(""))}};
  }
  if (type == "mock.vanish") return {{Action{.kind = Action::Kind::kVanish}}};
  if (type == "mock.big") return {{Text(BigMessage(IntMember(message, "bytes").value_or(0)))}};
  if (type == "mock.fragmented") {
    int64_t parts = std::clamp<int64_t>(IntMember(message, "parts").value_or(2), 1, kFragmentsMax);
    return {{Action{.kind = Action::Kind::kFragmented,
                    .data = FragmentedMessage(parts),
                    .number = static_cast<int>(parts)}}};
  }
  if (type == "mock.ping") {
    std::string payload = StringMember(message, "payload").value_or("");
    payload.resize(std::min(payload.size(), kPingPayloadMax));
    return {{Action{.kind = Action::Kind::kPing, .data = std::move(payload)}}};
  }
  if (type == "mock.error_then_close") {
    return {{Text(RealtimeErrorJson(next_event_id(), "server_error", "mock_error", "mock failure",
                                    RawOrNull(message, "event_id"))),
             close(IntMember(message, "code").value_or(1011), "")}};
  }
  if (type == "mock.silent") return std::vector<Action>{};
  return std::nullopt;
}

}  // namespace

// ---- plans and scripts ------------------------------------------------------------------

bool WantsWebSocket(const RecordedRequest& request) {
  bool wanted = false;
  ForEachListed(request, "upgrade", [&](std::string_view protocol) {
    wanted = wanted || EqualsIgnoreCase(protocol, "websocket");
  });
  return wanted;
}

WebSocketPlan PlanWebSocket(const RecordedRequest& request) {
  WebSocketPlan plan;
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  plan.script = Choice(request, "x-mock-ws", "mock_ws");
  if (plan.script.empty()) {
    plan.script = path.starts_with("/v1/realtime")    ? "realtime"
                  : path.starts_with("/v1/responses") ? "responses"
                                                      : "echo";
  }
  // A misspelt script fails the handshake loudly rather than echoing quietly.
  if (plan.script != "echo" && plan.script != "realtime" && plan.script != "responses") {
    plan.refuse = 400;
  }
  std::optional<int64_t> refuse = ParseInt(Choice(request, "x-mock-ws-refuse", "mock_ws_refuse"));
  if (refuse && *refuse >= 200 && *refuse <= 999) plan.refuse = static_cast<unsigned>(*refuse);
  plan.model = QueryParam(request.target, "model").value_or("");
  if (plan.model.empty()) plan.model = kDefaultRealtimeModel;
  plan.subprotocol = ChooseSubprotocol(request);
  return plan;
}

WebSocketScript::WebSocketScript(std::string name, std::string model)
    : name_(std::move(name)), model_(std::move(model)) {}

std::string WebSocketScript::NextEventId() { return Cat("evt_mock_", ++events_); }

std::string WebSocketScript::NextItemId() { return Cat("item_mock_", ++items_); }

std::string WebSocketScript::SessionJson() const {
  return Cat(R"({"id":"sess_mock_1","object":"realtime.session","model":)", JsonQuote(model_), "}");
}

std::vector<Action> WebSocketScript::Open() {
  if (name_ != "realtime") return {};
  return {Text(Cat(R"({"type":"session.created","event_id":)", JsonQuote(NextEventId()),
                   R"(,"session":)", SessionJson(), "}"))};
}

std::vector<Action> WebSocketScript::Answer(bool text, std::string_view message) {
  std::optional<std::string> type;
  if (text) type = StringMember(message, "type");
  if (type) {
    if (auto actions = ControlActions(*type, message, [this] { return NextEventId(); })) {
      return std::move(*actions);
    }
  }
  if (name_ == "echo") {
    return {
        {.kind = text ? Action::Kind::kText : Action::Kind::kBinary, .data = std::string(message)}};
  }
  if (name_ == "realtime") return Realtime(type.value_or(""), message);
  return Responses(type.value_or(""), message);
}

std::vector<Action> WebSocketScript::Realtime(std::string_view type, std::string_view message) {
  if (type == "response.create") {
    std::string id = Cat("resp_mock_", ++responses_);
    std::string item_id = NextItemId();
    return {
        Text(Cat(R"({"type":"response.created","event_id":)", JsonQuote(NextEventId()),
                 R"(,"response":)", RealtimeResponseJson(id, "in_progress", false), "}")),
        Text(Cat(R"({"type":"response.output_audio.delta","event_id":)", JsonQuote(NextEventId()),
                 R"(,"response_id":)", JsonQuote(id), R"(,"item_id":)", JsonQuote(item_id),
                 R"(,"output_index":0,"content_index":0,"delta":)", JsonQuote(kAudioDelta), "}")),
        Text(Cat(R"({"type":"response.done","event_id":)", JsonQuote(NextEventId()),
                 R"(,"response":)", RealtimeResponseJson(id, "completed", true), "}")),
    };
  }
  if (type == "input_audio_buffer.append") {
    audio_bytes_ += Base64DecodedSize(StringMember(message, "audio").value_or(""));
    return {};
  }
  if (type == "input_audio_buffer.commit") {
    return {
        Text(Cat(R"({"type":"input_audio_buffer.committed","event_id":)", JsonQuote(NextEventId()),
                 R"(,"previous_item_id":null,"item_id":)", JsonQuote(NextItemId()), "}"))};
  }
  if (type == "session.update") {
    return {Text(Cat(R"({"type":"session.updated","event_id":)", JsonQuote(NextEventId()),
                     R"(,"session":)", SessionJson(), "}"))};
  }
  std::string text = type.empty() ? "mock: the message is not a JSON event with a type"
                                  : Cat("mock: unknown event type '", type, "'");
  return {Text(RealtimeErrorJson(NextEventId(), "invalid_request_error", "unknown_event", text,
                                 RawOrNull(message, "event_id")))};
}

std::vector<Action> WebSocketScript::Responses(std::string_view type, std::string_view message) {
  std::optional<std::string_view> stream_id = FindMember(message, "stream_id");
  std::string echoed = stream_id ? Cat(R"(,"stream_id":)", *stream_id) : "";
  if (type != "response.create") {
    std::string text = type.empty() ? "mock: the message is not a JSON event with a type"
                                    : Cat("mock: unknown event type '", type, "'");
    return {Text(Cat(R"({"type":"error","status":400,"error":{"type":"invalid_request_error",)",
                     R"("code":"unknown_event","message":)", JsonQuote(text), R"(,"param":null})",
                     echoed, "}"))};
  }
  // The model may come at the top or inside "response", as the SDKs nest it.
  std::optional<std::string> model = StringMember(message, "model");
  if (!model) {
    model = StringMember(FindMember(message, "response").value_or(""), "model");
  }
  if (!model) model = std::string(kDefaultResponsesModel);
  std::string id = Cat("resp_mock_", ++responses_);
  std::vector<Action> actions = {
      Text(Cat(R"({"type":"response.created","sequence_number":0,"response":)",
               ResponseJson(id, *model, false), echoed, "}"))};
  int sequence = 1;
  for (std::string_view delta : {"Hel", "lo", "!"}) {
    actions.push_back(Text(Cat(R"({"type":"response.output_text.delta","sequence_number":)",
                               sequence++, R"(,"item_id":)", JsonQuote(Cat("msg_", id)),
                               R"(,"output_index":0,"content_index":0,"delta":)", JsonQuote(delta),
                               echoed, "}")));
  }
  actions.push_back(Text(Cat(R"({"type":"response.completed","sequence_number":)", sequence,
                             R"(,"response":)", ResponseJson(id, *model, true), echoed, "}")));
  return actions;
}

// ---- the book ---------------------------------------------------------------------------

uint64_t WebSocketBook::Open(RecordedWebSocket record, std::function<void()> close) {
  std::lock_guard lock(mutex_);
  uint64_t id = next_id_++;
  records_.emplace(id, std::move(record));
  closers_.emplace(id, std::move(close));
  return id;
}

void WebSocketBook::Update(uint64_t id, const std::function<void(RecordedWebSocket&)>& change) {
  std::lock_guard lock(mutex_);
  auto it = records_.find(id);
  if (it != records_.end()) change(it->second);
}

void WebSocketBook::End(uint64_t id, std::string_view ending) {
  std::lock_guard lock(mutex_);
  closers_.erase(id);
  auto it = records_.find(id);
  if (it == records_.end() || it->second.ended) return;
  it->second.ended = true;
  it->second.ending = ending;
}

void WebSocketBook::CloseAll() {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, close] : closers_) closers.push_back(close);
  }
  // Outside the lock: closing records what it sees.
  for (const auto& close : closers) close();
}

std::vector<RecordedWebSocket> WebSocketBook::Snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<RecordedWebSocket> out;
  for (const auto& [id, record] : records_) out.push_back(record);
  return out;
}

void WebSocketBook::Clear() {
  std::lock_guard lock(mutex_);
  records_.clear();
}

int WebSocketBook::open() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(closers_.size());
}

std::string RecordedWebSocketsJson(const std::vector<RecordedWebSocket>& websockets) {
  std::string out = "[";
  for (const RecordedWebSocket& ws : websockets) {
    std::string headers;
    for (const auto& [name, value] : ws.request.headers) {
      Append(headers, headers.empty() ? "" : ",", "[", JsonQuote(name), ",", JsonQuote(value), "]");
    }
    std::string messages;
    for (const RecordedWebSocketMessage& message : ws.messages) {
      Append(messages, messages.empty() ? "" : ",", R"({"text":)", message.text ? "true" : "false",
             R"(,"bytes":)", message.bytes, R"(,"sha256":)", JsonQuote(message.sha256),
             R"(,"prefix":)", JsonQuote(std::string_view(message.prefix).substr(0, kJsonPrefix)),
             "}");
    }
    std::string pongs;
    for (const std::string& pong : ws.pongs) {
      Append(pongs, pongs.empty() ? "" : ",", JsonQuote(pong));
    }
    Append(out, out.size() > 1 ? "," : "", R"({"target":)", JsonQuote(ws.target), R"(,"method":)",
           JsonQuote(ws.request.method), R"(,"request_id":)", JsonQuote(ws.request.request_id),
           R"(,"headers":[)", headers, R"(],"script":)", JsonQuote(ws.script), R"(,"subprotocol":)",
           JsonQuote(ws.subprotocol), R"(,"deflate":)", ws.deflate ? "true" : "false",
           R"(,"messages":[)", messages, R"(],"audio_bytes":)", ws.audio_bytes, R"(,"pongs":[)",
           pongs, R"(],"close_code":)", std::to_string(ws.close_code), R"(,"close_reason":)",
           JsonQuote(ws.close_reason), R"(,"ended":)", ws.ended ? "true" : "false", R"(,"ending":)",
           JsonQuote(ws.ending), "}");
  }
  return out + "]";
}

// ---- sessions ---------------------------------------------------------------------------

namespace {

// A session's place in the book while it is open. One destroyed before it finished (the
// mock stopped with the session still open) ended by the server's hand.
class BookEntry {
 public:
  BookEntry(WebSocketBook& book, RecordedWebSocket record, std::function<void()> close)
      : book_(book), id_(book.Open(std::move(record), std::move(close))) {}
  BookEntry(const BookEntry&) = delete;
  BookEntry& operator=(const BookEntry&) = delete;
  ~BookEntry() { book_.End(id_, "server_close"); }

  uint64_t id() const { return id_; }
  void End(std::string_view ending) { book_.End(id_, ending); }

 private:
  WebSocketBook& book_;
  uint64_t id_;
};

// One WebSocket session on a connection that mock_openai.cc owns: `Stream` is
// beast::tcp_stream or ssl::stream<beast::tcp_stream>. Reads and answers one message at a
// time; a ping's pong and the client's close frame arrive while it reads.
// Note: GCC 12 miscompiles co_await in an operand of ?:, && or ||, and inside a switch's
// cases, hence plain ifs.
template <class Stream>
class Session {
 public:
  Session(Stream& stream, WebSocketPlan plan, RecordedRequest request, WebSocketBook& book)
      : ws_(stream),
        close_done_(ws_.get_executor(), net::steady_timer::time_point::max()),
        plan_(std::move(plan)),
        request_(std::move(request)),
        book_(book),
        script_(plan_.script, plan_.model) {}

  net::awaitable<void> Run(const UpgradeRequest& upgrade) {
    Configure();
    // The client waits for the 101 before it sends frames (RFC 6455, 4.1), so no bytes
    // read past the request are lost here.
    auto [ec] = co_await ws_.async_accept(upgrade, kAwait);
    if (ec) co_return;  // Beast answered the malformed upgrade with 400
    BookEntry entry(book_, Record(), [this] { RequestClose(); });
    id_ = entry.id();
    std::string ending = co_await Converse();
    entry.End(ending);
  }

 private:
  void Configure() {
    websocket::permessage_deflate deflate;
    deflate.server_enable = true;
    ws_.set_option(deflate);
    ws_.read_message_max(kReadMessageMax);
    ws_.auto_fragment(false);
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = kHandshakeTimeout;
    timeout.idle_timeout = kIdleTimeout;
    // No pings of its own: a test of idle timeouts (mock.silent) wants a silent peer.
    timeout.keep_alive_pings = false;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [this](websocket::response_type& response) { Decorate(response); }));
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind != websocket::frame_type::pong) return;
      book_.Update(id_, [&](RecordedWebSocket& record) { record.pongs.emplace_back(payload); });
    });
  }

  // Runs after Beast negotiated permessage-deflate into `response`, so it sees the outcome.
  void Decorate(websocket::response_type& response) {
    if (response.result() != http::status::switching_protocols) return;
    if (!plan_.subprotocol.empty()) {
      response.set(http::field::sec_websocket_protocol, plan_.subprotocol);
    }
    response.set("x-request-id", request_.request_id);
    deflate_ =
        AsciiLowered(response[http::field::sec_websocket_extensions]).find("permessage-deflate") !=
        std::string::npos;
  }

  RecordedWebSocket Record() const {
    RecordedWebSocket record;
    record.request = request_;
    record.target = request_.target;
    record.script = plan_.script;
    record.subprotocol = plan_.subprotocol;
    record.deflate = deflate_;
    return record;
  }

  // Plays the script until the session ends; returns how it ended.
  net::awaitable<std::string> Converse() {
    if (!co_await Perform(script_.Open())) co_return ending_;
    for (;;) {
      if (stop_requested_) {
        const std::string reason = "mock stopping";
        co_await Close(websocket::close_code::going_away, reason);
        co_return ending_;
      }
      beast::flat_buffer buffer;
      auto [ec, bytes] = co_await ws_.async_read(buffer, kAwait);
      if (ec) {
        // The close that Stop() started takes the client's close frame, and ends the read
        // (as aborted) before it ends itself.
        if (stop_close_pending_) co_await close_done_.async_wait(kAwait);
        co_return Ended(ec);
      }
      std::string_view message(static_cast<const char*>(buffer.data().data()), buffer.size());
      const bool text = ws_.got_text();
      // After the mock's close frame, messages are recorded but no longer answered.
      std::vector<Action> answer;
      if (!closing_) answer = script_.Answer(text, message);
      Note(text, message);  // with the audio it brought, if any
      if (closing_) continue;
      if (!co_await Perform(std::move(answer))) co_return ending_;
    }
  }

  // Sends `actions` in order; false when the session is over.
  net::awaitable<bool> Perform(std::vector<Action> actions) {
    writing_ = true;
    bool open = true;
    for (const Action& action : actions) {
      open = co_await Send(action);
      if (!open) break;
    }
    writing_ = false;
    co_return open;
  }

  net::awaitable<bool> Send(const Action& action) {
    if (action.kind == Action::Kind::kClose) {
      co_return co_await Close(static_cast<uint16_t>(action.number), action.data);
    }
    if (action.kind == Action::Kind::kVanish) co_return co_await Vanish();
    if (action.kind == Action::Kind::kFragmented) {
      co_return co_await SendFragmented(action.data, static_cast<size_t>(action.number));
    }
    if (action.kind == Action::Kind::kPing) {
      auto [ec] = co_await ws_.async_ping(websocket::ping_data(action.data), kAwait);
      co_return Sent(ec);
    }
    ws_.text(action.kind == Action::Kind::kText);
    auto [ec, bytes] = co_await ws_.async_write(net::buffer(action.data), kAwait);
    co_return Sent(ec);
  }

  // One text message, in `parts` frames of about equal size.
  net::awaitable<bool> SendFragmented(std::string_view message, size_t parts) {
    ws_.text(true);
    const size_t piece = message.size() / parts;
    for (size_t part = 0; part < parts; ++part) {
      const bool last = part + 1 == parts;
      const std::string_view frame =
          message.substr(part * piece, last ? std::string_view::npos : piece);
      auto [ec, bytes] = co_await ws_.async_write_some(last, net::buffer(frame), kAwait);
      if (!Sent(ec)) co_return false;
    }
    co_return true;
  }

  bool Sent(beast::error_code ec) {
    if (ec) ending_ = closing_ ? "server_close" : "tcp_gone";
    return !ec;
  }

  // Beast's close reads up to the client's close frame, skipping messages, and then
  // closes the connection.
  net::awaitable<bool> Close(uint16_t code, const std::string& reason) {
    closing_ = true;
    ending_ = "server_close";
    const websocket::close_reason frame(static_cast<websocket::close_code>(code), reason);
    auto [ec] = co_await ws_.async_close(frame, kAwait);
    if (!ec) NoteClose();
    co_return false;
  }

  // For Stop(): the session closes with 1001 now if it waits for the client, else once
  // it has sent what it is sending (a second write may not start meanwhile).
  void RequestClose() {
    if (closing_) return;
    if (writing_) {
      stop_requested_ = true;
      return;
    }
    closing_ = true;
    stop_close_pending_ = true;
    // The session waits for this to finish (see Converse), so `this` outlives it.
    ws_.async_close(websocket::close_reason(websocket::close_code::going_away, "mock stopping"),
                    [this](beast::error_code ec) {
                      stop_close_pending_ = false;
                      if (!ec) NoteClose();
                      close_done_.cancel();
                    });
  }

  // A text frame header (final, unmasked) that announces 1000 bytes, and 10 of them: the
  // client is left inside a frame when the connection goes.
  net::awaitable<bool> Vanish() {
    static constexpr char kFrameStart[] = {'\x81', 126, '\x03', '\xe8'};
    std::string frame(kFrameStart, sizeof kFrameStart);
    frame.append(10, 'x');
    co_await net::async_write(ws_.next_layer(), net::buffer(frame), kAwait);
    beast::error_code ignored;
    tcp::socket& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    ending_ = "vanished";
    co_return false;
  }

  std::string Ended(beast::error_code ec) {
    if (ec == websocket::error::closed) {
      NoteClose();
      return closing_ ? "server_close" : "client_close";
    }
    return closing_ ? "server_close" : "tcp_gone";
  }

  void NoteClose() {
    const websocket::close_reason& reason = ws_.reason();
    // A close frame without a code reads as 1005, "no status received" (RFC 6455, 7.4.1).
    int code = reason.code == websocket::close_code::none ? 1005 : reason.code;
    std::string text(reason.reason.data(), reason.reason.size());
    book_.Update(id_, [&](RecordedWebSocket& record) {
      record.close_code = code;
      record.close_reason = text;
    });
  }

  void Note(bool text, std::string_view message) {
    RecordedWebSocketMessage recorded{.text = text,
                                      .bytes = message.size(),
                                      .sha256 = Sha256Hex(message),
                                      .prefix = std::string(message.substr(0, kRecordedPrefix))};
    const uint64_t audio_bytes = script_.audio_bytes();
    book_.Update(id_, [&](RecordedWebSocket& record) {
      record.messages.push_back(std::move(recorded));
      record.audio_bytes = audio_bytes;
    });
  }

  websocket::stream<Stream&> ws_;
  net::steady_timer close_done_;  // cancelled when the close that Stop() started ends
  WebSocketPlan plan_;
  RecordedRequest request_;
  WebSocketBook& book_;
  WebSocketScript script_;
  uint64_t id_ = 0;
  bool deflate_ = false;
  bool writing_ = false;             // Perform() is under way
  bool closing_ = false;             // the mock sent, or is sending, its close frame
  bool stop_requested_ = false;      // Stop() asked while the session was writing
  bool stop_close_pending_ = false;  // RequestClose() started a close, not finished yet
  std::string ending_;               // how the session ended, when Perform() says it did
};

template <class Stream>
net::awaitable<void> Serve(Stream& stream, const UpgradeRequest& upgrade, WebSocketPlan plan,
                           RecordedRequest request, WebSocketBook& book) {
  try {
    Session<Stream> session(stream, std::move(plan), std::move(request), book);
    co_await session.Run(upgrade);
  } catch (const std::exception&) {
    // A session must not take the server down.
  }
}

}  // namespace

net::awaitable<void> ServeWebSocket(beast::tcp_stream& stream, const UpgradeRequest& upgrade,
                                    WebSocketPlan plan, RecordedRequest request,
                                    WebSocketBook& book) {
  return Serve(stream, upgrade, std::move(plan), std::move(request), book);
}

net::awaitable<void> ServeWebSocket(ssl::stream<beast::tcp_stream>& stream,
                                    const UpgradeRequest& upgrade, WebSocketPlan plan,
                                    RecordedRequest request, WebSocketBook& book) {
  return Serve(stream, upgrade, std::move(plan), std::move(request), book);
}

}  // namespace oa::mock
