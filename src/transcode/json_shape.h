// How a message is written as OpenAI's JSON: an object of its fields, a union, or a list.
//
// proto/openai/v1/json.proto declares the options; this reads them once per message type
// and keeps the answer per thread (descriptors never change after start-up, so the cache
// is never invalidated and takes no lock). The JSON reader and writer are its users.
//
// Usage:
//   const JsonShape& shape = ShapeOf(*message.GetDescriptor());
//   if (shape.form == JsonShape::Form::kTaggedUnion) {
//     const FieldDescriptor* variant = shape.VariantForTag(tag);  // nullptr: other/none
//   }
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oa::transcode {

struct JsonShape {
  enum class Form {
    kObject,       // {"field": value, ...}; the usual case
    kTaggedUnion,  // the set variant's object, with `tag_key: tag` in it
    kKindUnion,    // the set variant's value, chosen by the JSON value's kind
    kList,         // the JSON array of `items`
  };
  Form form = Form::kObject;
  std::string tag_key;  // kTaggedUnion: "type", "role", ...
  // Unions: the variants in declaration order with their tags ("" for kind unions),
  // without `other`.
  std::vector<std::pair<std::string, const google::protobuf::FieldDescriptor*>> variants;
  // Unions: the google.protobuf.Value variant taking what no variant takes; may be null.
  const google::protobuf::FieldDescriptor* other = nullptr;
  // kList: the repeated field whose elements the array holds.
  const google::protobuf::FieldDescriptor* items = nullptr;
  // kObject: the google.protobuf.Struct field holding keys no field takes; may be null.
  const google::protobuf::FieldDescriptor* extra = nullptr;
  // kObject: the string field that takes a whole answer sent as text, not JSON; may be null.
  const google::protobuf::FieldDescriptor* text_answer = nullptr;

  bool is_union() const { return form == Form::kTaggedUnion || form == Form::kKindUnion; }
  // The variant whose tag is `tag`, or nullptr.
  const google::protobuf::FieldDescriptor* VariantForTag(std::string_view tag) const;
  // The tag of `variant` ("" when it has none).
  std::string_view TagOf(const google::protobuf::FieldDescriptor& variant) const;
};

// REQUIRES: `message` stays alive as long as the thread uses the result (descriptors of
// the API live for the whole process).
const JsonShape& ShapeOf(const google::protobuf::Descriptor& message);

}  // namespace oa::transcode
