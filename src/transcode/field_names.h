// How a proto field is named in OpenAI's JSON, query strings and form fields.
//
// OpenAI's names are snake_case, the same as the proto field names, so a field's name is
// used as written. Where OpenAI's name cannot be a proto identifier (`include[]`), the
// field carries it as an explicit `json_name`. protoc records a json_name for every field
// (lowerCamelCase by default), so only one that differs from that default counts.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>

namespace oa::transcode {

// The name OpenAI uses for `field`.
std::string_view WireName(const google::protobuf::FieldDescriptor& field);

// The field of `message` that OpenAI calls `name` (exactly: no other spelling), or nullptr.
const google::protobuf::FieldDescriptor* FindByWireName(const google::protobuf::Descriptor& message,
                                                        std::string_view name);

// Well-known messages whose JSON form is not an object of fields.
bool IsStruct(const google::protobuf::Descriptor& d);
bool IsValue(const google::protobuf::Descriptor& d);
bool IsListValue(const google::protobuf::Descriptor& d);
// openai.v1.FileUpload: a file part of a multipart/form-data body.
bool IsFileUpload(const google::protobuf::Descriptor& d);
// openai.v1.HttpBody: a response relayed as raw bytes with their content type.
bool IsHttpBody(const google::protobuf::Descriptor& d);

}  // namespace oa::transcode
