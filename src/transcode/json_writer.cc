#include "transcode/json_writer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "base/json_text.h"
#include "base/strings.h"
#include "transcode/field_names.h"
#include "transcode/json_shape.h"

namespace oa::transcode {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

template <class Float>
void AppendFloat(Float value, std::string& out) {
  if (!std::isfinite(value)) {  // JSON has no NaN or infinity
    out += "null";
    return;
  }
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);  // shortest round-trip
  out.append(text, result.ptr);
}

void AppendString(std::string_view s, std::string& out) {
  out += '"';
  out += JsonEscape(s);
  out += '"';
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A union's tag, written into the variant's object unless the object has that key.
struct Tag {
  std::string_view key;
  std::string_view value;
};

void AppendMessage(const Message& message, const JsonWriteOptions* options, const Tag& tag,
                   std::string& out);

void AppendValue(const Message& value, std::string& out) {
  const Reflection& r = *value.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r.ListFields(value, &set);
  if (set.empty()) {
    out += "null";
    return;
  }
  const FieldDescriptor& kind = *set.front();  // a oneof: at most one is set
  if (kind.name() == "null_value") {
    out += "null";
  } else {
    AppendFieldJson(value, kind, -1, out);
  }
}

// The entries of a google.protobuf.Struct sorted by key (map order is unspecified;
// sorted keys make the output deterministic).
std::vector<std::pair<std::string_view, const Message*>> SortedEntries(const Message& message) {
  const FieldDescriptor* fields = message.GetDescriptor()->FindFieldByName("fields");
  const Reflection& r = *message.GetReflection();
  const int n = r.FieldSize(message, fields);
  std::vector<std::pair<std::string_view, const Message*>> entries;
  entries.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const Message& entry = r.GetRepeatedMessage(message, fields, i);
    const Descriptor& e = *entry.GetDescriptor();
    std::string scratch;  // map entries hold real strings: the reference is theirs
    const std::string& key =
        entry.GetReflection()->GetStringReference(entry, e.FindFieldByNumber(1), &scratch);
    entries.emplace_back(key, &entry.GetReflection()->GetMessage(entry, e.FindFieldByNumber(2)));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

void AppendStruct(const Message& message, const Tag& tag, std::string& out) {
  auto entries = SortedEntries(message);
  out += '{';
  bool first = true;
  if (!tag.key.empty()) {  // the union's tag, whatever the object says its key is
    AppendString(tag.key, out);
    out += ':';
    AppendString(tag.value, out);
    first = false;
    std::erase_if(entries, [&](const auto& e) { return e.first == tag.key; });
  }
  for (const auto& [key, value] : entries) {
    if (!first) out += ',';
    first = false;
    AppendString(key, out);
    out += ':';
    AppendValue(*value, out);
  }
  out += '}';
}

void AppendListValue(const Message& list, std::string& out) {
  const FieldDescriptor* values = list.GetDescriptor()->FindFieldByName("values");
  const Reflection& r = *list.GetReflection();
  out += '[';
  for (int i = 0, n = r.FieldSize(list, values); i < n; ++i) {
    if (i > 0) out += ',';
    AppendValue(r.GetRepeatedMessage(list, values, i), out);
  }
  out += ']';
}

// The set field of a union message, or nullptr.
const FieldDescriptor* SetVariant(const Message& message) {
  std::vector<const FieldDescriptor*> set;
  message.GetReflection()->ListFields(message, &set);
  return set.empty() ? nullptr : set.front();
}

void AppendAnyMessage(const Message& message, std::string& out) {
  const Descriptor& d = *message.GetDescriptor();
  if (IsStruct(d)) {
    AppendStruct(message, {}, out);
    return;
  }
  if (IsValue(d)) {
    AppendValue(message, out);
    return;
  }
  if (IsListValue(d)) {
    AppendListValue(message, out);
    return;
  }
  const JsonShape& shape = ShapeOf(d);
  switch (shape.form) {
    case JsonShape::Form::kList: {
      out += '[';
      for (int i = 0, n = message.GetReflection()->FieldSize(message, shape.items); i < n; ++i) {
        if (i > 0) out += ',';
        AppendFieldJson(message, *shape.items, i, out);
      }
      out += ']';
      return;
    }
    case JsonShape::Form::kTaggedUnion:
    case JsonShape::Form::kKindUnion: {
      const FieldDescriptor* variant = SetVariant(message);
      if (variant == nullptr) {  // a union left empty has no value
        out += "null";
        return;
      }
      if (shape.form == JsonShape::Form::kTaggedUnion && variant != shape.other &&
          variant->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const Tag tag{shape.tag_key, shape.TagOf(*variant)};
        const Message& sub = message.GetReflection()->GetMessage(message, variant);
        if (IsStruct(*sub.GetDescriptor())) {
          AppendStruct(sub, tag, out);
        } else {
          out += '{';
          AppendMessage(sub, nullptr, tag, out);
          out += '}';
        }
        return;
      }
      AppendFieldJson(message, *variant, -1, out);
      return;
    }
    case JsonShape::Form::kObject:
      out += '{';
      AppendMessage(message, nullptr, {}, out);
      out += '}';
      return;
  }
}

// A map field as a JSON object; keys are JSON strings whatever their proto type.
void AppendMap(const Message& message, const FieldDescriptor& field, std::string& out) {
  const Reflection& r = *message.GetReflection();
  const FieldDescriptor& key = *field.message_type()->map_key();
  const FieldDescriptor& value = *field.message_type()->map_value();
  std::vector<std::pair<std::string, const Message*>> entries;
  for (int i = 0, n = r.FieldSize(message, &field); i < n; ++i) {
    const Message& entry = r.GetRepeatedMessage(message, &field, i);
    entries.emplace_back(ScalarText(entry, key, -1), &entry);
  }
  std::sort(entries.begin(), entries.end());
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    AppendString(entries[i].first, out);
    out += ':';
    AppendFieldJson(*entries[i].second, value, -1, out);
  }
  out += '}';
}

void AppendMessage(const Message& message, const JsonWriteOptions* options, const Tag& tag,
                   std::string& out) {
  const Reflection& r = *message.GetReflection();
  const JsonShape& shape = ShapeOf(*message.GetDescriptor());
  std::vector<const FieldDescriptor*> fields;
  r.ListFields(message, &fields);
  if (options != nullptr) {
    const auto& skip = options->skip;
    std::erase_if(fields, [&](const FieldDescriptor* f) {
      return std::find(skip.begin(), skip.end(), f) != skip.end();
    });
  }
  std::vector<std::pair<std::string_view, const Message*>> extra;
  if (shape.extra != nullptr && r.HasField(message, shape.extra)) {
    extra = SortedEntries(r.GetMessage(message, shape.extra));
    std::erase_if(fields, [&](const FieldDescriptor* f) { return f == shape.extra; });
    std::erase_if(extra, [&](const auto& entry) {
      return ExtraKeyTaken(
          message, entry.first,
          options != nullptr ? options->skip : std::vector<const FieldDescriptor*>{});
    });
  }
  bool first = true;
  const auto name = [&](std::string_view key) {
    if (!first) out += ',';
    first = false;
    AppendString(key, out);
    out += ':';
  };
  if (!tag.key.empty()) {
    // The union's tag says which variant this is: a variant's own field or extra key of
    // that name (its `type`, set to anything) is not written.
    name(tag.key);
    AppendString(tag.value, out);
    std::erase_if(fields, [&](const FieldDescriptor* f) { return WireName(*f) == tag.key; });
    std::erase_if(extra, [&](const auto& e) { return e.first == tag.key; });
  }
  for (const FieldDescriptor* field : fields) {
    name(WireName(*field));
    if (field->is_map()) {
      AppendMap(message, *field, out);
    } else if (field->is_repeated()) {
      out += '[';
      for (int i = 0, n = r.FieldSize(message, field); i < n; ++i) {
        if (i > 0) out += ',';
        AppendFieldJson(message, *field, i, out);
      }
      out += ']';
    } else {
      AppendFieldJson(message, *field, -1, out);
    }
  }
  for (const auto& [key, value] : extra) {
    name(key);
    AppendValue(*value, out);
  }
}

}  // namespace

bool ExtraKeyTaken(const Message& message, std::string_view key,
                   const std::vector<const FieldDescriptor*>& elsewhere) {
  const FieldDescriptor* field = FindByWireName(*message.GetDescriptor(), key);
  if (field == nullptr || field == ShapeOf(*message.GetDescriptor()).extra) return false;
  const Reflection& r = *message.GetReflection();
  return (field->is_repeated() ? r.FieldSize(message, field) > 0 : r.HasField(message, field)) ||
         std::find(elsewhere.begin(), elsewhere.end(), field) != elsewhere.end();
}

namespace {

bool IsFloating(const FieldDescriptor& field) {
  return field.cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
         field.cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
}

// The fields of a message type that can hold a float or a double, themselves or in a
// message inside: all FindNonFinite needs to look at. Most of a request's messages hold
// none (a chat message, its content parts), and walking every set field of each by
// reflection cost a tenth of a gRPC call. Worked out once per type, per thread.
class FloatingFields {
 public:
  const std::vector<const FieldDescriptor*>& Of(const Descriptor& type) {
    if (const auto found = fields_.find(&type); found != fields_.end()) return found->second;
    std::vector<const FieldDescriptor*> fields;
    for (int i = 0; i < type.field_count(); ++i) {
      const FieldDescriptor* field = type.field(i);
      if (IsFloating(*field) || (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                                 MayHold(*field->message_type()))) {
        fields.push_back(field);
      }
    }
    return fields_.emplace(&type, std::move(fields)).first->second;
  }

 private:
  // Whether `type` holds a float or double anywhere inside. A type met again while its own
  // answer is being worked out (a recursive type) counts as holding one: never wrong,
  // only slower.
  bool MayHold(const Descriptor& type) {
    if (const auto found = may_hold_.find(&type); found != may_hold_.end()) return found->second;
    may_hold_[&type] = true;
    bool holds = false;
    for (int i = 0; i < type.field_count() && !holds; ++i) {
      const FieldDescriptor* field = type.field(i);
      holds = IsFloating(*field) || (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                                     MayHold(*field->message_type()));
    }
    may_hold_[&type] = holds;
    return holds;
  }

  absl::flat_hash_map<const Descriptor*, std::vector<const FieldDescriptor*>> fields_;
  absl::flat_hash_map<const Descriptor*, bool> may_hold_;
};

}  // namespace

std::optional<std::string> FindNonFinite(const Message& message) {
  thread_local FloatingFields floating;
  const Reflection& r = *message.GetReflection();
  for (const FieldDescriptor* field : floating.Of(*message.GetDescriptor())) {
    const bool repeated = field->is_repeated();
    if (repeated ? r.FieldSize(message, field) == 0 : !r.HasField(message, field)) continue;
    const int count = repeated ? r.FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const auto at = [&] { return repeated ? StrCat(field->name(), "[", i, "]") : field->name(); };
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_DOUBLE:
          if (!std::isfinite(repeated ? r.GetRepeatedDouble(message, field, i)
                                      : r.GetDouble(message, field))) {
            return at();
          }
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          if (!std::isfinite(repeated ? r.GetRepeatedFloat(message, field, i)
                                      : r.GetFloat(message, field))) {
            return at();
          }
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE: {
          const Message& inner =
              repeated ? r.GetRepeatedMessage(message, field, i) : r.GetMessage(message, field);
          if (std::optional<std::string> path = FindNonFinite(inner)) {
            return StrCat(at(), ".", *path);
          }
          break;
        }
        default:
          break;
      }
    }
  }
  return std::nullopt;
}

std::string WriteJson(const Message& message, const JsonWriteOptions& options) {
  std::string out;
  const Descriptor& d = *message.GetDescriptor();
  if (IsStruct(d) || IsValue(d) || IsListValue(d) || ShapeOf(d).form != JsonShape::Form::kObject) {
    AppendAnyMessage(message, out);
    return out;
  }
  out += '{';
  AppendMessage(message, &options, {}, out);
  out += '}';
  return out;
}

void AppendFieldJson(const Message& message, const FieldDescriptor& field, int index,
                     std::string& out) {
  const Reflection& r = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      AppendAnyMessage(
          repeated ? r.GetRepeatedMessage(message, &field, index) : r.GetMessage(message, &field),
          out);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = repeated
                                 ? r.GetRepeatedStringReference(message, &field, index, &scratch)
                                 : r.GetStringReference(message, &field, &scratch);
      AppendString(field.type() == FieldDescriptor::TYPE_BYTES ? Base64(s) : s, out);
      return;
    }
    case FieldDescriptor::CPPTYPE_ENUM:
      AppendString(ScalarText(message, field, index), out);
      return;
    default:
      out += ScalarText(message, field, index);
  }
}

std::string ScalarText(const Message& message, const FieldDescriptor& field, int index) {
  const Reflection& r = *message.GetReflection();
  const bool repeated = index >= 0;
  std::string out;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return StrCat(repeated ? r.GetRepeatedInt32(message, &field, index)
                             : r.GetInt32(message, &field));
    case FieldDescriptor::CPPTYPE_INT64:
      return StrCat(repeated ? r.GetRepeatedInt64(message, &field, index)
                             : r.GetInt64(message, &field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return StrCat(repeated ? r.GetRepeatedUInt32(message, &field, index)
                             : r.GetUInt32(message, &field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return StrCat(repeated ? r.GetRepeatedUInt64(message, &field, index)
                             : r.GetUInt64(message, &field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendFloat(
          repeated ? r.GetRepeatedDouble(message, &field, index) : r.GetDouble(message, &field),
          out);
      return out;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(
          repeated ? r.GetRepeatedFloat(message, &field, index) : r.GetFloat(message, &field), out);
      return out;
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r.GetRepeatedBool(message, &field, index) : r.GetBool(message, &field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r.GetRepeatedEnum(message, &field, index) : r.GetEnum(message, &field))
          ->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r.GetRepeatedString(message, &field, index) : r.GetString(message, &field);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return out;
}

}  // namespace oa::transcode
