// gRPC server reflection (grpc.reflection.v1 and v1alpha, which share one wire format)
// over the gateway's own descriptors, so grpcurl and `buf curl` can list and call every
// OpenAI method without .proto files. gRPC's packaged reflection plugin serves only the
// descriptors compiled into the binary as C++, which ours are not.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include <string_view>

#include "route/descriptors.h"

namespace oa::grpc_front {

bool IsReflectionMethod(std::string_view method);  // "/grpc.reflection.v1.ServerReflection/..."

// `services`: the full names to list; `descriptors` outlives the reactor.
grpc::ServerGenericBidiReactor* NewReflectionReactor(const route::Descriptors& descriptors,
                                                     const std::vector<std::string>& services);

}  // namespace oa::grpc_front
