#include "transcode/field_names.h"

namespace oa::transcode {
namespace {

// protoc's default json_name: underscores dropped, the letter after each one upper-cased.
std::string DefaultJsonName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool upper = false;
  for (char c : name) {
    if (c == '_') {
      upper = true;
    } else if (upper) {
      out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view WireName(const google::protobuf::FieldDescriptor& field) {
  if (field.has_json_name() && field.json_name() != DefaultJsonName(field.name())) {
    return field.json_name();
  }
  return field.name();
}

const google::protobuf::FieldDescriptor* FindByWireName(const google::protobuf::Descriptor& message,
                                                        std::string_view name) {
  if (const auto* field = message.FindFieldByName(std::string(name))) return field;
  for (int i = 0; i < message.field_count(); ++i) {  // explicit names, and camelCase ones
    const auto* field = message.field(i);
    if (field->json_name() == name || WireName(*field) == name) return field;
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
