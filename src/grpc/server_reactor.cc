#include "grpc/server_reactor.h"

#include <boost/asio/post.hpp>

#include "call/headers.h"
#include "grpc/byte_buffers.h"
#include "grpc/call_state.h"
#include "grpc/message_reader.h"
#include "grpc/ordered_reactor.h"
#include "observe/metrics.h"

namespace oa::grpc_front {
namespace {

namespace asio = net::asio;

// grpc++'s metadata and deadline, as a call's transport sees them.
class ContextTransport : public CallTransport {
 public:
  explicit ContextTransport(grpc::GenericCallbackServerContext* ctx) : ctx_(ctx) {}

  void AddInitialMetadata(std::string name, std::string value) final {
    ctx_->AddInitialMetadata(name, value);
  }
  void AddTrailingMetadata(std::string name, std::string value) final {
    ctx_->AddTrailingMetadata(name, value);
  }
  bool IsCancelled() const final { return ctx_->IsCancelled(); }
  std::chrono::system_clock::time_point deadline() const final { return ctx_->deadline(); }

 protected:
  grpc::GenericCallbackServerContext* ctx_;
};

class CallReactor final : public OrderedReactor, public ContextTransport {
 public:
  CallReactor(grpc::GenericCallbackServerContext* ctx, const route::Route& route,
              CallContext& context)
      : ContextTransport(ctx),
        state_(std::make_shared<CallState>(this, route, context, context.workers.NextWorker())) {
    context.active_calls.fetch_add(1);
    for (const auto& [key, value] : ctx->client_metadata()) {
      const std::string_view name(key.data(), key.size());
      if (name == "authorization") state_->authorization.assign(value.data(), value.size());
      if (call::Crosses(call::Crossing::kGrpcRequest, name)) {  // call/headers.h
        state_->forwarded.emplace_back(name, std::string(value.data(), value.size()));
      }
    }
    state_->peer = ctx->peer();
    state_->peer_address = PeerAddress(state_->peer);
    OrderedReactor::StartRead(&request_buffer_);
  }

  // CallTransport, on the worker.
  void StartRead() override { OrderedReactor::StartRead(&request_buffer_); }
  absl::Status TakeRequest(google::protobuf::Message& message, uint64_t limit) override {
    absl::Status read = ReadMessage(request_buffer_, message, limit);
    request_buffer_.Clear();
    return read;
  }
  bool StartWrite(std::string message) override {
    response_buffer_ = ToBuffer(message);
    OrderedReactor::StartWrite(&response_buffer_);
    return false;  // gRPC's WriteDone tells
  }
  void Finish(grpc::Status status, const std::string* last) override {
    if (last != nullptr) {
      response_buffer_ = ToBuffer(*last);
      StartWriteAndFinish(&response_buffer_, grpc::WriteOptions(), std::move(status));
    } else {
      OrderedReactor::Finish(std::move(status));
    }
  }

 private:
  void ReadDone(bool ok) override {
    if (begun_) {  // a later message of an upload, asked for by the worker
      asio::post(state_->worker.executor, [state = state_, ok] {
        state->read_ok = ok;
        state->read_done.Notify();
      });
      return;
    }
    begun_ = true;
    BeginCall(state_, ok);
  }

  void WriteDone(bool ok) override {
    asio::post(state_->worker.executor, [state = state_, ok] {
      state->write_ok = ok;
      state->write_done.Notify();
    });
  }

  void Cancelled() override {
    asio::post(state_->worker.executor, [state = state_] { state->Cancel(); });
  }

  void Done() override {
    state_->context.active_calls.fetch_sub(1);
    delete this;
  }

  std::shared_ptr<CallState> state_;
  grpc::ByteBuffer request_buffer_;
  grpc::ByteBuffer response_buffer_;  // the one write in flight
  bool begun_ = false;                // the first message was read
  observe::GaugeHold in_flight_{observe::metrics().in_flight(observe::Front::kGrpc)};
};

class FailedReactor final : public OrderedReactor, public ContextTransport {
 public:
  FailedReactor(grpc::GenericCallbackServerContext* ctx, const call::CallError& error)
      : ContextTransport(ctx) {
    std::string key;
    for (const auto& [name, value] : ctx->client_metadata()) {
      if (std::string_view(name.data(), name.size()) == "authorization") {
        key.assign(value.data(), value.size());
      }
    }
    const std::string peer = ctx->peer();  // by value: the record only points at it
    RefuseUnknown(*this, peer, key, ctx->method(), error);
  }

  void StartRead() override {}
  absl::Status TakeRequest(google::protobuf::Message& /*message*/, uint64_t /*limit*/) override {
    return absl::OkStatus();
  }
  bool StartWrite(std::string /*message*/) override { return true; }
  void Finish(grpc::Status status, const std::string* /*last*/) override {
    OrderedReactor::Finish(std::move(status));
  }

 private:
  void Done() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* NewCallReactor(grpc::GenericCallbackServerContext* ctx,
                                               const route::Route& route, CallContext& context) {
  return OrderedReactor::Constructed(new CallReactor(ctx, route, context));
}

grpc::ServerGenericBidiReactor* NewFailedReactor(grpc::GenericCallbackServerContext* ctx,
                                                 const call::CallError& error) {
  return OrderedReactor::Constructed(new FailedReactor(ctx, error));
}

}  // namespace oa::grpc_front
