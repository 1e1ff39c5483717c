// The response side of a transcoded call (the request side is http_call.h): an upstream's
// HTTP answer, read piece by piece as it arrives, into response messages of the RPC's
// output type, serialized and ready to send.
//
//   answer     RPC output           messages
//   2xx JSON   unary                one, at Finish (the body is held whole, to 64 MiB)
//   2xx text   unary, with a        one, at Finish: the text in that field (json.proto's
//              text_answer field    `openai.v1.text_answer`: transcriptions as text/SRT/VTT)
//   2xx JSON   server-streaming     one, at Finish
//   2xx SSE    server-streaming     one per event, as each completes ([DONE] is dropped)
//   2xx SSE    unary                none: Finish fails (use the streaming form)
//   2xx any    google.api.HttpBody  unary: one at Finish; streaming: one per piece, the
//                                   first with the content type
//   other      any                  none: kind() is kError, error_body() holds its start
//
// Usage:
//   AnswerReader answer(output_type, streaming, rpc, factory);
//   answer.Start(status, content_type);
//   if (!answer.Feed(piece, messages)) ... answer.failure() ...   // then send `messages`
//   absl::Status done = answer.Finish(messages);                   // the last ones
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "transcode/sse_reader.h"

namespace oa::transcode {

class AnswerReader {
 public:
  enum class Kind { kError, kJson, kBytes, kEvents, kUnexpectedEvents };

  // `output` and `factory` outlive the reader; `rpc` names the method in messages.
  AnswerReader(const google::protobuf::Descriptor& output, bool streaming, std::string_view rpc,
               google::protobuf::MessageFactory& factory);

  // The answer's status line and content type, before any piece.
  void Start(int http_status, std::string_view content_type);
  Kind kind() const { return kind_; }

  // Reads the next piece of the body, appending the messages it completes to `out`.
  // False once the answer cannot become messages (failure() says why); `out` then holds
  // the messages before the failure, and nothing more is to be fed.
  bool Feed(std::string_view piece, std::vector<std::string>& out);

  // After the last piece: appends the last messages to `out` (a unary call's one), or
  // says why the answer cannot become them. Not for kError: the caller maps that.
  absl::Status Finish(std::vector<std::string>& out);

  const absl::Status& failure() const { return failure_; }
  // kError (and kUnexpectedEvents): the start of the body, up to 1 MiB.
  const std::string& error_body() const { return collected_; }
  // The data of the error event that ended a stream, to pass on whole; else empty.
  const std::string& error_event() const { return error_event_; }
  // Values of the upstream's JSON that did not fit the output type and were dropped.
  int mismatched() const { return mismatched_; }
  const std::string& first_mismatch() const { return first_mismatch_; }

 private:
  std::unique_ptr<google::protobuf::Message> NewOutput() const;
  bool IsJson() const;  // whether the answer's content type is JSON
  std::string HttpBodyMessage(std::string_view data);
  bool Collect(std::string_view piece, size_t limit, bool fail_past_it);
  bool ReadEvents(std::string_view piece, std::vector<std::string>& out);
  void Count(int mismatched, const std::string& first);

  const google::protobuf::Descriptor& output_;
  const bool streaming_;
  const std::string_view rpc_;
  // The output type's, asked for once: a factory shared by the workers takes a lock for
  // each lookup, and a stream makes a message per event.
  const google::protobuf::Message& prototype_;
  Kind kind_ = Kind::kError;
  std::string content_type_;
  bool content_type_sent_ = false;
  std::string collected_;
  SseReader events_;
  absl::Status failure_;
  std::string error_event_;
  int mismatched_ = 0;
  std::string first_mismatch_;
};

}  // namespace oa::transcode
