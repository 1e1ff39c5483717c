// The record of a finished call, from either front: its access line and its metrics.
//
//   access front=rest client=10.0.0.7:51234 method=POST path=/v1/chat/completions
//     rpc=openai.v1.ChatService/CreateChatCompletion status=200 ms=812.4 upstream_ms=790.2
//     bytes_in=312 bytes_out=2048 key=1a2b3c4d request_id=req_abc [retried=1]
//     [ended=client_gone|upstream_cut]
//
// A WebSocket session is one call, recorded when it ends (status=101): its bytes are the
// frames' bytes each way, and it adds frames_in=N frames_out=N closed_by=client|upstream|
// gateway close_code=N (or -).
//
// gRPC calls add grpc_status=N right after rpc=; their status= is the upstream's HTTP
// status (0 when there was no upstream call). request_id is the upstream's x-request-id,
// else the caller's X-Request-Id, else "-". The key is written only as its short fingerprint;
// the path never carries its query. With --log-format json the same fields form a JSON
// object (numbers as numbers).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "observe/front.h"

namespace oa::observe {

// A WebSocket session's traffic, counted by the relay: bytes and frames each way (in:
// from the client), and how it ended.
struct WebSocketTally {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // Who sent the first Close frame, or else whose connection ended first: "client",
  // "upstream" or "gateway" (idle, drain, or bytes that were not WebSocket).
  std::string_view closed_by = "-";
  std::optional<uint16_t> close_code;  // of that Close frame, when it had one
};

// Views only: everything it points at must outlive the LogAccess() call.
struct AccessRecord {
  Front front = Front::kRest;
  std::string_view client;  // the peer's address
  std::string_view method;  // the HTTP method of the call
  std::string_view target;  // its path, with or without a query (which is cut off)
  std::string_view rpc;     // "pkg.Service/Method", or "unmodelled", or "-"
  int status = 0;
  std::optional<int> grpc_status;
  absl::Duration elapsed;
  std::string_view authorization;      // the caller's Authorization value; only hashed
  std::string_view client_request_id;  // the caller's X-Request-Id, if it sent one
  uint64_t bytes_in = 0;               // request body bytes taken from the caller
  uint64_t bytes_out = 0;  // response body bytes written to it, relayed or the gateway's own
  // The exchange with the upstream, when the call had one (call/call.h fills these).
  std::string_view upstream_request_id;  // the upstream's x-request-id
  std::optional<absl::Duration> upstream_first_byte;
  bool retried = false;       // a pooled connection failed and a new one was used
  bool client_gone = false;   // the caller left before the answer was complete
  bool upstream_cut = false;  // the upstream failed after the answer had started
  // A WebSocket session, once the upstream switched protocols: its bytes are bytes_in and
  // bytes_out.
  const WebSocketTally* websocket = nullptr;
};

// Counts the call in metrics() and writes its line at info level (no line when info is
// off). Fronts call it through call::Call::Record.
void RecordCall(const AccessRecord& record);

}  // namespace oa::observe
