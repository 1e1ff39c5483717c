// gRPC's ByteBuffer from the bytes of one serialized message (message_reader.h reads them).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <string>

namespace oa::grpc_front {

// One copy of `bytes`: gRPC's Slice takes no std::string by value.
inline grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace oa::grpc_front
