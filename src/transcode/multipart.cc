#include "transcode/multipart.h"

#include <openssl/rand.h>

#include <algorithm>

#include "base/strings.h"
#include "transcode/field_names.h"
#include "transcode/json_shape.h"
#include "transcode/json_writer.h"

namespace oa::transcode {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool IsFileField(const FieldDescriptor& field) {
  return field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         IsFileUpload(*field.message_type());
}

bool IsJsonMessage(const FieldDescriptor& field) {
  if (field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return false;
  const auto& d = *field.message_type();
  return IsStruct(d) || IsValue(d) || IsListValue(d);
}

// Names and filenames go inside quotes in a header: no quotes, no line breaks.
std::string HeaderSafe(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"') {
      out += "%22";
    } else if (c == '\r' || c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  Writer() {
    unsigned char random[12];
    RAND_bytes(random, sizeof random);
    boundary_ = "oa-bypass-";
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char b : random) {
      boundary_ += kHex[b >> 4];
      boundary_ += kHex[b & 15];
    }
  }

  void Field(const Message& message, const FieldDescriptor& field, const std::string& name) {
    const auto& r = *message.GetReflection();
    if (field.is_map()) {
      for (int i = 0, n = r.FieldSize(message, &field); i < n; ++i) {
        const Message& entry = r.GetRepeatedMessage(message, &field, i);
        const auto& d = *entry.GetDescriptor();
        Element(entry, *d.map_value(), -1,
                StrCat(name, "[", ScalarText(entry, *d.map_key(), -1), "]"));
      }
    } else if (field.is_repeated()) {
      // Lists use the `key[]` convention of OpenAI's SDKs, files included (image[]).
      const std::string key = name.ends_with("]") ? name : StrCat(name, "[]");
      for (int i = 0, n = r.FieldSize(message, &field); i < n; ++i) {
        Element(message, field, i, key);
      }
    } else {
      Element(message, field, -1, name);
    }
  }

  MultipartBody Finish() {
    body_ += StrCat("--", boundary_, "--\r\n");
    return {StrCat("multipart/form-data; boundary=", boundary_), std::move(body_), ""};
  }

  // Ends the body inside the file part of `field`, which must come last.
  MultipartBody FinishOpen(const Message& message, const FieldDescriptor& field) {
    Element(message, field, -1, std::string(WireName(field)), /*open=*/true);
    return {StrCat("multipart/form-data; boundary=", boundary_), std::move(body_),
            StrCat("\r\n--", boundary_, "--\r\n")};
  }

 private:
  void Element(const Message& message, const FieldDescriptor& field, int index,
               const std::string& name, bool open = false) {
    const auto& r = *message.GetReflection();
    if (field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      Part(name, "", "", ScalarText(message, field, index));
      return;
    }
    const Message& sub =
        index >= 0 ? r.GetRepeatedMessage(message, &field, index) : r.GetMessage(message, &field);
    if (IsFileField(field)) {
      const auto& d = *sub.GetDescriptor();
      const auto& sr = *sub.GetReflection();
      std::string filename = sr.GetString(sub, d.FindFieldByName("filename"));
      std::string type = sr.GetString(sub, d.FindFieldByName("content_type"));
      if (filename.empty()) filename = name;
      if (type.empty()) type = "application/octet-stream";
      Part(name, filename, type, sr.GetString(sub, d.FindFieldByName("data")), open);
    } else if (IsJsonMessage(field)) {
      std::string json;
      AppendFieldJson(message, field, index, json);
      Part(name, "", "", json);
    } else {
      Object(sub, name);
    }
  }

  // A message field as form fields: a union as its set variant, a list as its items,
  // an object as `name[key]` fields.
  void Object(const Message& sub, const std::string& name) {
    const JsonShape& shape = ShapeOf(*sub.GetDescriptor());
    const auto& sr = *sub.GetReflection();
    if (shape.form == JsonShape::Form::kList) {
      Field(sub, *shape.items, name);
      return;
    }
    if (!shape.is_union()) {
      Fields(sub, name, {});
      return;
    }
    std::vector<const FieldDescriptor*> set;
    sr.ListFields(sub, &set);
    if (set.empty()) return;
    const FieldDescriptor& variant = *set.front();
    const bool tagged = shape.form == JsonShape::Form::kTaggedUnion && &variant != shape.other &&
                        variant.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (!tagged) {
      Element(sub, variant, -1, name);
      return;
    }
    const Message& object = sr.GetMessage(sub, &variant);
    if (IsJsonMessage(variant)) {  // a free object: the union as one JSON part
      Part(name, "", "", WriteJson(sub));
      return;
    }
    // As in JSON, the union's tag says which variant this is, whatever the variant's own
    // field or extra key of that name holds.
    Part(StrCat(name, "[", shape.tag_key, "]"), "", "", shape.TagOf(variant));
    Fields(object, name, shape.tag_key);
  }

  // The set fields of an object as `name[key]` fields, and its extra keys that no set
  // field writes; a field or extra key named `skip_key` is left out.
  void Fields(const Message& object, const std::string& name, std::string_view skip_key) {
    const JsonShape& shape = ShapeOf(*object.GetDescriptor());
    std::vector<const FieldDescriptor*> set;
    object.GetReflection()->ListFields(object, &set);
    for (const FieldDescriptor* f : set) {
      if (f == shape.extra) {
        Extra(object, object.GetReflection()->GetMessage(object, f), StrCat(name, "["), "]", {},
              skip_key);
      } else if (WireName(*f) != skip_key) {
        Field(object, *f, StrCat(name, "[", WireName(*f), "]"));
      }
    }
  }

 public:
  // The keys of `owner`'s extra field (a google.protobuf.Struct) as form fields, but
  // those a field of `owner` writes (ExtraKeyTaken) or named `skip_key`: strings as they
  // are, anything else as JSON.
  void Extra(const Message& owner, const Message& extra, std::string_view before,
             std::string_view after, const std::vector<const FieldDescriptor*>& elsewhere,
             std::string_view skip_key = {}) {
    const FieldDescriptor* fields = extra.GetDescriptor()->FindFieldByName("fields");
    const auto& r = *extra.GetReflection();
    for (int i = 0, n = r.FieldSize(extra, fields); i < n; ++i) {
      const Message& entry = r.GetRepeatedMessage(extra, fields, i);
      const auto& d = *entry.GetDescriptor();
      const std::string key = entry.GetReflection()->GetString(entry, d.FindFieldByNumber(1));
      if (key == skip_key || ExtraKeyTaken(owner, key, elsewhere)) continue;
      const Message& value = entry.GetReflection()->GetMessage(entry, d.FindFieldByNumber(2));
      const FieldDescriptor* string_value = value.GetDescriptor()->FindFieldByName("string_value");
      std::string text;
      if (value.GetReflection()->HasField(value, string_value)) {
        text = value.GetReflection()->GetString(value, string_value);
      } else {
        AppendFieldJson(entry, *d.FindFieldByNumber(2), -1, text);
      }
      Part(StrCat(before, key, after), "", "", text);
    }
  }

 private:
  void Part(std::string_view name, std::string_view filename, std::string_view type,
            std::string_view data, bool open = false) {
    body_ += StrCat("--", boundary_, "\r\nContent-Disposition: form-data; name=\"",
                    HeaderSafe(name), "\"");
    if (!filename.empty()) body_ += StrCat("; filename=\"", HeaderSafe(filename), "\"");
    body_ += "\r\n";
    if (!type.empty()) body_ += StrCat("Content-Type: ", HeaderSafe(type), "\r\n");
    body_ += "\r\n";
    body_.append(data);
    if (!open) body_ += "\r\n";
  }

  std::string boundary_;
  std::string body_;
};

}  // namespace

bool HasFileUpload(const Message& message, const std::vector<const FieldDescriptor*>& fields) {
  const auto& r = *message.GetReflection();
  for (const FieldDescriptor* field : fields) {
    if (!IsFileField(*field)) continue;
    if (field->is_repeated() ? r.FieldSize(message, field) > 0 : r.HasField(message, field)) {
      return true;
    }
  }
  return false;
}

MultipartBody WriteMultipart(const Message& message,
                             const std::vector<const FieldDescriptor*>& fields,
                             const FieldDescriptor* streamed) {
  Writer writer;
  const auto& r = *message.GetReflection();
  for (const FieldDescriptor* field : fields) {
    if (field == streamed) continue;
    const bool set =
        field->is_repeated() ? r.FieldSize(message, field) > 0 : r.HasField(message, field);
    if (!set) continue;
    if (field == ShapeOf(*message.GetDescriptor()).extra) {
      // Fields not among `fields` are sent elsewhere (the URL path): not again.
      std::vector<const FieldDescriptor*> elsewhere;
      const auto& d = *message.GetDescriptor();
      for (int i = 0; i < d.field_count(); ++i) {
        if (std::find(fields.begin(), fields.end(), d.field(i)) == fields.end()) {
          elsewhere.push_back(d.field(i));
        }
      }
      if (streamed != nullptr) elsewhere.push_back(streamed);
      writer.Extra(message, r.GetMessage(message, field), "", "", elsewhere);
    } else {
      writer.Field(message, *field, std::string(WireName(*field)));
    }
  }
  return streamed != nullptr ? writer.FinishOpen(message, *streamed) : writer.Finish();
}

}  // namespace oa::transcode
