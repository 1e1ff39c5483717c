// A blocking gRPC client for tests: calls any method of the gateway by name with bytes or
// dynamic messages, and keeps everything a test may look at (status, every message,
// initial and trailing metadata).
#pragma once

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace oa::testing {

struct GrpcResult {
  grpc::Status status;
  std::vector<std::string> messages;  // serialized, in order
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;
  std::chrono::milliseconds elapsed{0};

  std::string Initial(const std::string& key) const;
  std::string Trailing(const std::string& key) const;
};

struct GrpcCallOptions {
  std::vector<std::pair<std::string, std::string>> metadata;
  std::chrono::milliseconds timeout{10000};
  // Cancel the call once this many messages arrived (0: never).
  size_t cancel_after = 0;
};

class GrpcClient {
 public:
  explicit GrpcClient(int port);
  // Over `credentials` (e.g. grpc::SslCredentials) to 127.0.0.1:`port`.
  GrpcClient(int port, const std::shared_ptr<grpc::ChannelCredentials>& credentials);

  // `method` as gRPC sends it: "/openai.v1.ChatService/CreateChatCompletion".
  GrpcResult Call(const std::string& method, const std::string& request_bytes,
                  const GrpcCallOptions& options = {}) {
    return Call(method, std::vector<std::string>{request_bytes}, options);
  }
  // Sends every message of `requests` (a client stream), then half-closes.
  GrpcResult Call(const std::string& method, const std::vector<std::string>& requests,
                  const GrpcCallOptions& options);

  // A new, empty message of `type` (a full name) from the gateway's descriptors.
  std::unique_ptr<google::protobuf::Message> New(const std::string& type);
  // The request type of `rpc` ("openai.v1.FilesService/CreateFile").
  std::unique_ptr<google::protobuf::Message> NewRequest(const std::string& rpc);
  // Parses `bytes` as the response type of `rpc`.
  std::unique_ptr<google::protobuf::Message> ParseResponse(const std::string& rpc,
                                                           const std::string& bytes);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace oa::testing
