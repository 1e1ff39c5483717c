// Request message -> the HTTP request OpenAI expects, by the RPC's google.api.http rule
// (the standard semantics, nothing more):
//   - path variables take their fields' values, percent-encoded (a `**` variable keeps
//     its slashes);
//   - body "*": every other field goes in the body;
//   - body "<field>": that field is the body, every other field goes in the query;
//   - no body: every other field goes in the query (repeated fields repeat the key;
//     nested messages and maps use OpenAI's brackets: `effective_at[gt]=`, `metadata[k]=`).
// The streaming form of an SSE call must ask for the stream, and the unary form must
// not: a bool field `stream` (in the request, or in its body field) is set to true or
// cleared accordingly, wherever the rule puts it; where there is no such field, a
// streaming call sets an unset `stream_format` to "sse" (audio speech).
// A body is JSON (json_writer.h) unless an openai.v1.FileUpload field is set: then it is
// multipart/form-data (multipart.h).
//
// Usage:
//   absl::StatusOr<HttpCall> call = BuildHttpCall(*route, request, /*stream_events=*/true);
//   // call->method "POST", call->target "/v1/chat/completions", call->body {...,"stream":true}
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/statusor.h"
#include "route/route_table.h"

namespace oa::transcode {

struct HttpCall {
  std::string method;        // "GET", "POST", ...
  std::string target;        // gateway-side: "/v1/...", with the query string if any
  std::string content_type;  // empty when there is no body
  std::string body;
  // Client-streaming uploads only: the file part of `streamed_file` is left open at the
  // end of `body`; the file bytes of later messages follow it, then `body_tail`.
  const google::protobuf::FieldDescriptor* streamed_file = nullptr;
  std::string body_tail;
};

// `stream_events`: the RPC streams SSE events. Sets or clears `stream` in `request` (see
// above). For a client-streaming RPC, `request` is the first message and the first
// singular FileUpload field it sets is the streamed one. Fails with INVALID_ARGUMENT when
// a path variable's field is unset, empty, "." or "..", or an upload's first message sets
// no file.
absl::StatusOr<HttpCall> BuildHttpCall(const route::Route& route,
                                       google::protobuf::Message& request, bool stream_events);

}  // namespace oa::transcode
