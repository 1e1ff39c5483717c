// gRPC's ByteBuffer from the bytes of one serialized message (message_reader.h reads them).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <string>

namespace oa::grpc_front {

inline grpc::ByteBuffer ToBuffer(std::string bytes) {
  grpc::Slice slice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace oa::grpc_front
