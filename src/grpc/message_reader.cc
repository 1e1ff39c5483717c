#include "grpc/message_reader.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <grpc/byte_buffer_reader.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <zlib.h>

#include <algorithm>
#include <vector>

#include "base/strings.h"

namespace oa::grpc_front {
namespace {

// gRPC's zero-copy reader over a ByteBuffer's slices, which also says how the message was
// compressed. That is only in the C struct under the reader: the protected reader() is
// gRPC's stated way for subclasses to reach it.
class SliceReader final : public grpc::ProtoBufferReader {
 public:
  using grpc::ProtoBufferReader::ProtoBufferReader;

  grpc_compression_algorithm compression() {
    if (!status().ok() || reader()->buffer_in == nullptr ||
        reader()->buffer_in->type != GRPC_BB_RAW) {
      return GRPC_COMPRESS_NONE;
    }
    return reader()->buffer_in->data.raw.compression;
  }
};

// The inflated bytes of a compressed message, as a stream protobuf parses from, ending
// (as a failed stream) once more than `limit` bytes came out. Protobuf takes a stream that
// fails for one that ended, so state() tells afterwards which it was.
class InflatingStream final : public google::protobuf::io::ZeroCopyInputStream {
 public:
  enum class State { kReading, kEnded, kTooLarge, kCorrupt };

  InflatingStream(google::protobuf::io::ZeroCopyInputStream& compressed, bool gzip, uint64_t limit)
      : in_(compressed), limit_(limit) {
    // 15: the largest window; +16: gzip's framing, else zlib's (what gRPC's "deflate" is).
    if (inflateInit2(&z_, gzip ? 15 + 16 : 15) != Z_OK) state_ = State::kCorrupt;
  }
  ~InflatingStream() override { inflateEnd(&z_); }

  bool Next(const void** data, int* size) override {
    if (backed_up_ > 0) {
      *data = out_.data() + (out_size_ - backed_up_);
      *size = static_cast<int>(backed_up_);
      backed_up_ = 0;
      return true;
    }
    for (;;) {
      if (state_ != State::kReading) return false;
      // One byte past the limit tells a message at the limit from one beyond it.
      const uint64_t room = std::min<uint64_t>(kOutBytes, limit_ + 1 - produced_);
      out_.resize(kOutBytes);
      z_.next_out = reinterpret_cast<Bytef*>(out_.data());
      z_.avail_out = static_cast<uInt>(room);
      if (z_.avail_in == 0 && !input_done_) {
        const void* in = nullptr;
        int in_size = 0;
        if (in_.Next(&in, &in_size)) {
          z_.next_in = static_cast<Bytef*>(const_cast<void*>(in));
          z_.avail_in = static_cast<uInt>(in_size);
        } else {
          input_done_ = true;
        }
      }
      const int result = inflate(&z_, Z_NO_FLUSH);
      out_size_ = room - z_.avail_out;
      produced_ += out_size_;
      if (produced_ > limit_) {
        state_ = State::kTooLarge;
        return false;
      }
      if (result == Z_STREAM_END) {
        // Nothing may follow the compressed stream: not in this slice, nor in another.
        const void* in = nullptr;
        int in_size = 0;
        const bool trailing = z_.avail_in > 0 || (!input_done_ && NextNonEmpty(&in, &in_size));
        state_ = trailing ? State::kCorrupt : State::kEnded;
      } else if ((result == Z_BUF_ERROR && input_done_ && z_.avail_in == 0) ||  // cut short
                 (result != Z_OK && result != Z_BUF_ERROR)) {
        state_ = State::kCorrupt;
      }
      if (out_size_ > 0) {
        *data = out_.data();
        *size = static_cast<int>(out_size_);
        return true;
      }
    }
  }

  void BackUp(int count) override { backed_up_ = static_cast<size_t>(count); }
  bool Skip(int count) override {
    const void* data = nullptr;
    int size = 0;
    while (count > 0 && Next(&data, &size)) {
      if (size > count) {
        BackUp(size - count);
        return true;
      }
      count -= size;
    }
    return count == 0;
  }
  int64_t ByteCount() const override { return static_cast<int64_t>(produced_ - backed_up_); }

  State state() const { return state_; }

 private:
  static constexpr size_t kOutBytes = size_t{64} * 1024;

  bool NextNonEmpty(const void** data, int* size) {
    while (in_.Next(data, size)) {
      if (*size > 0) return true;
    }
    return false;
  }

  google::protobuf::io::ZeroCopyInputStream& in_;
  uint64_t limit_;
  z_stream z_{};
  State state_ = State::kReading;
  bool input_done_ = false;
  std::vector<char> out_;
  size_t out_size_ = 0;   // of the last output given
  size_t backed_up_ = 0;  // of it, given back
  uint64_t produced_ = 0;
};

// Merges the bytes of `in` into the empty `message`. Not ParseFrom*: that clears the
// message first and then asks it whether its required fields are set, two walks over
// every field by reflection that cost as much as the parse on a message of OpenAI's size;
// an empty message needs no clearing and proto3 has no required fields.
bool MergeInto(google::protobuf::io::ZeroCopyInputStream& in, google::protobuf::Message& message) {
  google::protobuf::io::CodedInputStream coded(&in);
  return message.MergePartialFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

}  // namespace

absl::Status ReadMessage(google::protobuf::io::ZeroCopyInputStream& in, Compression compression,
                         google::protobuf::Message& message, uint64_t limit) {
  const std::string& type = message.GetDescriptor()->full_name();
  if (compression == Compression::kNone) {
    if (!MergeInto(in, message)) {
      return absl::InvalidArgumentError(StrCat("the request is not a valid ", type));
    }
    return absl::OkStatus();
  }
  const bool gzip = compression == Compression::kGzip;
  InflatingStream inflated(in, gzip, limit);
  const bool parsed = MergeInto(inflated, message);
  if (inflated.state() == InflatingStream::State::kTooLarge) {
    return absl::ResourceExhaustedError(
        StrCat("the request message inflates to more than ", limit,
               " bytes (see --grpc-max-message-bytes; send larger files with the "
               "<Rpc>Upload client stream)"));
  }
  if (inflated.state() == InflatingStream::State::kCorrupt) {
    return absl::InvalidArgumentError(
        StrCat("the request's ", gzip ? "gzip" : "deflate", " data is corrupt or cut short"));
  }
  if (!parsed) return absl::InvalidArgumentError(StrCat("the request is not a valid ", type));
  return absl::OkStatus();
}

absl::Status ReadMessage(grpc::ByteBuffer& buffer, google::protobuf::Message& message,
                         uint64_t limit) {
  if (!buffer.Valid() || buffer.Length() == 0) return absl::OkStatus();  // the empty message
  SliceReader slices(&buffer);
  if (!slices.status().ok()) {
    return absl::InvalidArgumentError(StrCat("unreadable ", message.GetDescriptor()->full_name()));
  }
  switch (slices.compression()) {
    case GRPC_COMPRESS_NONE:
      return ReadMessage(slices, Compression::kNone, message, limit);
    case GRPC_COMPRESS_GZIP:
      return ReadMessage(slices, Compression::kGzip, message, limit);
    case GRPC_COMPRESS_DEFLATE:
      return ReadMessage(slices, Compression::kDeflate, message, limit);
    default:
      return absl::UnimplementedError("the request's compression is not gzip or deflate");
  }
}

}  // namespace oa::grpc_front
