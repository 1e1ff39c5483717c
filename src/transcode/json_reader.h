// OpenAI's JSON -> the wire form of a message: the answer half of the gRPC front's
// transcoding. No message is built: the gateway sends what this writes.
//
// Lenient by design: the upstream is OpenAI, which adds fields, union variants and
// wider types before our protos do. A key no field takes, and a value whose JSON type
// does not fit its field (a string where a number was declared, a list with a null or a
// misfit element), go whole to the object's extra field (json.proto's `openai.v1.extra`),
// so they still reach the caller; a value no variant of a union takes goes to the
// union's `other`. Only where neither exists is a value dropped, and counted. Keys match
// OpenAI's names exactly. `null` leaves a field unset. Numbers kept in a
// google.protobuf.Value are doubles: an integer past 2^53 there loses precision. Unions
// and lists are read as json.proto's options say (transcode/json_shape.h).
//
// Usage:
//   std::string wire;
//   JsonReadResult r = ReadJsonWire(body, *message_type, wire);
//   if (!r.status.ok()) ...          // not JSON, or not of the message's JSON kind
//   if (r.mismatched > 0) ...        // some values were dropped; r.first_mismatch names one
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace oa::transcode {

struct JsonReadResult {
  absl::Status status;
  int mismatched = 0;          // values dropped because their type did not fit
  int kept = 0;                // values kept untyped: in extra fields or a union's other
  std::string first_mismatch;  // the path of the first one ("data[0].bytes")
};

// How deep the JSON may nest (Boost.JSON's own default is 32). A message deeper than
// about 100 levels is past what protobuf's parsers read by default; each JSON level
// kept in a Struct is two or three.
inline constexpr size_t kMaxJsonDepth = 256;

// Appends to `out` the wire form of the `type` that `text` reads as, without building the
// message: what the gRPC front sends. A type google.protobuf.Struct, Value or ListValue
// takes any JSON of its kind; a union or list message what its form takes; any other
// message a JSON object. JSON nested deeper than kMaxJsonDepth is not read. Fields come
// in the JSON's order; a key kept in the extra field is one occurrence of it each (a
// parser merges them), and a list is written unpacked (parsers take either).
JsonReadResult ReadJsonWire(std::string_view text, const google::protobuf::Descriptor& type,
                            std::string& out);

// The same into `message` (tests read what ReadJsonWire wrote this way). REQUIRES:
// `message` is empty.
JsonReadResult ReadJson(std::string_view text, google::protobuf::Message& message);

// Parses a wire form ReadJsonWire wrote into the empty `message`, however deep.
bool ParseWireForm(std::string_view wire, google::protobuf::Message& message);

}  // namespace oa::transcode
