#include "transcode/json_reader.h"

#include <openssl/evp.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>
#include <memory>

#include "base/check.h"
#include "base/strings.h"
#include "transcode/field_names.h"
#include "transcode/json_shape.h"

namespace oa::transcode {
namespace {

namespace json = boost::json;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool DecodeBase64(std::string_view text, std::string& out) {
  std::string padded(text);
  for (char& c : padded) {  // base64url, which proto3 JSON also accepts
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (padded.size() % 4 != 0) padded += '=';
  out.resize(padded.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(padded.data()),
                                static_cast<int>(padded.size()));
  if (n < 0) return false;
  auto size = static_cast<size_t>(n);
  for (size_t i = padded.size(); i > 0 && padded[i - 1] == '='; --i) --size;  // padding
  out.resize(size);
  return true;
}

// A JSON number as an integer in [lo, hi], if it is one. A string is not ("007" would
// come back as 7): it goes to the extra field as it is.
template <class Int>
bool AsInteger(const json::value& v, Int& out) {
  constexpr auto lo = std::numeric_limits<Int>::min();
  constexpr auto hi = std::numeric_limits<Int>::max();
  if (v.is_int64()) {
    const int64_t x = v.get_int64();
    if constexpr (std::is_signed_v<Int>) {
      if (x < static_cast<int64_t>(lo) || x > static_cast<int64_t>(hi)) return false;
    } else {
      if (x < 0 || static_cast<uint64_t>(x) > static_cast<uint64_t>(hi)) return false;
    }
    out = static_cast<Int>(x);
    return true;
  }
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(hi)) return false;
    out = static_cast<Int>(v.get_uint64());
    return true;
  }
  if (v.is_double()) {  // 3.0 is an integer; 3.5 and 1e300 are not
    const double d = v.get_double();
    if (std::trunc(d) != d || d < static_cast<double>(lo) || d >= static_cast<double>(hi)) {
      return false;
    }
    out = static_cast<Int>(d);
    return true;
  }
  return false;
}

bool AsDouble(const json::value& v, double& out) {
  if (!v.is_number()) return false;
  out = v.to_number<double>();
  return true;
}

// Where a value sits ("data[0].bytes"), as a chain that costs nothing until a value is
// dropped and the first such path is written out: building it for every value would let
// long keys times many elements cost more than the answer's size.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;  // a member's key, or empty for an element
  size_t index = 0;      // an element's index

  std::string Text() const {
    std::string out = parent != nullptr ? parent->Text() : std::string();
    if (key.empty() && parent != nullptr) return StrCat(out, "[", index, "]");
    const std::string_view shown = key.substr(0, 64);  // a key is the upstream's to choose
    return out.empty() ? std::string(shown) : StrCat(out, ".", shown);
  }
};

// Whether `v` is of a JSON kind that `field` can take (the first test a union variant
// must pass; the value may still not fit, an object missing nothing, say). A union's
// `other` does not count: it takes anything, and would make every union fit every value.
bool KindFits(const FieldDescriptor& field, const json::value& v, int depth = 0);

bool MessageKindFits(const Descriptor& d, const json::value& v, int depth) {
  if (IsValue(d)) return true;
  if (IsStruct(d)) return v.is_object();
  if (IsListValue(d)) return v.is_array();
  const JsonShape& shape = ShapeOf(d);
  switch (shape.form) {
    case JsonShape::Form::kList:  // told apart from other lists by the first element
      return v.is_array() &&
             (v.get_array().empty() || KindFits(*shape.items, v.get_array()[0], depth + 1));
    case JsonShape::Form::kKindUnion:
      if (depth > 8) return false;  // a union of unions of ... (none is generated so deep)
      for (const auto& variant : shape.variants) {
        if (KindFits(*variant.second, v, depth + 1)) return true;
      }
      return false;
    case JsonShape::Form::kTaggedUnion:
    case JsonShape::Form::kObject:
      return v.is_object();
  }
  return false;
}

bool KindFits(const FieldDescriptor& field, const json::value& v, int depth) {
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
    case FieldDescriptor::CPPTYPE_ENUM:
      return v.is_string();
    case FieldDescriptor::CPPTYPE_BOOL:
      return v.is_bool();
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return v.is_number();
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return v.is_int64() || v.is_uint64() ||
             (v.is_double() && std::trunc(v.get_double()) == v.get_double());
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageKindFits(*field.message_type(), v, depth);
  }
  return false;
}

class Reader {
 public:
  // `budget`: how many more messages may be read for trying union variants; shared by a
  // reader and the readers it starts for trials.
  Reader(JsonReadResult& result, size_t& budget, int trial_depth = 0)
      : result_(result), budget_(budget), trial_depth_(trial_depth) {}

  // Fills `message` from `v`; false if `v` is not of a kind the message takes.
  bool ReadMessage(const json::value& v, Message& message, const Path& path) {
    if (budget_ > 0) --budget_;
    const Descriptor& d = *message.GetDescriptor();
    if (IsValue(d)) return ReadValue(v, message);
    if (IsStruct(d)) {
      if (!v.is_object()) return false;
      ReadStruct(v.get_object(), message);
      return true;
    }
    if (IsListValue(d)) {
      if (!v.is_array()) return false;
      ReadList(v.get_array(), message);
      return true;
    }
    const JsonShape& shape = ShapeOf(d);
    switch (shape.form) {
      case JsonShape::Form::kList:
        return ReadListForm(v, message, *shape.items, path);
      case JsonShape::Form::kTaggedUnion:
        return ReadTaggedUnion(v, message, shape, path);
      case JsonShape::Form::kKindUnion:
        return ReadKindUnion(v, message, shape, path);
      case JsonShape::Form::kObject:
        break;
    }
    if (!v.is_object()) return false;
    const Reflection& r = *message.GetReflection();
    for (const auto& [key, item] : v.get_object()) {
      const std::string_view name(key.data(), key.size());
      const Path at{&path, name};
      const FieldDescriptor* field = FindByWireName(d, name);
      if (field == shape.extra) field = nullptr;  // its own name is just another key
      if (field == nullptr) {
        Keep(message, shape, name, item, at);
        continue;
      }
      if (item.is_null()) continue;
      bool fits = true;
      if (field->is_map()) {
        fits = item.is_object();
        for (auto it = fits ? item.get_object().begin() : nullptr;
             fits && it != item.get_object().end(); ++it) {
          const std::string_view k(it->key().data(), it->key().size());
          fits = ReadMapEntry(message, *field, k, it->value(), Path{&at, k});
        }
      } else if (field->is_repeated()) {
        fits = item.is_array();
        const json::array* items = fits ? &item.get_array() : nullptr;
        for (size_t i = 0; fits && i < items->size(); ++i) {
          // A null element has no place in a list of strings or messages: the list goes
          // whole to the extra field.
          fits = (!(*items)[i].is_null() || IsValueField(*field)) &&
                 Store(message, *field, (*items)[i], Path{&at, {}, i}, /*add=*/true);
        }
      } else {
        fits = Store(message, *field, item, at, /*add=*/false);
      }
      if (!fits) {  // the value goes whole to the extra field, not half to each
        r.ClearField(&message, field);
        Keep(message, shape, name, item, at);
      }
    }
    return true;
  }

 private:
  static constexpr int kMaxTrialDepth = 2;

  static bool IsValueField(const FieldDescriptor& field) {
    return field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsValue(*field.message_type());
  }

  void Mismatch(const Path& path) {
    if (result_.mismatched++ == 0) result_.first_mismatch = path.Text();
  }

  // Puts `name: item` in the object's extra field, or counts it dropped when there is none.
  void Keep(Message& message, const JsonShape& shape, std::string_view name,
            const json::value& item, const Path& path) {
    if (shape.extra == nullptr) {
      Mismatch(path);
      return;
    }
    Message& extra = *message.GetReflection()->MutableMessage(&message, shape.extra);
    const FieldDescriptor* fields = extra.GetDescriptor()->FindFieldByName("fields");
    Message* entry = extra.GetReflection()->AddMessage(&extra, fields);
    const Descriptor& e = *entry->GetDescriptor();
    entry->GetReflection()->SetString(entry, e.FindFieldByNumber(1), std::string(name));
    ReadValue(item, *entry->GetReflection()->MutableMessage(entry, e.FindFieldByNumber(2)));
    ++result_.kept;
  }

  // A value no variant of a union takes, kept untyped in its `other`.
  bool KeepInOther(const json::value& v, Message& message, const JsonShape& shape) {
    if (shape.other == nullptr) return false;
    ReadValue(v, *message.GetReflection()->MutableMessage(&message, shape.other));
    ++result_.kept;
    return true;
  }

  // False, with nothing kept, if an element does not fit: a list message has no extra
  // field, so the list goes whole to an enclosing one (or a union's `other`) instead.
  bool ReadListForm(const json::value& v, Message& message, const FieldDescriptor& items,
                    const Path& path) {
    if (!v.is_array()) return false;
    const json::array& array = v.get_array();
    for (size_t i = 0; i < array.size(); ++i) {
      if ((array[i].is_null() && !IsValueField(items)) ||
          !Store(message, items, array[i], Path{&path, {}, i}, /*add=*/true)) {
        message.GetReflection()->ClearField(&message, &items);
        return false;
      }
    }
    return true;
  }

  // The variant named by the object's tag; an unknown tag (or a variant that does not
  // take the object, or a value that is no object) goes to `other`.
  bool ReadTaggedUnion(const json::value& v, Message& message, const JsonShape& shape,
                       const Path& path) {
    const Reflection& r = *message.GetReflection();
    if (v.is_object()) {
      const json::value* tag = v.get_object().if_contains(shape.tag_key);
      const FieldDescriptor* variant =
          tag != nullptr && tag->is_string()
              ? shape.VariantForTag(
                    std::string_view(tag->get_string().data(), tag->get_string().size()))
              : nullptr;
      if (variant != nullptr && variant->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        if (ReadMessage(v, *r.MutableMessage(&message, variant), path)) return true;
        r.ClearField(&message, variant);
      }
    }
    return KeepInOther(v, message, shape);
  }

  // The variant of the value's kind (a list's kind includes its first element's). Of
  // several, the first that takes the value whole (nothing left for an extra field or an
  // `other`), else the first that drops nothing; a value no variant takes goes to
  // `other`. Each candidate is read once. Trying more than one reads a value again, so
  // it stops two ambiguous unions deep (past there the first that drops nothing is
  // taken) and once the answer's budget of reads is spent (then the value goes to
  // `other` untried): unions nested in unions cannot multiply the reader's work.
  bool ReadKindUnion(const json::value& v, Message& message, const JsonShape& shape,
                     const Path& path) {
    const Reflection& r = *message.GetReflection();
    std::vector<const FieldDescriptor*> candidates;
    for (const auto& [tag, variant] : shape.variants) {
      if (KindFits(*variant, v)) candidates.push_back(variant);
    }
    const bool ambiguous = candidates.size() > 1;
    const FieldDescriptor* fallback = nullptr;
    std::unique_ptr<Message> fallback_message;
    int fallback_kept = 0;
    for (const FieldDescriptor* variant : candidates) {
      if (variant->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        if (Store(message, *variant, v, path, /*add=*/false)) return true;
        continue;
      }
      if (budget_ == 0) break;
      JsonReadResult read;
      Reader reader(read, budget_, trial_depth_ + (ambiguous ? 1 : 0));
      std::unique_ptr<Message> sub(r.GetMessage(message, variant).New());
      if (!reader.ReadMessage(v, *sub, path) || read.mismatched > 0) continue;
      if (read.kept == 0) {
        r.SetAllocatedMessage(&message, sub.release(), variant);
        return true;
      }
      if (fallback == nullptr) {
        fallback = variant;
        fallback_message = std::move(sub);
        fallback_kept = read.kept;
        if (trial_depth_ >= kMaxTrialDepth) break;
      }
    }
    if (fallback != nullptr) {
      r.SetAllocatedMessage(&message, fallback_message.release(), fallback);
      result_.kept += fallback_kept;
      return true;
    }
    return KeepInOther(v, message, shape);
  }

  bool ReadValue(const json::value& v, Message& value) {
    const Descriptor& d = *value.GetDescriptor();
    const Reflection& r = *value.GetReflection();
    switch (v.kind()) {
      case json::kind::null:
        r.SetEnumValue(&value, d.FindFieldByName("null_value"), 0);
        break;
      case json::kind::bool_:
        r.SetBool(&value, d.FindFieldByName("bool_value"), v.get_bool());
        break;
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_:
        r.SetDouble(&value, d.FindFieldByName("number_value"), v.to_number<double>());
        break;
      case json::kind::string:
        r.SetString(&value, d.FindFieldByName("string_value"), std::string(v.get_string()));
        break;
      case json::kind::object:
        ReadStruct(v.get_object(), *r.MutableMessage(&value, d.FindFieldByName("struct_value")));
        break;
      case json::kind::array:
        ReadList(v.get_array(), *r.MutableMessage(&value, d.FindFieldByName("list_value")));
        break;
    }
    return true;
  }

  void ReadStruct(const json::object& object, Message& message) {
    const FieldDescriptor* fields = message.GetDescriptor()->FindFieldByName("fields");
    for (const auto& [key, item] : object) {
      Message* entry = message.GetReflection()->AddMessage(&message, fields);
      const Descriptor& e = *entry->GetDescriptor();
      entry->GetReflection()->SetString(entry, e.FindFieldByNumber(1), std::string(key));
      ReadValue(item, *entry->GetReflection()->MutableMessage(entry, e.FindFieldByNumber(2)));
    }
  }

  void ReadList(const json::array& array, Message& message) {
    const FieldDescriptor* values = message.GetDescriptor()->FindFieldByName("values");
    for (const json::value& item : array) {
      ReadValue(item, *message.GetReflection()->AddMessage(&message, values));
    }
  }

  // False when the entry's value does not fit, null included (the entry is then left
  // out, and the map goes whole to the extra field).
  bool ReadMapEntry(Message& message, const FieldDescriptor& field, std::string_view key,
                    const json::value& v, const Path& path) {
    const Descriptor& entry_type = *field.message_type();
    const FieldDescriptor& key_field = *entry_type.map_key();
    const FieldDescriptor& value_field = *entry_type.map_value();
    if (key_field.cpp_type() != FieldDescriptor::CPPTYPE_STRING) return false;
    if (v.is_null() && !IsValueField(value_field)) return false;
    Message* entry = message.GetReflection()->AddMessage(&message, &field);
    entry->GetReflection()->SetString(entry, &key_field, std::string(key));
    if (!Store(*entry, value_field, v, path, /*add=*/false)) {
      message.GetReflection()->RemoveLast(&message, &field);
      return false;
    }
    return true;
  }

  // Sets a singular field or appends to a repeated one; false, storing nothing, when the
  // value does not fit.
  bool Store(Message& message, const FieldDescriptor& field, const json::value& v, const Path& path,
             bool add) {
    const Reflection& r = *message.GetReflection();
    bool ok = false;
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        // Read into a new message, kept only if the value fits.
        Message* sub = add ? r.AddMessage(&message, &field) : r.GetMessage(message, &field).New();
        ok = ReadMessage(v, *sub, path);
        if (add && !ok) r.RemoveLast(&message, &field);
        if (!add && ok) r.SetAllocatedMessage(&message, sub, &field);
        if (!add && !ok) delete sub;
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string text;
        if (!v.is_string()) break;
        if (field.type() == FieldDescriptor::TYPE_BYTES) {
          if (!DecodeBase64(std::string_view(v.get_string().data(), v.get_string().size()), text)) {
            break;
          }
        } else {
          text = std::string(v.get_string());
        }
        add ? r.AddString(&message, &field, std::move(text))
            : r.SetString(&message, &field, std::move(text));
        ok = true;
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        ok = StoreNumber<int32_t>(v, [&](int32_t x) {
          add ? r.AddInt32(&message, &field, x) : r.SetInt32(&message, &field, x);
        });
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        ok = StoreNumber<int64_t>(v, [&](int64_t x) {
          add ? r.AddInt64(&message, &field, x) : r.SetInt64(&message, &field, x);
        });
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        ok = StoreNumber<uint32_t>(v, [&](uint32_t x) {
          add ? r.AddUInt32(&message, &field, x) : r.SetUInt32(&message, &field, x);
        });
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        ok = StoreNumber<uint64_t>(v, [&](uint64_t x) {
          add ? r.AddUInt64(&message, &field, x) : r.SetUInt64(&message, &field, x);
        });
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        ok = StoreNumber<double>(v, [&](double x) {
          add ? r.AddDouble(&message, &field, x) : r.SetDouble(&message, &field, x);
        });
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        ok = StoreNumber<double>(v, [&](double x) {
          const auto f = static_cast<float>(x);
          add ? r.AddFloat(&message, &field, f) : r.SetFloat(&message, &field, f);
        });
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        if (!v.is_bool()) break;
        add ? r.AddBool(&message, &field, v.get_bool()) : r.SetBool(&message, &field, v.get_bool());
        ok = true;
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const google::protobuf::EnumValueDescriptor* e = nullptr;
        if (v.is_string()) e = field.enum_type()->FindValueByName(std::string(v.get_string()));
        int32_t number = 0;
        if (e == nullptr && AsInteger(v, number)) e = field.enum_type()->FindValueByNumber(number);
        if (e == nullptr) break;
        add ? r.AddEnum(&message, &field, e) : r.SetEnum(&message, &field, e);
        ok = true;
        break;
      }
    }
    return ok;
  }

  // Converts `v` to T (an integer in range, or any number for double) and stores it.
  template <class T, class Put>
  static bool StoreNumber(const json::value& v, Put put) {
    T x{};
    if constexpr (std::is_same_v<T, double>) {
      if (!AsDouble(v, x)) return false;
    } else {
      if (!AsInteger(v, x)) return false;
    }
    put(x);
    return true;
  }

  JsonReadResult& result_;
  size_t& budget_;
  const int trial_depth_;  // how many ambiguous unions this reader is trying inside
};

}  // namespace

JsonReadResult ReadJson(std::string_view text, Message& message) {
  OA_DCHECK(message.ByteSizeLong() == 0, "JSON read into a message that holds fields");
  JsonReadResult result;
  boost::system::error_code ec;
  // Boost.JSON stops at 32 levels by default, which a JSON schema echoed in an answer
  // may pass, even in a field the protos do not know.
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  // The tree lives only while it is read: its nodes come from one arena, the first 4 KiB
  // of it here (an event's or a small answer's whole tree), and go at once.
  unsigned char first_block[4096];
  json::monotonic_resource arena(first_block, sizeof(first_block));
  const json::value v =
      json::parse(json::string_view(text.data(), text.size()), ec, &arena, options);
  if (ec) {
    result.status = absl::InvalidArgumentError(StrCat("not JSON: ", ec.message()));
    return result;
  }
  // Reads for trying union variants: a few times what a single pass over this answer can
  // take, whatever the nesting.
  size_t budget = 4 * text.size() + 4096;
  Reader reader(result, budget);
  if (!reader.ReadMessage(v, message, Path{})) {
    result.status = absl::InvalidArgumentError(
        StrCat("the JSON does not fit ", message.GetDescriptor()->full_name()));
  }
  return result;
}

}  // namespace oa::transcode
