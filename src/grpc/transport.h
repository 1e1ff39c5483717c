// What one gRPC call needs of the server that carries it. The call itself (call.h: the
// request transcoded, admitted, forwarded, the answer turned into messages) is written
// once against this interface; grpc++'s callback server implements it (front.cc), and so
// can any other server of gRPC's protocol.
//
// Used on the call's worker, except where said. A request asked for (StartRead) and a
// message sent (StartWrite) complete through the CallState's notifications (read_done,
// write_done), notified on that worker; a cancellation or a passed deadline notifies
// CallState::cancelled.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace oa::grpc_front {

class CallTransport {
 public:
  virtual ~CallTransport() = default;

  // Metadata the client gets with its first message (or with the status, if none goes
  // out). REQUIRES: before the first StartWrite or Finish.
  virtual void AddInitialMetadata(std::string name, std::string value) = 0;
  // Metadata the client gets with the status. REQUIRES: before Finish.
  virtual void AddTrailingMetadata(std::string name, std::string value) = 0;

  // Asks for the client's next message; read_done tells when it is there (read_ok) or
  // the client is done sending (or gone). REQUIRES: no read under way.
  virtual void StartRead() = 0;
  // Parses the message the last completed read brought into `message` (message_reader.h:
  // inflated within `limit`), and lets its bytes go.
  virtual absl::Status TakeRequest(google::protobuf::Message& message, uint64_t limit) = 0;

  // Sends `message`. True when the transport took it at once, as good as sent (nothing
  // follows); false when write_done will tell: it went (write_ok), or the call is gone.
  // REQUIRES: no write under way.
  virtual bool StartWrite(std::string message) = 0;

  // Ends the call with `status`, after the message `last` if there is one. The transport
  // may be gone as soon as this returns.
  virtual void Finish(grpc::Status status, const std::string* last) = 0;

  // Whether the client cancelled the call or its deadline passed. Any thread.
  virtual bool IsCancelled() const = 0;
  // The client's deadline (the far future when it set none).
  virtual std::chrono::system_clock::time_point deadline() const = 0;
};

}  // namespace oa::grpc_front
