#include "grpc_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include "grpc/byte_buffers.h"
#include "route/descriptors.h"
#include "test_outputs.h"

namespace oa::testing {

namespace {

// The bytes of an answer message, as the server sent them (it never compresses).
std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::string FindIn(const std::multimap<std::string, std::string>& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

const google::protobuf::MethodDescriptor* Method(const std::string& rpc) {
  std::string name = rpc;
  if (!name.empty() && name.front() == '/') name.erase(0, 1);
  std::replace(name.begin(), name.end(), '/', '.');
  return route::ApiDescriptors().pool->FindMethodByName(name);
}

// The status, metadata and messages of a call, as kept for the key scan.
std::string Describe(const GrpcResult& result) {
  std::string text = std::to_string(result.status.error_code()) + " " +
                     result.status.error_message() + "\n" + result.status.error_details() + "\n";
  for (const auto* metadata : {&result.initial_metadata, &result.trailing_metadata}) {
    for (const auto& [key, value] : *metadata) text += key + ": " + value + "\n";
  }
  for (const std::string& message : result.messages) text += message + "\n";
  return text;
}

}  // namespace

std::string GrpcResult::Initial(const std::string& key) const {
  return FindIn(initial_metadata, key);
}
std::string GrpcResult::Trailing(const std::string& key) const {
  return FindIn(trailing_metadata, key);
}

GrpcClient::GrpcClient(int port) : GrpcClient(port, grpc::InsecureChannelCredentials()) {}

GrpcClient::GrpcClient(int port, const std::shared_ptr<grpc::ChannelCredentials>& credentials)
    : channel_(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), credentials)),
      factory_(route::ApiDescriptors().pool) {}

GrpcResult GrpcClient::Call(const std::string& method, const std::vector<std::string>& requests,
                            const GrpcCallOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GrpcResult result;
  grpc::ClientContext context;
  for (const auto& [k, v] : options.metadata) context.AddMetadata(k, v);
  context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  // Each step waits for its own completion; the tag is the step's address.
  const auto step = [&](int id) {
    while (cq.Next(&tag, &ok)) {
      if (tag == reinterpret_cast<void*>(static_cast<intptr_t>(id))) return ok;
    }
    return false;
  };
  const auto t = [](int id) { return reinterpret_cast<void*>(static_cast<intptr_t>(id)); };
  call->StartCall(t(1));
  if (step(1)) {
    bool written = true;
    for (const std::string& request : requests) {
      call->Write(grpc_front::ToBuffer(request), t(2));
      if (!(written = step(2))) break;
    }
    if (written) {
      call->WritesDone(t(3));
      step(3);
    }
    call->ReadInitialMetadata(t(4));
    step(4);
    for (;;) {
      grpc::ByteBuffer in;
      call->Read(&in, t(5));
      if (!step(5)) break;
      result.messages.push_back(Bytes(in));
      if (options.cancel_after > 0 && result.messages.size() == options.cancel_after) {
        context.TryCancel();
      }
    }
  }
  call->Finish(&result.status, t(6));
  step(6);
  for (const auto& [k, v] : context.GetServerInitialMetadata()) {
    result.initial_metadata.emplace(std::string(k.data(), k.size()),
                                    std::string(v.data(), v.size()));
  }
  for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
    result.trailing_metadata.emplace(std::string(k.data(), k.size()),
                                     std::string(v.data(), v.size()));
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  KeepOutput("grpc-answers", Describe(result));
  return result;
}

std::unique_ptr<google::protobuf::Message> GrpcClient::New(const std::string& type) {
  const auto* d = route::ApiDescriptors().pool->FindMessageTypeByName(type);
  if (d == nullptr) return nullptr;
  return std::unique_ptr<google::protobuf::Message>(factory_.GetPrototype(d)->New());
}

std::unique_ptr<google::protobuf::Message> GrpcClient::NewRequest(const std::string& rpc) {
  const auto* m = Method(rpc);
  if (m == nullptr) return nullptr;
  return std::unique_ptr<google::protobuf::Message>(factory_.GetPrototype(m->input_type())->New());
}

std::unique_ptr<google::protobuf::Message> GrpcClient::ParseResponse(const std::string& rpc,
                                                                     const std::string& bytes) {
  const auto* m = Method(rpc);
  if (m == nullptr) return nullptr;
  std::unique_ptr<google::protobuf::Message> out(factory_.GetPrototype(m->output_type())->New());
  if (!out->ParseFromString(bytes)) return nullptr;
  return out;
}

}  // namespace oa::testing
