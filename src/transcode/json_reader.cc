#include "transcode/json_reader.h"

#include <openssl/evp.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/strings.h"
#include "transcode/field_names.h"

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

// A JSON number as an integer in [lo, hi], if it is one.
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
  if (v.is_string()) {  // proto3 JSON also writes 64-bit integers as strings
    const json::string& s = v.get_string();
    const std::string_view text(s.data(), s.size());
    if constexpr (std::is_signed_v<Int>) {
      const bool negative = text.starts_with('-');
      uint64_t magnitude = 0;
      if (!ParseUint(negative ? text.substr(1) : text, magnitude)) return false;
      if (negative) {
        if (magnitude > static_cast<uint64_t>(hi) + 1) return false;
        out = static_cast<Int>(-static_cast<int64_t>(magnitude - 1) - 1);
      } else {
        if (magnitude > static_cast<uint64_t>(hi)) return false;
        out = static_cast<Int>(magnitude);
      }
      return true;
    } else {
      uint64_t x = 0;
      if (!ParseUint(text, x) || x > static_cast<uint64_t>(hi)) return false;
      out = static_cast<Int>(x);
      return true;
    }
  }
  return false;
}

bool AsDouble(const json::value& v, double& out) {
  if (!v.is_number()) return false;
  out = v.to_number<double>();
  return true;
}

class Reader {
 public:
  explicit Reader(JsonReadResult& result) : result_(result) {}

  // Fills `message` from `v`; false if `v` is not of a kind the message takes.
  bool ReadMessage(const json::value& v, Message& message, const std::string& path) {
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
    if (!v.is_object()) return false;
    for (const auto& [key, item] : v.get_object()) {
      const std::string_view name(key.data(), key.size());
      const FieldDescriptor* field = FindByWireName(d, name);
      if (field == nullptr || item.is_null()) continue;
      const std::string at = path.empty() ? std::string(name) : StrCat(path, ".", name);
      if (field->is_map()) {
        if (!item.is_object()) {
          Mismatch(at);
          continue;
        }
        for (const auto& [k, element] : item.get_object()) {
          ReadMapEntry(message, *field, std::string_view(k.data(), k.size()), element, at);
        }
      } else if (field->is_repeated()) {
        if (!item.is_array()) {
          Mismatch(at);
          continue;
        }
        const json::array& items = item.get_array();
        for (size_t i = 0; i < items.size(); ++i) {
          if (items[i].is_null() && !IsValueField(*field)) continue;
          AddElement(message, *field, items[i], StrCat(at, "[", i, "]"));
        }
      } else {
        SetField(message, *field, item, at);
      }
    }
    return true;
  }

 private:
  static bool IsValueField(const FieldDescriptor& field) {
    return field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsValue(*field.message_type());
  }

  void Mismatch(const std::string& path) {
    if (result_.mismatched++ == 0) result_.first_mismatch = path;
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

  void ReadMapEntry(Message& message, const FieldDescriptor& field, std::string_view key,
                    const json::value& v, const std::string& path) {
    const Descriptor& entry_type = *field.message_type();
    const FieldDescriptor& key_field = *entry_type.map_key();
    const FieldDescriptor& value_field = *entry_type.map_value();
    if (key_field.cpp_type() != FieldDescriptor::CPPTYPE_STRING || v.is_null()) return;
    Message* entry = message.GetReflection()->AddMessage(&message, &field);
    entry->GetReflection()->SetString(entry, &key_field, std::string(key));
    if (!SetField(*entry, value_field, v, StrCat(path, ".", key))) {
      message.GetReflection()->RemoveLast(&message, &field);
    }
  }

  // Sets a singular field; false (and counted) when the value does not fit.
  bool SetField(Message& message, const FieldDescriptor& field, const json::value& v,
                const std::string& path) {
    return Store(message, field, v, path, /*add=*/false);
  }

  // Appends to a repeated field; a value that does not fit is left out (and counted).
  void AddElement(Message& message, const FieldDescriptor& field, const json::value& v,
                  const std::string& path) {
    Store(message, field, v, path, /*add=*/true);
  }

  bool Store(Message& message, const FieldDescriptor& field, const json::value& v,
             const std::string& path, bool add) {
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
    if (!ok) Mismatch(path);
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
  const json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) {
    result.status = absl::InvalidArgumentError(StrCat("not JSON: ", ec.message()));
    return result;
  }
  Reader reader(result);
  if (!reader.ReadMessage(v, message, "")) {
    result.status = absl::InvalidArgumentError(
        StrCat("the JSON does not fit ", message.GetDescriptor()->full_name()));
  }
  return result;
}

}  // namespace oa::transcode
