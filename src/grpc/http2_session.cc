#include "grpc/http2_session.h"

#include <algorithm>
#include <boost/asio/write.hpp>
#include <vector>

#include "base/strings.h"
#include "grpc/stream_call.h"
#include "observe/log.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;
using net::Clock;

// Reads start at 16 KiB and double, to kMaxReadBytes, after each read that filled the
// buffer, and go back to 16 KiB once no call is under way: a connection that carries an
// upload reads it in large pieces, a quiet one holds little.
constexpr size_t kReadBytes = size_t{16} * 1024;
constexpr size_t kMaxReadBytes = size_t{256} * 1024;
// What one write gathers from nghttp2 at most before it goes to the socket. A gather
// buffer grown past kKeptWriteBytes is given back once the writes catch up.
constexpr size_t kWriteBytes = size_t{256} * 1024;
constexpr size_t kKeptWriteBytes = size_t{16} * 1024;
// A stream's receive window: what a client may send ahead of its call taking messages.
// Large enough that an upload runs at the socket's speed across a loopback or LAN.
constexpr int32_t kStreamWindow = 1024 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// The request head a client may send (gRPC's own default for metadata).
constexpr uint32_t kMaxHeaderListBytes = 16 * 1024;
// gRPC's keepalive enforcement (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
// GRPC_ARG_HTTP2_MAX_PING_STRIKES): a client that pings more often than this with nothing
// going on is misbehaving.
constexpr auto kMinPingInterval = std::chrono::minutes(5);
constexpr int kMaxPingStrikes = 2;

std::string PeerOf(const net::tcp::socket& socket) {
  net::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  const auto address = endpoint.address();
  return address.is_v6() ? StrCat("ipv6:[", address.to_string(), "]:", endpoint.port())
                         : StrCat("ipv4:", address.to_string(), ":", endpoint.port());
}

}  // namespace

// nghttp2's callbacks, each handing the event to the session or the stream's call.
struct Http2Callbacks {
  static Http2Session& Of(void* user_data) { return *static_cast<Http2Session*>(user_data); }
  static StreamCall* CallOf(nghttp2_session* h2, int32_t stream_id) {
    return static_cast<StreamCall*>(nghttp2_session_get_stream_user_data(h2, stream_id));
  }

  static int OnBeginHeaders(nghttp2_session* h2, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Session& session = Of(user_data);
    session.ping_strikes_ = 0;  // a call: the client's pings keep something alive
    auto call = std::make_shared<StreamCall>(session, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, call.get());
    session.calls_.emplace(frame->hd.stream_id, std::move(call));
    return 0;
  }

  static int OnHeader(nghttp2_session* h2, const nghttp2_frame* frame, const uint8_t* name,
                      size_t name_size, const uint8_t* value, size_t value_size, uint8_t /*flags*/,
                      void* /*user_data*/) {
    StreamCall* call = CallOf(h2, frame->hd.stream_id);
    if (call == nullptr || frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: gRPC sends none
    const bool kept = call->OnHeader(
        std::string_view(reinterpret_cast<const char*>(name), name_size),
        std::string_view(reinterpret_cast<const char*>(value), value_size), kMaxHeaderListBytes);
    return kept ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
  }

  static int OnFrameReceived(nghttp2_session* h2, const nghttp2_frame* frame, void* user_data) {
    Http2Session& session = Of(user_data);
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      if (!session.PingAllowed() && !session.ending_) {
        // gRPC's words: clients read them to ping less often next time.
        static constexpr std::string_view kWhy = "too_many_pings";
        nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h2),
                              NGHTTP2_ENHANCE_YOUR_CALM,
                              reinterpret_cast<const uint8_t*>(kWhy.data()), kWhy.size());
        session.ending_ = true;  // closed once the GOAWAY is out
      }
      return 0;
    }
    StreamCall* call = CallOf(h2, frame->hd.stream_id);
    if (call == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      call->OnRequestHead();
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      call->OnEndStream();
    }
    return 0;
  }

  static int OnData(nghttp2_session* h2, uint8_t /*flags*/, int32_t stream_id, const uint8_t* data,
                    size_t size, void* /*user_data*/) {
    if (StreamCall* call = CallOf(h2, stream_id)) {
      call->OnData(data, size);
    } else {
      nghttp2_session_consume(h2, stream_id, size);  // a stream already over: dropped
    }
    return 0;
  }

  static int OnFrameSent(nghttp2_session* h2, const nghttp2_frame* frame, void* /*user_data*/) {
    if (frame->hd.type != NGHTTP2_HEADERS || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    // The status went out. A client still sending is told to stop, as gRPC servers do.
    if (nghttp2_session_get_stream_remote_close(h2, frame->hd.stream_id) == 0) {
      nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session* h2, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    Http2Session& session = Of(user_data);
    const auto found = session.calls_.find(stream_id);
    if (found == session.calls_.end()) return 0;
    const std::shared_ptr<StreamCall> call = std::move(found->second);
    session.calls_.erase(found);
    nghttp2_session_set_stream_user_data(h2, stream_id, nullptr);
    call->OnClose(error_code);
    return 0;
  }

  static ssize_t ReadData(nghttp2_session* /*h2*/, int32_t /*stream_id*/, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                          void* /*user_data*/) {
    return static_cast<StreamCall*>(source->ptr)->ReadResponse(buf, length, data_flags);
  }
};

nghttp2_data_source_read_callback StreamDataReader() { return &Http2Callbacks::ReadData; }

Http2Session::Http2Session(net::Stream stream, Http2Context& context)
    : stream_(std::move(stream)),
      context_(context),
      peer_(PeerOf(stream_.socket())),
      handshake_deadline_(stream_.get_executor(), [this] { stream_.Close(); }) {
  context_.sessions.Add(this);
}

Http2Session::~Http2Session() {
  context_.sessions.Remove(this);
  // The calls still running lose their stream: they are cancelled and send nothing more.
  for (auto& [id, call] : calls_) call->OnClose(NGHTTP2_CANCEL);
  calls_.clear();
  if (h2_ != nullptr) nghttp2_session_del(h2_);
}

void Http2Session::Start(std::string already_read) {
  if (stream_.tls() == nullptr) {
    Serve(already_read);
    return;
  }
  handshake_deadline_.Expire(context_.calls.settings.client_header_timeout);
  auto hello = std::make_shared<std::string>(std::move(already_read));
  stream_.tls()->async_handshake(
      asio::ssl::stream_base::server, asio::buffer(*hello),
      [self = shared_from_this(), hello](const net::error_code& ec, size_t used) {
        self->handshake_deadline_.Clear();
        if (ec) {
          OA_LOG(kDebug, "TLS handshake with %s failed: %s", self->peer_, ec.message());
          self->Close();
          return;
        }
        self->Serve(std::string_view(*hello).substr(used));
      });
}

void Http2Session::Serve(std::string_view already_read) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          &Http2Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Http2Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Http2Callbacks::OnFrameReceived);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Http2Callbacks::OnData);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &Http2Callbacks::OnFrameSent);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Http2Callbacks::OnStreamClose);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  // A stream's window opens as its call takes messages (StreamCall), not as bytes arrive.
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_session_server_new2(&h2_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       static_cast<uint32_t>(context_.calls.settings.grpc_max_concurrent_streams)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderListBytes},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(h2_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  if (context_.sessions.draining()) BeginDrain();

  in_.resize(kReadBytes);
  if (!Receive(reinterpret_cast<const uint8_t*>(already_read.data()), already_read.size())) {
    Close();
    return;
  }
  Flush();
  Read();
}

void Http2Session::Read() {
  if (closed_) return;
  stream_.async_read_some(
      asio::buffer(in_.data(), in_.size()),
      [self = shared_from_this()](const net::error_code& ec, size_t n) { self->OnRead(ec, n); });
}

void Http2Session::OnRead(const net::error_code& ec, size_t n) {
  if (ec || !Receive(in_.data(), n)) {
    Close();
    return;
  }
  if (n == in_.size() && in_.size() < kMaxReadBytes) {
    in_.resize(2 * in_.size());
  } else if (in_.size() > kReadBytes && calls_.empty()) {  // no call under way: give it back
    std::vector<uint8_t>(kReadBytes).swap(in_);
  }
  Flush();
  Read();
}

bool Http2Session::Receive(const uint8_t* data, size_t n) {
  if (closed_) return false;
  receiving_ = true;  // nghttp2 may not be asked to send from inside its callbacks
  const ssize_t used = nghttp2_session_mem_recv(h2_, data, n);
  receiving_ = false;
  if (used < 0) {
    OA_LOG(kDebug, "HTTP/2 connection from %s ends: %s", peer_, nghttp2_strerror(int(used)));
    // A protocol error has its GOAWAY queued: it goes out before the connection closes.
    if (used != NGHTTP2_ERR_FLOODED) Flush();
    return false;
  }
  return true;
}

void Http2Session::Flush() {
  if (writing_ || receiving_ || closed_ || h2_ == nullptr) return;
  out_.clear();
  while (out_.size() < kWriteBytes) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(h2_, &data);
    if (n < 0) {
      Close();
      return;
    }
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  if (out_.empty()) {
    if (out_.capacity() > kKeptWriteBytes) std::string().swap(out_);
    // Both sides said GOAWAY, or ours went and no stream is left: the connection is over.
    if (nghttp2_session_want_read(h2_) == 0 && nghttp2_session_want_write(h2_) == 0) Close();
    return;
  }
  writing_ = true;
  asio::async_write(stream_, asio::buffer(out_),
                    [self = shared_from_this()](const net::error_code& ec, size_t /*n*/) {
                      self->OnWritten(ec);
                    });
}

void Http2Session::OnWritten(const net::error_code& ec) {
  writing_ = false;
  if (ec) {
    Close();
    return;
  }
  Flush();
  if (ending_ && !writing_) Close();  // everything queued, GOAWAY included, is out
}

void Http2Session::BeginDrain() {
  if (h2_ == nullptr || closed_) return;
  nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h2_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  Flush();
}

void Http2Session::Close() {
  if (closed_) return;
  closed_ = true;
  stream_.Close();
  // Every call on the connection is cancelled now, not when the session goes.
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, call] : calls) {
    if (h2_ != nullptr) nghttp2_session_set_stream_user_data(h2_, id, nullptr);
    call->OnClose(NGHTTP2_CANCEL);
  }
}

bool Http2Session::PingAllowed() {
  const Clock::time_point now = Clock::now();
  const bool early = now - last_ping_ < kMinPingInterval;
  last_ping_ = now;
  if (!calls_.empty() || !early) return true;
  return ++ping_strikes_ <= kMaxPingStrikes;
}

void Http2Sessions::Add(Http2Session* session) {
  sessions_.insert(session);
  size_.store(sessions_.size(), std::memory_order_relaxed);
}

void Http2Sessions::Remove(Http2Session* session) {
  sessions_.erase(session);
  size_.store(sessions_.size(), std::memory_order_relaxed);
}

void Http2Sessions::BeginDrain() {
  draining_ = true;
  for (Http2Session* session : std::vector(sessions_.begin(), sessions_.end())) {
    session->BeginDrain();
  }
}

namespace {

class Http2Server final : public worker::ConnectionServer {
 public:
  Http2Server(CallContext& calls, const LocalServices& local, worker::WorkerHandle worker,
              net::ServerTls* tls)
      : worker_(std::move(worker)), tls_(tls), context_{calls, local, worker_, sessions_} {}

  void Serve(net::tcp::socket socket, std::string already_read) override {
    auto session = tls_ != nullptr
                       ? std::make_shared<Http2Session>(
                             net::Stream(std::move(socket), tls_->context()), context_)
                       : std::make_shared<Http2Session>(net::Stream(std::move(socket)), context_);
    OA_LOG(kDebug, "HTTP/2 connection from %s served by the gRPC front on its worker",
           PeerAddress(session->peer()));
    session->Start(std::move(already_read));
  }
  void BeginDrain() override { sessions_.BeginDrain(); }
  size_t open_connections() const override { return sessions_.size(); }

 private:
  const worker::WorkerHandle worker_;
  net::ServerTls* tls_;
  Http2Sessions sessions_;
  Http2Context context_;
};

}  // namespace

std::unique_ptr<worker::ConnectionServer> NewHttp2Server(CallContext& calls,
                                                         const LocalServices& local,
                                                         const worker::WorkerHandle& worker,
                                                         net::ServerTls* tls) {
  return std::make_unique<Http2Server>(calls, local, worker, tls);
}

}  // namespace oa::grpc_front
