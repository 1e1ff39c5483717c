// gRPC server reflection (grpc.reflection.v1 and v1alpha, which share one wire format)
// over the gateway's own descriptors, so grpcurl and `buf curl` can list and call every
// OpenAI method without .proto files. gRPC's packaged reflection plugin serves only the
// descriptors compiled into the binary as C++, which ours are not.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "route/descriptors.h"

namespace oa::grpc_front {

// The answers of one reflection stream (v1alpha's messages; v1's share their wire format).
class ReflectionAnswers {
 public:
  // A question names a symbol or a file: a few hundred bytes. Compressed, it may inflate
  // to this much.
  static constexpr uint64_t kMaxRequestBytes = uint64_t{64} * 1024;

  // Both outlive this.
  ReflectionAnswers(const route::Descriptors& descriptors, const std::vector<std::string>& services)
      : descriptors_(descriptors), services_(services) {}

  grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request);

 private:
  // The file and everything it imports, each once per stream (clients cache them).
  void AddFile(const google::protobuf::FileDescriptor* file,
               grpc::reflection::v1alpha::ServerReflectionResponse& response,
               const std::string& missing);
  static void NotFound(grpc::reflection::v1alpha::ServerReflectionResponse& response,
                       const std::string& message);

  const route::Descriptors& descriptors_;
  const std::vector<std::string>& services_;
  std::set<std::string> sent_;
};

bool IsReflectionMethod(std::string_view method);  // "/grpc.reflection.v1.ServerReflection/..."

// `services`: the full names to list; `descriptors` outlives the reactor.
grpc::ServerGenericBidiReactor* NewReflectionReactor(const route::Descriptors& descriptors,
                                                     const std::vector<std::string>& services);

}  // namespace oa::grpc_front
