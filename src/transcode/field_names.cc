#include "transcode/field_names.h"

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace oa::transcode {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

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

std::string_view ComputeWireName(const FieldDescriptor& field) {
  if (field.has_json_name() && !IsDefaultJsonName(field.name(), field.json_name())) {
    return field.json_name();
  }
  return field.name();
}

// One message's fields by OpenAI's name, and each field's name by its index. Only
// OpenAI's name: a second spelling (camelCase, or the proto name where an explicit one
// differs) would let two keys of one answer fill, or overwrite, one field.
struct MessageNames {
  explicit MessageNames(const Descriptor& message) {
    names.reserve(static_cast<size_t>(message.field_count()));
    for (int i = 0; i < message.field_count(); ++i) {
      const FieldDescriptor* field = message.field(i);
      names.push_back(ComputeWireName(*field));
      fields.emplace(names.back(), field);
    }
  }
  std::vector<std::string_view> names;  // views into the descriptors, which outlive them
  absl::flat_hash_map<std::string_view, const FieldDescriptor*> fields;
};

// Each thread's names of the messages it met: every key of every answer is looked up,
// and the descriptor's own lookups (a std::string made per key, the default json_name
// worked out per field) cost a call more than the rest of reading it. Descriptors are
// immutable and live as long as the process, so what is found stays true; per thread,
// it takes no lock.
const MessageNames& NamesOf(const Descriptor& message) {
  thread_local absl::flat_hash_map<const Descriptor*, std::unique_ptr<MessageNames>> cache;
  std::unique_ptr<MessageNames>& names = cache[&message];
  if (names == nullptr) names = std::make_unique<MessageNames>(message);
  return *names;
}

}  // namespace

std::string_view WireName(const FieldDescriptor& field) {
  if (field.is_extension()) return ComputeWireName(field);
  return NamesOf(*field.containing_type()).names[static_cast<size_t>(field.index())];
}

const FieldDescriptor* FindByWireName(const Descriptor& message, std::string_view name) {
  const MessageNames& names = NamesOf(message);
  const auto found = names.fields.find(name);
  return found == names.fields.end() ? nullptr : found->second;
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
