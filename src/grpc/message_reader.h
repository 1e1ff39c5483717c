// Reads a request message out of the bytes a server received (grpc++'s ByteBuffer, or the
// workers' StreamCall's), without a whole copy of it, and, when the client compressed
// it, without inflating more than a limit.
//
// The gRPC front turns off gRPC's own decompression (GRPC_ARG_ENABLE_PER_MESSAGE_
// DECOMPRESSION): gRPC 1.51 inflates a compressed message whole before it looks at its
// size, so 255 KB of gzip became a gigabyte in memory before any limit applied. A message
// then reaches the handler as gRPC received it, compressed or not, its wire size bounded
// by the server's receive limit; this reads it, inflating gzip (gzip framing) or deflate
// (zlib framing) as it parses, and stops at `limit` bytes of message.
//
//   absl::Status read = ReadMessage(buffer, *request, settings.grpc_max_message_bytes);
//   // RESOURCE_EXHAUSTED: inflated past the limit; INVALID_ARGUMENT: not the message
#pragma once

#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>

#include "absl/status/status.h"

namespace oa::grpc_front {

// How a message's bytes were compressed: gRPC's "gzip" is gzip's framing, its "deflate"
// zlib's.
enum class Compression { kNone, kGzip, kDeflate };

// Parses the bytes `in` gives, compressed as `compression`, into `message`.
// REQUIRES: `message` is empty (new). `limit` bounds its size once inflated.
absl::Status ReadMessage(google::protobuf::io::ZeroCopyInputStream& in, Compression compression,
                         google::protobuf::Message& message, uint64_t limit);

// Parses `buffer` into `message`, which must be empty. `limit` bounds the message's size once
// inflated; an uncompressed one is bounded by gRPC's receive limit already.
absl::Status ReadMessage(grpc::ByteBuffer& buffer, google::protobuf::Message& message,
                         uint64_t limit);

}  // namespace oa::grpc_front
