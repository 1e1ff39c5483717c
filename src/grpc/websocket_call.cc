#include "grpc/websocket_call.h"

#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>

#include "base/strings.h"
#include "grpc/downstream.h"
#include "net/notification.h"
#include "net/watchdog.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "transcode/json_reader.h"
#include "transcode/json_shape.h"
#include "transcode/json_writer.h"
#include "transcode/status_map.h"

namespace oa::grpc_front {

namespace asio = net::asio;
namespace bhttp = boost::beast::http;
namespace ws = net::ws;
using namespace asio::experimental::awaitable_operators;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using net::kNoThrow;

// Note on style: GCC 12 miscompiles a co_await inside a condition (`if (!co_await f())`,
// `a && co_await f()`): results are named locals here, never awaited in the condition.

namespace {

// Bytes asked of the upstream's connection at a time.
constexpr size_t kReadBytes = size_t{64} * 1024;
// What of a refused upgrade's answer is kept for the status (OpenAI's errors are small).
constexpr size_t kMaxErrorBody = size_t{64} * 1024;
// How long the upstream has to answer the gateway's Close, and a cancelled call's Close
// to go out, before the connection is closed regardless.
constexpr absl::Duration kCloseWait = absl::Seconds(5);
constexpr absl::Duration kCancelWait = absl::Seconds(1);
constexpr absl::Duration kNow = absl::ZeroDuration();  // no wait: the connection closes

// Whether `event`, the wire form of a server event of type `type` read from JSON, is
// OpenAI's error event ("type": "error"), kept to explain a close that follows it: its
// union's error variant is set.
bool IsErrorEvent(const google::protobuf::Descriptor& type, std::string_view event) {
  const transcode::JsonShape& shape = transcode::ShapeOf(type);
  if (shape.form != transcode::JsonShape::Form::kTaggedUnion) return false;
  const FieldDescriptor* error = shape.VariantForTag("error");
  if (error == nullptr) return false;
  google::protobuf::UnknownFieldSet fields;  // the top level's fields, read as numbers
  if (!fields.ParseFromArray(event.data(), static_cast<int>(event.size()))) return false;
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == error->number()) return true;
  }
  return false;
}

}  // namespace

// While the upgrade is awaited: a cancelled call ends it (upstream::Downstream's watch).
struct CancelWatch {
  explicit CancelWatch(const asio::any_io_executor& executor) : stop(executor), done(executor) {}
  std::function<void()> on_gone;  // empty once stopped
  net::Notification stop;
  net::Notification done;
};

// One session, once the upstream switched protocols. Lives in Switched()'s frame.
struct WebSocketCall::Session {
  Session(upstream::Connection& c, absl::Duration idle_after)
      : conn(c),
        idle_timeout(idle_after),
        idle(c.stream.get_executor(),
             [this] {
               idle_expired = !closing;
               conn.stream.Close();
             }),
        over(c.stream.get_executor(), /*sticky=*/true),
        write_free(c.stream.get_executor()) {}

  upstream::Connection& conn;
  absl::Duration idle_timeout;
  net::Watchdog idle;            // closes the connection: the idle timeout, or a close's wait
  net::Notification over;        // Downward() is done: so is the session
  net::Notification write_free;  // a frame's write ended
  bool writing = false;          // a frame's write is under way
  bool closing = false;          // the gateway sent its Close: waits are short now
  bool idle_expired = false;     // no frame went either way for the idle timeout
};

WebSocketCall::WebSocketCall(CallState& state, transcode::HttpCall first)
    : state_(state), first_(std::move(first)), key_(ws::NewHandshakeKey()) {}

WebSocketCall::~WebSocketCall() {
  if (watch_) watch_->on_gone = nullptr;
}

upstream::RequestStart WebSocketCall::PrepareRequest(upstream::WireHead& head) {
  head.RequestLine("GET", state_.worker.pool.url().TargetFor(first_.target));
  head.Add(bhttp::field::authorization, state_.authorization);
  head.Add(bhttp::field::user_agent, "oa-bypass (gRPC front)");
  for (const auto& [name, value] : state_.forwarded) head.Add(name, value);
  head.Add(bhttp::field::sec_websocket_key, key_);
  head.Add(bhttp::field::sec_websocket_version, "13");
  upstream::RequestStart start;
  start.upgrade = "websocket";
  return start;
}

asio::awaitable<bool> WebSocketCall::WriteHead(const upstream::ResponseStart& start) {
  http_status_ = static_cast<int>(start.head.status());
  co_return true;
}

asio::awaitable<bool> WebSocketCall::WriteBody(const char* data, size_t size, bool /*more*/) {
  error_body_.append(data,
                     std::min(size, kMaxErrorBody - std::min(kMaxErrorBody, error_body_.size())));
  co_return true;
}

namespace {
asio::awaitable<void> WatchForCancel(std::shared_ptr<CancelWatch> watch,
                                     net::Notification& cancelled) {
  auto result = co_await (cancelled.Wait() || watch->stop.Wait());
  if (result.index() == 0 && watch->on_gone) std::exchange(watch->on_gone, nullptr)();
  watch->done.Notify();
}
}  // namespace

void WebSocketCall::StartWatching(std::function<void()> on_gone) {
  watch_ = std::make_shared<CancelWatch>(state_.worker.executor);
  watch_->on_gone = std::move(on_gone);
  asio::co_spawn(state_.worker.executor, WatchForCancel(watch_, state_.cancelled), asio::detached);
}

asio::awaitable<void> WebSocketCall::StopWatching() {
  const std::shared_ptr<CancelWatch> watch = std::move(watch_);
  watch->on_gone = nullptr;
  watch->stop.Notify();
  co_await watch->done.Wait();
}

asio::awaitable<void> WebSocketCall::Switched(const upstream::ResponseStart& start,
                                              std::unique_ptr<upstream::Connection>& upstream) {
  http_status_ = static_cast<int>(start.head.status());
  if (start.head.Value(bhttp::field::sec_websocket_accept) != ws::HandshakeAccept(key_)) {
    status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the upstream's WebSocket handshake is not valid (its "
                           "Sec-WebSocket-Accept does not answer the gateway's key)");
    co_return;
  }
  switched_ = true;
  AddAnswerMetadata(*state_.transport, start.head);
  const observe::GaugeHold open(observe::metrics().open_websockets(observe::Front::kGrpc));
  Session session(*upstream, state_.context.settings.websocket_idle_timeout);
  session.idle.Expire(session.idle_timeout);
  if (!first_.body.empty()) {
    ++tally_.frames_in;
    const bool sent = co_await WriteFrame(session, ws::Opcode::kText, first_.body);
    if (!sent) co_return;
    std::string().swap(first_.body);
  }
  // (Nested operators in one co_await line make a temporary that GCC 12 destroys twice.)
  co_await (BothWays(session) || WatchCancel(session));
  session.idle.Clear();
  idle_expired_ = session.idle_expired;
}

asio::awaitable<void> WebSocketCall::BothWays(Session& session) {
  co_await (Upward(session) && Downward(session));
}

asio::awaitable<void> WebSocketCall::Upward(Session& session) {
  const google::protobuf::Descriptor& input = *state_.route.method->input_type();
  const FieldDescriptor* body = input.FindFieldByName(state_.route.body);
  for (;;) {
    state_.transport->StartRead();
    auto got = co_await (state_.read_done.Wait() || session.over.Wait());
    if (got.index() == 1 || !std::get<0>(got)) co_return;  // the session is over
    if (!state_.read_ok) {
      // A read fails when the client half-closes, and when the call is cancelled or its
      // deadline passes (which may come before the news of the cancellation does).
      if (state_.transport->IsCancelled()) {
        SetStatus(Gone(*state_.transport));
        co_await End(session, ws::kCloseGoingAway, "the gateway's caller went away", kCancelWait,
                     "client");
        co_return;
      }
      // The client is done: so is the session, once the upstream agrees.
      co_await End(session, ws::kCloseNormal, "", kCloseWait, "client");
      co_return;
    }
    std::unique_ptr<Message> message(state_.context.messages.GetPrototype(&input)->New());
    absl::Status read = state_.transport->TakeRequest(*message, state_.context.max_message_bytes);
    std::vector<const FieldDescriptor*> set;
    message->GetReflection()->ListFields(*message, &set);
    if (read.ok() &&
        std::any_of(set.begin(), set.end(), [&](const FieldDescriptor* f) { return f != body; })) {
      read = absl::InvalidArgumentError(StrCat(
          "only the first message of ", state_.route.rpc, " sets fields other than '",
          state_.route.body, "': they open the session; later messages carry one event each"));
    }
    if (!read.ok()) {
      SetStatus(ToGrpc(read));
      co_await End(session, ws::kCloseGoingAway, "the gateway's caller sent an invalid message",
                   kNow, "client");
      co_return;
    }
    if (body == nullptr || set.empty()) continue;  // nothing to send
    std::string json;
    transcode::AppendFieldJson(*message, *body, -1, json);
    ++tally_.frames_in;
    const bool sent = co_await WriteFrame(session, ws::Opcode::kText, json);
    if (!sent) co_return;
  }
}

asio::awaitable<void> WebSocketCall::Downward(Session& session) {
  const google::protobuf::Descriptor& output = *state_.route.method->output_type();
  std::string text;
  bool is_text = false;
  for (;;) {
    const bool read_one = co_await ReadMessage(session, text, is_text);
    if (!read_one) break;
    if (!is_text) {
      OA_LOG(kDebug,
             "%s: a binary message from the upstream (%d bytes) has no message type; "
             "dropped",
             state_.route.rpc, text.size());
      continue;
    }
    std::string bytes;
    const transcode::JsonReadResult read = transcode::ReadJsonWire(text, output, bytes);
    if (!read.status.ok()) {
      SetStatus(grpc::Status(
          grpc::StatusCode::INTERNAL,
          StrCat("the upstream sent an event that is not a JSON object: ", read.status.message())));
      co_await End(session, ws::kCloseProtocolError, "an event that is not JSON", kNow, "gateway");
      break;
    }
    if (IsErrorEvent(output, bytes)) last_error_event_ = text;
    if (state_.transport->StartWrite(std::move(bytes))) continue;
    const bool written = co_await state_.write_done.Wait();
    if (!written) break;  // cancelled: WatchCancel ends the call
    if (!state_.write_ok) {
      SetStatus(Gone(*state_.transport));
      co_await End(session, ws::kCloseGoingAway, "the gateway's caller went away", kNow, "client");
      break;
    }
  }
  session.over.Notify();
}

asio::awaitable<void> WebSocketCall::WatchCancel(Session& session) {
  const bool cancelled = co_await state_.cancelled.Wait();
  if (!cancelled) co_return;  // the session ended first
  SetStatus(Gone(*state_.transport));
  co_await End(session, ws::kCloseGoingAway, "the gateway's caller went away", kCancelWait,
               "client");
  // Downward() reads the upstream's answering Close, or the wait ends the connection.
  co_await session.over.Wait();
}

asio::awaitable<bool> WebSocketCall::ReadMessage(Session& session, std::string& message,
                                                 bool& text) {
  upstream::Connection& conn = session.conn;
  // Reads more from the upstream; false when it is gone.
  const auto fill = [&]() -> asio::awaitable<bool> {
    auto [ec, n] = co_await conn.stream.async_read_some(conn.buffer.prepare(kReadBytes), kNoThrow);
    if (ec) {
      if (tally_.closed_by == "-") tally_.closed_by = "upstream";  // it left without a Close
      co_return false;
    }
    conn.buffer.commit(n);
    tally_.bytes_out += n;
    if (!session.closing) session.idle.Expire(session.idle_timeout);
    co_return true;
  };
  // The upstream broke the protocol: the session ends, and the call with `code`.
  const auto broken = [&](grpc::StatusCode code, std::string_view why) {
    SetStatus(grpc::Status(code, StrCat("the upstream ", why)));
  };
  message.clear();
  bool started = false;
  for (;;) {
    ws::FrameHeader header;
    for (;;) {
      const auto held = conn.buffer.cdata();
      const ws::HeaderParse parsed = ws::ParseFrameHeader(
          std::string_view(static_cast<const char*>(held.data()), held.size()), header);
      if (parsed == ws::HeaderParse::kFrame) break;
      if (parsed == ws::HeaderParse::kInvalid) {
        broken(grpc::StatusCode::INTERNAL, "sent bytes that are not a WebSocket frame");
        co_await End(session, ws::kCloseProtocolError, "", kNow, "gateway");
        co_return false;
      }
      const bool more = co_await fill();
      if (!more) co_return false;
    }
    conn.buffer.consume(header.header_bytes);
    ++tally_.frames_out;
    const bool control = header.control();
    if (header.rsv != 0) {  // the gateway asked for no extension
      broken(grpc::StatusCode::INTERNAL,
             "sent a frame with RSV bits set, which no extension agreed on allows");
      co_await End(session, ws::kCloseProtocolError, "", kNow, "gateway");
      co_return false;
    }
    if (!control && message.size() + header.payload_bytes > kMaxUpstreamMessageBytes) {
      broken(grpc::StatusCode::RESOURCE_EXHAUSTED,
             StrCat("sent a message larger than ", kMaxUpstreamMessageBytes, " bytes"));
      co_await End(session, ws::kCloseTooBig, "", kNow, "gateway");
      co_return false;
    }
    std::string control_payload;
    std::string& into = control ? control_payload : message;
    const size_t base = into.size();
    for (uint64_t left = header.payload_bytes; left > 0;) {
      if (conn.buffer.size() == 0) {
        const bool more = co_await fill();
        if (!more) co_return false;
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(left, conn.buffer.size()));
      into.append(static_cast<const char*>(conn.buffer.cdata().data()), take);
      conn.buffer.consume(take);
      left -= take;
    }
    if (header.masked) ws::ApplyMask(into.data() + base, into.size() - base, header.mask);
    switch (static_cast<ws::Opcode>(header.opcode)) {
      case ws::Opcode::kPing: {
        ++tally_.frames_in;
        const bool sent = co_await WriteFrame(session, ws::Opcode::kPong, control_payload);
        if (!sent) co_return false;
        continue;
      }
      case ws::Opcode::kPong:
        continue;
      case ws::Opcode::kClose: {
        const std::optional<uint16_t> code = ws::CloseCode(control_payload);
        upstream_close_ = code.value_or(1005);  // 1005: a Close without a code
        if (control_payload.size() > 2) upstream_close_reason_ = control_payload.substr(2);
        if (tally_.closed_by == "-") {
          tally_.closed_by = "upstream";
          tally_.close_code = code;
        }
        // The Close is answered with its own code (RFC 6455, 5.5.1).
        co_await End(session, code.value_or(ws::kCloseNormal), "", kNow, "upstream");
        co_return false;
      }
      case ws::Opcode::kText:
      case ws::Opcode::kBinary:
        if (started) {
          broken(grpc::StatusCode::INTERNAL, "began a message inside a fragmented one");
          co_await End(session, ws::kCloseProtocolError, "", kNow, "gateway");
          co_return false;
        }
        started = true;
        text = header.opcode == static_cast<uint8_t>(ws::Opcode::kText);
        break;
      case ws::Opcode::kContinuation:
        if (!started) {
          broken(grpc::StatusCode::INTERNAL, "continued a message it had not begun");
          co_await End(session, ws::kCloseProtocolError, "", kNow, "gateway");
          co_return false;
        }
        break;
      default:
        broken(grpc::StatusCode::INTERNAL,
               StrCat("sent a frame of unknown opcode ", header.opcode));
        co_await End(session, ws::kCloseProtocolError, "", kNow, "gateway");
        co_return false;
    }
    if (header.fin) co_return true;
  }
}

asio::awaitable<bool> WebSocketCall::WriteFrame(Session& session, ws::Opcode opcode,
                                                std::string_view payload) {
  while (session.writing) {
    const bool free = co_await session.write_free.Wait();
    if (!free) co_return false;  // cancelled
  }
  session.writing = true;
  const std::string frame = ws::EncodeFrame(opcode, true, payload, ws::RandomMask());
  auto [ec, n] = co_await asio::async_write(session.conn.stream, asio::buffer(frame), kNoThrow);
  session.writing = false;
  session.write_free.Notify();
  if (ec) co_return false;
  tally_.bytes_in += n;
  if (!session.closing) session.idle.Expire(session.idle_timeout);
  co_return true;
}

void WebSocketCall::SetStatus(grpc::Status status) {
  if (!status_) status_ = std::move(status);
}

asio::awaitable<void> WebSocketCall::End(Session& session, uint16_t code, std::string_view reason,
                                         absl::Duration wait, std::string_view by) {
  if (tally_.closed_by == "-") {
    tally_.closed_by = by;
    tally_.close_code = code;
  }
  if (!close_sent_) {
    close_sent_ = true;
    session.closing = true;
    // The upstream's answering Close is awaited this long; the Close itself, when the
    // connection closes at once, a second.
    session.idle.Expire(wait == kNow ? kCancelWait : wait);
    ++tally_.frames_in;
    co_await WriteFrame(session, ws::Opcode::kClose, ws::ClosePayload(code, reason));
  }
  if (wait == kNow) {
    // A Close under way (another coroutine's) goes out whole first; the idle watchdog,
    // set short above, bounds the wait.
    while (session.writing) {
      const bool free = co_await session.write_free.Wait();
      if (!free) break;
    }
    session.conn.stream.Close();
  }
}

grpc::Status WebSocketCall::Finish(const upstream::ForwardOutcome& /*out*/) {
  if (status_) return *status_;
  if (!switched_) return UpstreamErrorStatus(*state_.transport, http_status_, error_body_);
  if (upstream_close_) {
    const int code = *upstream_close_;
    state_.transport->AddTrailingMetadata("openai-close-code", StrCat(code));
    // A Close without a code, after the gateway's own 1000, is the end the client asked for.
    if (code == 1005 && close_sent_) return grpc::Status::OK;
    const absl::StatusCode mapped = transcode::GrpcCodeForClose(code, last_error_event_);
    if (mapped == absl::StatusCode::kOk) return grpc::Status::OK;
    if (!last_error_event_.empty())
      state_.transport->AddTrailingMetadata("openai-error-bin", last_error_event_);
    std::string message = last_error_event_.empty()
                              ? ""
                              : StrCat(transcode::EventErrorMessage(last_error_event_), " ");
    message += StrCat("(the upstream closed the WebSocket with code ", code,
                      upstream_close_reason_.empty() ? "" : ": ", upstream_close_reason_, ")");
    return grpc::Status(static_cast<grpc::StatusCode>(mapped), message);
  }
  if (idle_expired_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        StrCat("no frame went either way for ",
                               absl::FormatDuration(state_.context.settings.websocket_idle_timeout),
                               " (--websocket-idle-timeout)"));
  }
  if (close_sent_) return grpc::Status::OK;  // the client was done; the upstream just left
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the upstream's connection ended without closing the WebSocket");
}

}  // namespace oa::grpc_front
