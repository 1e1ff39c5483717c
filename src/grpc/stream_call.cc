#include "grpc/stream_call.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "base/strings.h"
#include "call/headers.h"
#include "grpc/http2_session.h"
#include "grpc/local_services.h"

namespace oa::grpc_front {
namespace {

using SystemClock = std::chrono::system_clock;

constexpr size_t kPrefixBytes = 5;  // compressed flag, then the length, big-endian
// Response bytes a call may leave for nghttp2 without waiting (StartWrite).
constexpr size_t kOutBytes = size_t{64} * 1024;
// Smaller answers go uncompressed, whatever the call's encoding: gzip's framing alone is
// 18 bytes, and the flag says which a message is.
constexpr size_t kMinCompressedBytes = 1024;

// `in` compressed whole into `out`: gzip's framing, or zlib's (gRPC's "deflate").
bool Deflate(std::string_view in, bool gzip, std::string& out) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return result == Z_STREAM_END;
}

// grpc-timeout: at most 8 digits and a unit (RFC: gRPC over HTTP/2). nullopt if invalid.
std::optional<std::chrono::nanoseconds> ParseTimeout(std::string_view text) {
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  for (const char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  switch (text.back()) {
    case 'H':
      return std::chrono::hours(value);
    case 'M':
      return std::chrono::minutes(value);
    case 'S':
      return std::chrono::seconds(value);
    case 'm':
      return std::chrono::milliseconds(value);
    case 'u':
      return std::chrono::microseconds(value);
    case 'n':
      return std::chrono::nanoseconds(value);
    default:
      return std::nullopt;
  }
}

// grpc-message is percent-encoded: bytes outside printable ASCII, and '%'.
std::string PercentEncoded(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b > 0x7e || b == '%') {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    } else {
      out += c;
    }
  }
  return out;
}

nghttp2_nv Field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Metadata whose name ends in -bin travels base64-encoded.
void AddMetadata(std::vector<std::pair<std::string, std::string>>& to, std::string name,
                 std::string value) {
  if (name.ends_with("-bin")) value = absl::Base64Escape(value);
  to.emplace_back(std::move(name), std::move(value));
}

}  // namespace

StreamCall::StreamCall(Http2Session& session, int32_t id)
    : session_(&session), session_context_(&session.context()), id_(id) {}

StreamCall::~StreamCall() {
  if (counted_) session_context_->calls.active_calls.fetch_sub(1, std::memory_order_relaxed);
}

bool StreamCall::OnHeader(std::string_view name, std::string_view value, uint32_t max_bytes) {
  head_bytes_ += static_cast<uint32_t>(name.size() + value.size() + 32);  // as HTTP/2 counts
  if (head_bytes_ > max_bytes) return false;
  if (name == ":path") {
    path_ = value;
  } else if (name == ":method") {
    method_ = value;
  } else if (name == "content-type") {
    content_type_ = value;
  } else if (name == "grpc-encoding") {
    encoding_ = value;
  } else if (name == "grpc-accept-encoding") {
    accept_encoding_ = value;
  } else if (name == "grpc-timeout") {
    timeout_ = value;
  } else if (name == "authorization") {
    authorization_ = value;
  }
  if (!name.starts_with(':') && call::Crosses(call::Crossing::kGrpcRequest, name)) {
    forwarded_.emplace_back(name, value);
  }
  return true;
}

void StreamCall::OnRequestHead() {
  if (method_ != "POST") {
    RefuseHead(405, "gRPC calls are POST requests");
    return;
  }
  if (!content_type_.starts_with("application/grpc") ||
      (content_type_.size() > 16 && content_type_[16] != '+' && content_type_[16] != ';')) {
    RefuseHead(415, "the content type of a gRPC call is application/grpc");
    return;
  }
  Http2Context& context = session_->context();
  // Answers are compressed as the client's requests are, if it accepts that.
  if (encoding_ == "gzip" || encoding_ == "deflate") {
    for (std::string_view listed : Split(accept_encoding_, ',')) {
      if (TrimAscii(listed) == encoding_) compress_ = true;
    }
  }
  if (!timeout_.empty()) {
    const std::optional<std::chrono::nanoseconds> timeout = ParseTimeout(timeout_);
    if (timeout) {
      // Far deadlines (8 digits of hours) are kept within what the clocks can add.
      const auto bounded =
          std::min<std::chrono::nanoseconds>(*timeout, std::chrono::hours(24 * 365));
      deadline_ = SystemClock::now() + std::chrono::duration_cast<SystemClock::duration>(bounded);
      deadline_watch_.emplace(context.worker.executor, [this] { Cancel(); });
      deadline_watch_->ExpireAt(net::Clock::now() + bounded);
    }
  }
  const route::Route* route = context.calls.routes.FindRpc(path_);
  if (route == nullptr && IsLocalMethod(path_)) {
    auto call = std::make_shared<CallSignals>(this, context.worker);
    call->transport_keeper = shared_from_this();
    state_ = call;
    begun_ = true;
    StartLocalCall(std::move(call), path_, context.local);
    return;
  }
  if (route == nullptr) {
    RefuseUnknown(*this, session_->peer(), authorization_, path_, call::UnknownMethod(path_));
    return;
  }
  // In flight: the API's calls, as with grpc++ (not health checks, not unknown methods).
  in_flight_ = observe::GaugeHold(observe::metrics().in_flight(observe::Front::kGrpc));
  context.calls.active_calls.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  starting_ = std::make_shared<CallState>(this, *route, context.calls, context.worker);
  CallState& s = *starting_;
  s.transport_keeper = shared_from_this();
  s.authorization = std::move(authorization_);
  s.forwarded = std::move(forwarded_);
  s.peer = session_->peer();
  s.peer_address = PeerAddress(s.peer);
  state_ = starting_;
  if (!encoding_.empty() && encoding_ != "identity" && encoding_ != "gzip" &&
      encoding_ != "deflate") {
    broken_ = true;
    Arrived(Unreadable(absl::UnimplementedError(
        StrCat("the request's compression (grpc-encoding: ", encoding_,
               ") is not one the gateway reads: identity, gzip or deflate"))));
  }
}

void StreamCall::RefuseHead(int http_status, std::string_view why) {
  status_ = grpc::Status(grpc::StatusCode::INTERNAL, std::string(why));
  const std::string status = StrCat(http_status);
  const nghttp2_nv head[] = {Field(":status", status), Field("content-type", "text/plain")};
  nghttp2_submit_response(session_->h2(), id_, head, std::size(head), nullptr);
  head_sent_ = true;
  Resume();
}

void StreamCall::OnData(const uint8_t* data, size_t size) {
  // The window of bytes that arrive while a message waits for the call opens once it is
  // taken: a client that sends faster than its call reads is held to its window.
  if (!messages_.empty() && !broken_ && status_ == std::nullopt) {
    unconsumed_ += size;
  } else {
    Consume(size);
  }
  if (broken_ || status_) return;
  const uint64_t limit = session_->context().calls.max_message_bytes;
  while (size > 0) {
    if (prefix_read_ < kPrefixBytes) {
      const size_t n = std::min(size, kPrefixBytes - prefix_read_);
      std::memcpy(prefix_ + prefix_read_, data, n);
      prefix_read_ += n;
      data += n;
      size -= n;
      if (prefix_read_ < kPrefixBytes) return;
      const uint32_t length = (uint32_t{prefix_[1]} << 24) | (uint32_t{prefix_[2]} << 16) |
                              (uint32_t{prefix_[3]} << 8) | uint32_t{prefix_[4]};
      current_.compressed = (prefix_[0] & 1) != 0;
      if (length > limit) {
        broken_ = true;
        Arrived(Unreadable(absl::ResourceExhaustedError(
            StrCat("the request message is ", length, " bytes, more than ", limit,
                   " (see --grpc-max-message-bytes; send larger files with the <Rpc>Upload "
                   "client stream)"))));
        return;
      }
      if (current_.compressed && (encoding_.empty() || encoding_ == "identity")) {
        broken_ = true;
        Arrived(Unreadable(absl::InvalidArgumentError(
            "a message is marked compressed, but the call has no grpc-encoding")));
        return;
      }
      current_left_ = length;
      // What the client declared is not yet here: room grows with what arrives.
      current_.bytes.reserve(std::min<size_t>(length, size_t{64} * 1024));
    }
    const size_t n = std::min(size, current_left_);
    current_.bytes.append(reinterpret_cast<const char*>(data), n);
    current_left_ -= n;
    data += n;
    size -= n;
    if (current_left_ == 0) {
      prefix_read_ = 0;
      Arrived(std::exchange(current_, Incoming{}));
    }
  }
}

void StreamCall::Arrived(Incoming incoming) {
  messages_.push_back(std::move(incoming));
  if (!begun_ && starting_ != nullptr) {
    begun_ = true;
    BeginCall(std::exchange(starting_, nullptr), true);
    return;
  }
  if (read_wanted_) {
    read_wanted_ = false;
    if (CallSignals* s = state()) {
      s->read_ok = true;
      s->read_done.Notify();
    }
  }
}

void StreamCall::OnEndStream() {
  remote_done_ = true;
  if (prefix_read_ > 0 && !broken_) {  // a message cut short
    broken_ = true;
    Arrived(Unreadable(absl::InvalidArgumentError("the client's last message was cut short")));
    return;
  }
  if (!begun_ && starting_ != nullptr) {
    begun_ = true;
    BeginCall(std::exchange(starting_, nullptr), false);
    return;
  }
  if (read_wanted_ && messages_.empty()) {
    read_wanted_ = false;
    if (CallSignals* s = state()) {
      s->read_ok = false;
      s->read_done.Notify();
    }
  }
}

void StreamCall::OnClose(uint32_t /*error_code*/) {
  session_ = nullptr;
  if (!status_) Cancel();
  deadline_watch_.reset();
}

void StreamCall::Cancel() {
  if (cancelled_ || status_) return;
  cancelled_ = true;
  if (!begun_ && starting_ != nullptr) {  // no message yet: the call ends here
    begun_ = true;
    BeginCall(std::exchange(starting_, nullptr), false);
    return;
  }
  CallSignals* s = state();
  if (s == nullptr) return;
  s->Cancel();
  if (read_wanted_) {
    read_wanted_ = false;
    s->read_ok = false;
    s->read_done.Notify();
  }
  if (write_pending_) {
    write_pending_ = false;
    s->write_ok = false;
    s->write_done.Notify();
  }
  // A reset or a lost connection (OnClose) leaves the status nowhere to go; a passed
  // deadline (the only cancel while the stream is open) waits for the call's own
  // DEADLINE_EXCEEDED, which Finish sends.
}

void StreamCall::AddInitialMetadata(std::string name, std::string value) {
  AddMetadata(initial_, std::move(name), std::move(value));
}

void StreamCall::AddTrailingMetadata(std::string name, std::string value) {
  AddMetadata(trailing_, std::move(name), std::move(value));
}

void StreamCall::StartRead() {
  CallSignals* s = state();
  if (s == nullptr) return;
  if (!messages_.empty() || remote_done_ || cancelled_) {
    s->read_ok = !messages_.empty();
    s->read_done.Notify();
    return;
  }
  read_wanted_ = true;
}

absl::Status StreamCall::TakeRequest(google::protobuf::Message& message, uint64_t limit) {
  if (messages_.empty()) return absl::InternalError("no request message was read");
  Incoming incoming = std::move(messages_.front());
  messages_.erase(messages_.begin());
  if (messages_.empty() && unconsumed_ > 0) Consume(std::exchange(unconsumed_, 0));
  if (!incoming.error.ok()) return incoming.error;
  google::protobuf::io::ArrayInputStream in(incoming.bytes.data(),
                                            static_cast<int>(incoming.bytes.size()));
  const Compression compression = !incoming.compressed  ? Compression::kNone
                                  : encoding_ == "gzip" ? Compression::kGzip
                                                        : Compression::kDeflate;
  return ReadMessage(in, compression, message, limit);
}

bool StreamCall::StartWrite(std::string message) {
  if (session_ == nullptr || cancelled_) {
    if (CallSignals* s = state()) {
      s->write_ok = false;
      s->write_done.Notify();
    }
    return false;
  }
  if (!head_sent_) SendHead(nullptr);
  // Taken at once while what waits for nghttp2 is small: a stream of events moves
  // without a wait per event. Past that, the call waits until nghttp2 has taken it all,
  // which it does as the socket and the client's flow-control window allow.
  const bool at_once = out_.size() - out_taken_ < kOutBytes;
  AppendFramed(message);
  write_pending_ = !at_once;
  Resume();
  return at_once;
}

void StreamCall::Finish(grpc::Status status, const std::string* last) {
  if (status_) return;  // the stream ended first (RefuseHead)
  in_flight_.Release();
  deadline_watch_.reset();
  if (std::exchange(counted_, false)) {
    session_context_->calls.active_calls.fetch_sub(1, std::memory_order_relaxed);
  }
  status_ = std::move(status);
  if (session_ == nullptr) return;  // the client is gone: nowhere to send it
  if (last != nullptr) {
    if (!head_sent_) SendHead(nullptr);
    AppendFramed(*last);
  }
  if (!head_sent_) {
    SendHead(&*status_);  // trailers-only
  }
  Resume();
}

void StreamCall::AppendFramed(std::string_view message) {
  if (out_taken_ > 0 && out_taken_ == out_.size()) {
    out_.clear();
    out_taken_ = 0;
  }
  std::string compressed;
  const bool deflated = compress_ && message.size() >= kMinCompressedBytes &&
                        Deflate(message, encoding_ == "gzip", compressed);
  if (deflated) message = compressed;
  const auto size = static_cast<uint32_t>(message.size());
  const char prefix[kPrefixBytes] = {static_cast<char>(deflated ? 1 : 0),
                                     static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                                     static_cast<char>(size >> 8), static_cast<char>(size)};
  out_.append(prefix, kPrefixBytes);
  out_.append(message);
}

void StreamCall::SendHead(const grpc::Status* end) {
  head_sent_ = true;
  std::vector<nghttp2_nv> fields = {Field(":status", "200"),
                                    Field("content-type", "application/grpc"),
                                    Field("grpc-accept-encoding", "identity,deflate,gzip")};
  if (compress_ && end == nullptr) fields.push_back(Field("grpc-encoding", encoding_));
  for (const auto& [name, value] : initial_) fields.push_back(Field(name, value));
  std::string code;
  std::string message;
  std::string details;
  if (end != nullptr) {
    code = StrCat(static_cast<int>(end->error_code()));
    message = PercentEncoded(end->error_message());
    fields.push_back(Field("grpc-status", code));
    if (!message.empty()) fields.push_back(Field("grpc-message", message));
    if (!end->error_details().empty()) {
      details = absl::Base64Escape(end->error_details());
      fields.push_back(Field("grpc-status-details-bin", details));
    }
    for (const auto& [name, value] : trailing_) fields.push_back(Field(name, value));
    nghttp2_submit_response(session_->h2(), id_, fields.data(), fields.size(), nullptr);
    return;
  }
  nghttp2_data_provider body{};
  body.source.ptr = this;
  body.read_callback = StreamDataReader();
  nghttp2_submit_response(session_->h2(), id_, fields.data(), fields.size(), &body);
}

ssize_t StreamCall::ReadResponse(uint8_t* buf, size_t length, uint32_t* data_flags) {
  const size_t n = std::min(length, out_.size() - out_taken_);
  std::memcpy(buf, out_.data() + out_taken_, n);
  out_taken_ += n;
  if (out_taken_ < out_.size()) return static_cast<ssize_t>(n);
  out_.clear();
  out_taken_ = 0;
  if (write_pending_) {  // the message went to nghttp2 whole: the call may write the next
    write_pending_ = false;
    if (CallSignals* s = state()) {
      s->write_ok = true;
      s->write_done.Notify();
    }
  }
  if (!status_) return n > 0 ? static_cast<ssize_t>(n) : ssize_t{NGHTTP2_ERR_DEFERRED};
  // The messages are out: the status follows as trailers.
  *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  const std::string code = StrCat(static_cast<int>(status_->error_code()));
  const std::string message = PercentEncoded(status_->error_message());
  std::string details;
  std::vector<nghttp2_nv> fields = {Field("grpc-status", code)};
  if (!message.empty()) fields.push_back(Field("grpc-message", message));
  if (!status_->error_details().empty()) {
    details = absl::Base64Escape(status_->error_details());
    fields.push_back(Field("grpc-status-details-bin", details));
  }
  for (const auto& [name, value] : trailing_) fields.push_back(Field(name, value));
  nghttp2_submit_trailer(session_->h2(), id_, fields.data(), fields.size());
  return static_cast<ssize_t>(n);
}

void StreamCall::Resume() {
  if (session_ == nullptr) return;
  nghttp2_session_resume_data(session_->h2(), id_);
  session_->Flush();
}

void StreamCall::Consume(size_t bytes) {
  if (session_ == nullptr || bytes == 0) return;
  nghttp2_session_consume(session_->h2(), id_, bytes);
  session_->Flush();
}

}  // namespace oa::grpc_front
