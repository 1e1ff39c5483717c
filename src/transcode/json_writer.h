// Message -> OpenAI's JSON: the request half of the gRPC front's transcoding.
//
// Differs from protobuf's JSON printer where OpenAI differs from proto3 JSON: field
// names are OpenAI's (WireName: snake_case as declared, or an explicit json_name);
// 64-bit integers are JSON numbers, not strings; unions, lists and extra fields take the
// forms json.proto's options give them (transcode/json_shape.h): a union is its set
// variant (with its tag), a list its array, an extra field's keys sit beside the others.
// Otherwise it is proto3 JSON: unset fields are left out (`optional` scalars are written
// whenever set, even to 0 or ""), Struct/Value/ListValue are plain JSON, bytes are base64.
//
// Usage:
//   std::string body = WriteJson(request, {.skip = path_fields});
#pragma once

#include <google/protobuf/message.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oa::transcode {

struct JsonWriteOptions {
  // Top-level fields left out (those bound to the URL path).
  std::vector<const google::protobuf::FieldDescriptor*> skip;
};

std::string WriteJson(const google::protobuf::Message& message,
                      const JsonWriteOptions& options = {});

// Whether the extra_fields key `key` of `message` is not to be written because a field
// of that name is set, or is sent `elsewhere` (in the URL path, as the streamed file): a
// key is sent once, from the field.
bool ExtraKeyTaken(const google::protobuf::Message& message, std::string_view key,
                   const std::vector<const google::protobuf::FieldDescriptor*>& elsewhere);

// The path ("tools[1].function.parameters") of the first float or double in `message`
// that is NaN or infinite, which JSON cannot carry; nullopt when there is none.
std::optional<std::string> FindNonFinite(const google::protobuf::Message& message);

// One field's value as JSON: `index` picks an element of a repeated field (-1 otherwise).
void AppendFieldJson(const google::protobuf::Message& message,
                     const google::protobuf::FieldDescriptor& field, int index, std::string& out);

// Text of a scalar field's value for a URL or form field: strings as they are, numbers
// in JSON form, bools as true/false, enums by name.
std::string ScalarText(const google::protobuf::Message& message,
                       const google::protobuf::FieldDescriptor& field, int index);

}  // namespace oa::transcode
