#include "transcode/field_names.h"

namespace oa::transcode {
namespace {

// Whether `json_name` is protoc's default for `name`: underscores dropped, the letter
// after each one upper-cased. Compared in place: this runs for every key of every answer.
bool IsDefaultJsonName(std::string_view name, std::string_view json_name) {
  size_t j = 0;
  bool upper = false;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    const char want = upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
    if (j >= json_name.size() || json_name[j++] != want) return false;
  }
  return j == json_name.size();
}

}  // namespace

std::string_view WireName(const google::protobuf::FieldDescriptor& field) {
  if (field.has_json_name() && !IsDefaultJsonName(field.name(), field.json_name())) {
    return field.json_name();
  }
  return field.name();
}

const google::protobuf::FieldDescriptor* FindByWireName(const google::protobuf::Descriptor& message,
                                                        std::string_view name) {
  // Only OpenAI's name: a second spelling (camelCase, or the proto name where an explicit
  // one differs) would let two keys of one answer fill, or overwrite, one field.
  const auto* field = message.FindFieldByName(std::string(name));
  if (field != nullptr && WireName(*field) == name) return field;
  for (int i = 0; i < message.field_count(); ++i) {  // explicit names (include[])
    field = message.field(i);
    if (field->has_json_name() && WireName(*field) == name) return field;
  }
  return nullptr;
}

bool IsStruct(const google::protobuf::Descriptor& d) {
  return d.full_name() == "google.protobuf.Struct";
}
bool IsValue(const google::protobuf::Descriptor& d) {
  return d.full_name() == "google.protobuf.Value";
}
bool IsListValue(const google::protobuf::Descriptor& d) {
  return d.full_name() == "google.protobuf.ListValue";
}
bool IsFileUpload(const google::protobuf::Descriptor& d) {
  return d.full_name() == "openai.v1.FileUpload";
}
bool IsHttpBody(const google::protobuf::Descriptor& d) {
  return d.full_name() == "openai.v1.HttpBody";
}

}  // namespace oa::transcode
