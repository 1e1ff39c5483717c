#include "transcode/json_reader.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/struct.pb.h>
#include <openssl/evp.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

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

// Protobuf's wire form, written forward into a string. A message field's length comes
// before its content: BeginMessage leaves room for the longest length, EndMessage writes
// the real one and moves the content up behind it. What a value that turned out not to
// fit wrote is taken back to a mark (Rollback), as a field cleared.
class WireOut {
 public:
  explicit WireOut(std::string& out) : out_(out) {}

  size_t Mark() const { return out_.size(); }
  void Rollback(size_t mark) { out_.resize(mark); }

  void Tag(const FieldDescriptor& field, int wire_type) {
    Varint(static_cast<uint64_t>(field.number()) << 3 | static_cast<uint64_t>(wire_type));
  }
  void Varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_ += static_cast<char>((v & 0x7f) | 0x80);
    out_ += static_cast<char>(v);
  }
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>(v >> (8 * i));  // little-endian
  }
  void Bytes(const FieldDescriptor& field, std::string_view bytes) {
    Tag(field, kLengthDelimited);
    Varint(bytes.size());
    out_.append(bytes);
  }
  size_t BeginMessage(const FieldDescriptor& field) {
    Tag(field, kLengthDelimited);
    const size_t at = out_.size();
    out_.append(kMaxLengthBytes, '\0');
    return at;
  }
  void EndMessage(size_t at) {
    uint64_t size = out_.size() - at - kMaxLengthBytes;
    char length[kMaxLengthBytes];
    size_t n = 0;
    for (; size >= 0x80; size >>= 7) length[n++] = static_cast<char>((size & 0x7f) | 0x80);
    length[n++] = static_cast<char>(size);
    std::memcpy(out_.data() + at, length, n);
    out_.erase(at + n, kMaxLengthBytes - n);
  }

  static constexpr int kVarint = 0;
  static constexpr int kFixed64 = 1;
  static constexpr int kLengthDelimited = 2;
  static constexpr int kFixed32 = 5;

 private:
  static constexpr size_t kMaxLengthBytes = 5;  // a length below 2^35: answers are smaller
  std::string& out_;
};

// google.protobuf.Struct, Value and ListValue as the wire has them (struct.proto's field
// numbers, fixed for good): Struct.fields = 1, its entries' key = 1 and value = 2;
// Value.null_value = 1, number_value = 2, string_value = 3, bool_value = 4,
// struct_value = 5, list_value = 6; ListValue.values = 1.
struct StructWire {
  const FieldDescriptor* struct_fields;
  const FieldDescriptor* entry_key;
  const FieldDescriptor* entry_value;
  const FieldDescriptor* null_value;
  const FieldDescriptor* number_value;
  const FieldDescriptor* string_value;
  const FieldDescriptor* bool_value;
  const FieldDescriptor* struct_value;
  const FieldDescriptor* list_value;
  const FieldDescriptor* list_values;

  static const StructWire& Get() {
    static const StructWire wire = [] {
      const Descriptor& value = *google::protobuf::Value::descriptor();
      const Descriptor& structure = *google::protobuf::Struct::descriptor();
      const Descriptor& entry = *structure.FindFieldByName("fields")->message_type();
      return StructWire{structure.FindFieldByName("fields"),
                        entry.FindFieldByName("key"),
                        entry.FindFieldByName("value"),
                        value.FindFieldByName("null_value"),
                        value.FindFieldByName("number_value"),
                        value.FindFieldByName("string_value"),
                        value.FindFieldByName("bool_value"),
                        value.FindFieldByName("struct_value"),
                        value.FindFieldByName("list_value"),
                        google::protobuf::ListValue::descriptor()->FindFieldByName("values")};
    }();
    return wire;
  }
};

uint64_t DoubleBits(double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  return bits;
}

uint32_t FloatBits(float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// Reads JSON values into the wire form of the messages they stand for, driven by the
// descriptors and json.proto's shapes (json_shape.h): no message is built, and nothing
// is walked twice.
class Reader {
 public:
  // `budget`: how many more messages may be read for trying union variants; shared by a
  // reader and the readers it starts for trials.
  Reader(JsonReadResult& result, size_t& budget, int trial_depth = 0)
      : result_(result), budget_(budget), trial_depth_(trial_depth) {}

  // Writes the fields of the `d` that `v` is; false, `out` as it was, if `v` is not of a
  // kind `d` takes.
  bool ReadMessage(const json::value& v, const Descriptor& d, WireOut& out, const Path& path) {
    if (budget_ > 0) --budget_;
    if (IsValue(d)) return ReadValue(v, out);
    if (IsStruct(d)) {
      if (!v.is_object()) return false;
      ReadStruct(v.get_object(), out);
      return true;
    }
    if (IsListValue(d)) {
      if (!v.is_array()) return false;
      ReadList(v.get_array(), out);
      return true;
    }
    const JsonShape& shape = ShapeOf(d);
    switch (shape.form) {
      case JsonShape::Form::kList:
        return ReadListForm(v, *shape.items, out, path);
      case JsonShape::Form::kTaggedUnion:
        return ReadTaggedUnion(v, shape, out, path);
      case JsonShape::Form::kKindUnion:
        return ReadKindUnion(v, shape, out, path);
      case JsonShape::Form::kObject:
        break;
    }
    if (!v.is_object()) return false;
    for (const auto& [key, item] : v.get_object()) {
      const std::string_view name(key.data(), key.size());
      const Path at{&path, name};
      const FieldDescriptor* field = FindByWireName(d, name);
      if (field == shape.extra) field = nullptr;  // its own name is just another key
      if (field == nullptr) {
        Keep(shape, name, item, out, at);
        continue;
      }
      if (item.is_null()) continue;
      const size_t mark = out.Mark();
      bool fits = true;
      if (field->is_map()) {
        fits = item.is_object();
        for (auto it = fits ? item.get_object().begin() : nullptr;
             fits && it != item.get_object().end(); ++it) {
          const std::string_view k(it->key().data(), it->key().size());
          fits = ReadMapEntry(*field, k, it->value(), out, Path{&at, k});
        }
      } else if (field->is_repeated()) {
        fits = item.is_array();
        const json::array* items = fits ? &item.get_array() : nullptr;
        for (size_t i = 0; fits && i < items->size(); ++i) {
          // A null element has no place in a list of strings or messages: the list goes
          // whole to the extra field.
          fits = (!(*items)[i].is_null() || IsValueField(*field)) &&
                 Store(*field, (*items)[i], out, Path{&at, {}, i});
        }
      } else {
        fits = Store(*field, item, out, at);
      }
      if (!fits) {  // the value goes whole to the extra field, not half to each
        out.Rollback(mark);
        Keep(shape, name, item, out, at);
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
  // Each key kept is one more occurrence of the Struct field, with one entry: a parser
  // merges them into one Struct.
  void Keep(const JsonShape& shape, std::string_view name, const json::value& item, WireOut& out,
            const Path& path) {
    if (shape.extra == nullptr) {
      Mismatch(path);
      return;
    }
    const StructWire& wire = StructWire::Get();
    const size_t extra = out.BeginMessage(*shape.extra);
    const size_t entry = out.BeginMessage(*wire.struct_fields);
    out.Bytes(*wire.entry_key, name);
    const size_t value = out.BeginMessage(*wire.entry_value);
    ReadValue(item, out);
    out.EndMessage(value);
    out.EndMessage(entry);
    out.EndMessage(extra);
    ++result_.kept;
  }

  // A value no variant of a union takes, kept untyped in its `other`.
  bool KeepInOther(const json::value& v, const JsonShape& shape, WireOut& out) {
    if (shape.other == nullptr) return false;
    const size_t at = out.BeginMessage(*shape.other);
    ReadValue(v, out);
    out.EndMessage(at);
    ++result_.kept;
    return true;
  }

  // False, with nothing kept, if an element does not fit: a list message has no extra
  // field, so the list goes whole to an enclosing one (or a union's `other`) instead.
  bool ReadListForm(const json::value& v, const FieldDescriptor& items, WireOut& out,
                    const Path& path) {
    if (!v.is_array()) return false;
    const json::array& array = v.get_array();
    const size_t mark = out.Mark();
    for (size_t i = 0; i < array.size(); ++i) {
      if ((array[i].is_null() && !IsValueField(items)) ||
          !Store(items, array[i], out, Path{&path, {}, i})) {
        out.Rollback(mark);
        return false;
      }
    }
    return true;
  }

  // The variant named by the object's tag; an unknown tag (or a variant that does not
  // take the object, or a value that is no object) goes to `other`.
  bool ReadTaggedUnion(const json::value& v, const JsonShape& shape, WireOut& out,
                       const Path& path) {
    if (v.is_object()) {
      const json::value* tag = v.get_object().if_contains(shape.tag_key);
      const FieldDescriptor* variant =
          tag != nullptr && tag->is_string()
              ? shape.VariantForTag(
                    std::string_view(tag->get_string().data(), tag->get_string().size()))
              : nullptr;
      if (variant != nullptr && variant->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const size_t mark = out.Mark();
        const size_t at = out.BeginMessage(*variant);
        if (ReadMessage(v, *variant->message_type(), out, path)) {
          out.EndMessage(at);
          return true;
        }
        out.Rollback(mark);
      }
    }
    return KeepInOther(v, shape, out);
  }

  // The variant of the value's kind (a list's kind includes its first element's). Of
  // several, the first that takes the value whole (nothing left for an extra field or an
  // `other`), else the first that drops nothing; a value no variant takes goes to
  // `other`. Each candidate is read once, into a form of its own. Trying more than one
  // reads a value again, so it stops two ambiguous unions deep (past there the first that
  // drops nothing is taken) and once the answer's budget of reads is spent (then the
  // value goes to `other` untried): unions nested in unions cannot multiply the reader's
  // work.
  bool ReadKindUnion(const json::value& v, const JsonShape& shape, WireOut& out, const Path& path) {
    std::vector<const FieldDescriptor*> candidates;
    for (const auto& [tag, variant] : shape.variants) {
      if (KindFits(*variant, v)) candidates.push_back(variant);
    }
    const bool ambiguous = candidates.size() > 1;
    const FieldDescriptor* fallback = nullptr;
    std::string fallback_form;
    int fallback_kept = 0;
    for (const FieldDescriptor* variant : candidates) {
      if (variant->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        if (Store(*variant, v, out, path)) return true;
        continue;
      }
      if (budget_ == 0) break;
      JsonReadResult read;
      Reader reader(read, budget_, trial_depth_ + (ambiguous ? 1 : 0));
      std::string form;
      WireOut trial(form);
      if (!reader.ReadMessage(v, *variant->message_type(), trial, path) || read.mismatched > 0) {
        continue;
      }
      if (read.kept == 0) {
        out.Bytes(*variant, form);
        return true;
      }
      if (fallback == nullptr) {
        fallback = variant;
        fallback_form = std::move(form);
        fallback_kept = read.kept;
        if (trial_depth_ >= kMaxTrialDepth) break;
      }
    }
    if (fallback != nullptr) {
      out.Bytes(*fallback, fallback_form);
      result_.kept += fallback_kept;
      return true;
    }
    return KeepInOther(v, shape, out);
  }

  // The fields of the google.protobuf.Value that `v` is.
  bool ReadValue(const json::value& v, WireOut& out) {
    const StructWire& wire = StructWire::Get();
    switch (v.kind()) {
      case json::kind::null:
        out.Tag(*wire.null_value, WireOut::kVarint);
        out.Varint(0);
        break;
      case json::kind::bool_:
        out.Tag(*wire.bool_value, WireOut::kVarint);
        out.Varint(v.get_bool() ? 1 : 0);
        break;
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_:
        out.Tag(*wire.number_value, WireOut::kFixed64);
        out.Fixed(DoubleBits(v.to_number<double>()), 8);
        break;
      case json::kind::string:
        out.Bytes(*wire.string_value,
                  std::string_view(v.get_string().data(), v.get_string().size()));
        break;
      case json::kind::object: {
        const size_t at = out.BeginMessage(*wire.struct_value);
        ReadStruct(v.get_object(), out);
        out.EndMessage(at);
        break;
      }
      case json::kind::array: {
        const size_t at = out.BeginMessage(*wire.list_value);
        ReadList(v.get_array(), out);
        out.EndMessage(at);
        break;
      }
    }
    return true;
  }

  void ReadStruct(const json::object& object, WireOut& out) {
    const StructWire& wire = StructWire::Get();
    for (const auto& [key, item] : object) {
      const size_t entry = out.BeginMessage(*wire.struct_fields);
      out.Bytes(*wire.entry_key, std::string_view(key.data(), key.size()));
      const size_t value = out.BeginMessage(*wire.entry_value);
      ReadValue(item, out);
      out.EndMessage(value);
      out.EndMessage(entry);
    }
  }

  void ReadList(const json::array& array, WireOut& out) {
    const StructWire& wire = StructWire::Get();
    for (const json::value& item : array) {
      const size_t at = out.BeginMessage(*wire.list_values);
      ReadValue(item, out);
      out.EndMessage(at);
    }
  }

  // False, nothing written, when the entry's value does not fit, null included (the map
  // then goes whole to the extra field).
  bool ReadMapEntry(const FieldDescriptor& field, std::string_view key, const json::value& v,
                    WireOut& out, const Path& path) {
    const Descriptor& entry_type = *field.message_type();
    const FieldDescriptor& key_field = *entry_type.map_key();
    const FieldDescriptor& value_field = *entry_type.map_value();
    if (key_field.cpp_type() != FieldDescriptor::CPPTYPE_STRING) return false;
    if (v.is_null() && !IsValueField(value_field)) return false;
    const size_t mark = out.Mark();
    const size_t at = out.BeginMessage(field);
    out.Bytes(key_field, key);
    if (!Store(value_field, v, out, path, /*in_entry=*/true)) {
      out.Rollback(mark);
      return false;
    }
    out.EndMessage(at);
    return true;
  }

  // Writes one value of `field` (a singular field's, or one element of a repeated one);
  // false, writing nothing, when the value does not fit. A singular field without
  // presence is not written at its default, as protobuf's own serializers leave it out;
  // a map entry's value always is (`in_entry`).
  bool Store(const FieldDescriptor& field, const json::value& v, WireOut& out, const Path& path,
             bool in_entry = false) {
    const bool implicit = !in_entry && !field.is_repeated() && !field.has_presence();
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const size_t mark = out.Mark();
        const size_t at = out.BeginMessage(field);
        if (!ReadMessage(v, *field.message_type(), out, path)) {
          out.Rollback(mark);
          return false;
        }
        out.EndMessage(at);
        return true;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        if (!v.is_string()) return false;
        const std::string_view text(v.get_string().data(), v.get_string().size());
        if (field.type() == FieldDescriptor::TYPE_BYTES) {
          std::string bytes;
          if (!DecodeBase64(text, bytes)) return false;
          if (!(implicit && bytes.empty())) out.Bytes(field, bytes);
        } else if (!(implicit && text.empty())) {
          out.Bytes(field, text);
        }
        return true;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        return StoreInteger<int32_t>(field, v, out, implicit);
      case FieldDescriptor::CPPTYPE_INT64:
        return StoreInteger<int64_t>(field, v, out, implicit);
      case FieldDescriptor::CPPTYPE_UINT32:
        return StoreInteger<uint32_t>(field, v, out, implicit);
      case FieldDescriptor::CPPTYPE_UINT64:
        return StoreInteger<uint64_t>(field, v, out, implicit);
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        double x = 0;
        if (!AsDouble(v, x)) return false;
        if (implicit && DoubleBits(x) == 0) return true;
        out.Tag(field, WireOut::kFixed64);
        out.Fixed(DoubleBits(x), 8);
        return true;
      }
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double x = 0;
        if (!AsDouble(v, x)) return false;
        const auto f = static_cast<float>(x);
        if (implicit && FloatBits(f) == 0) return true;
        out.Tag(field, WireOut::kFixed32);
        out.Fixed(FloatBits(f), 4);
        return true;
      }
      case FieldDescriptor::CPPTYPE_BOOL:
        if (!v.is_bool()) return false;
        if (implicit && !v.get_bool()) return true;
        out.Tag(field, WireOut::kVarint);
        out.Varint(v.get_bool() ? 1 : 0);
        return true;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const google::protobuf::EnumValueDescriptor* e = nullptr;
        if (v.is_string()) e = field.enum_type()->FindValueByName(std::string(v.get_string()));
        int32_t number = 0;
        if (e == nullptr && AsInteger(v, number)) e = field.enum_type()->FindValueByNumber(number);
        if (e == nullptr) return false;
        if (implicit && e->number() == 0) return true;
        out.Tag(field, WireOut::kVarint);
        out.Varint(static_cast<uint64_t>(static_cast<int64_t>(e->number())));
        return true;
      }
    }
    return false;
  }

  // An integer field's value, as its type puts it on the wire: a varint (negative int32
  // and int64 values sign-extended to ten bytes), zigzagged (sint), or fixed.
  template <class Int>
  static bool StoreInteger(const FieldDescriptor& field, const json::value& v, WireOut& out,
                           bool implicit) {
    Int x{};
    if (!AsInteger(v, x)) return false;
    if (implicit && x == 0) return true;
    const auto bits = static_cast<uint64_t>(static_cast<int64_t>(x));
    switch (field.type()) {
      case FieldDescriptor::TYPE_FIXED32:
      case FieldDescriptor::TYPE_SFIXED32:
        out.Tag(field, WireOut::kFixed32);
        out.Fixed(bits, 4);
        break;
      case FieldDescriptor::TYPE_FIXED64:
      case FieldDescriptor::TYPE_SFIXED64:
        out.Tag(field, WireOut::kFixed64);
        out.Fixed(bits, 8);
        break;
      case FieldDescriptor::TYPE_SINT32:
        out.Tag(field, WireOut::kVarint);
        out.Varint((static_cast<uint32_t>(x) << 1) ^
                   static_cast<uint32_t>(static_cast<int32_t>(x) >> 31));
        break;
      case FieldDescriptor::TYPE_SINT64:
        out.Tag(field, WireOut::kVarint);
        out.Varint((bits << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(x) >> 63));
        break;
      default:
        out.Tag(field, WireOut::kVarint);
        out.Varint(bits);
    }
    return true;
  }

  JsonReadResult& result_;
  size_t& budget_;
  const int trial_depth_;  // how many ambiguous unions this reader is trying inside
};

}  // namespace

JsonReadResult ReadJsonWire(std::string_view text, const Descriptor& type, std::string& out) {
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
  const size_t start = out.size();
  WireOut wire(out);
  if (!reader.ReadMessage(v, type, wire, Path{})) {
    out.resize(start);
    result.status = absl::InvalidArgumentError(StrCat("the JSON does not fit ", type.full_name()));
  }
  return result;
}

bool ParseWireForm(std::string_view wire, Message& message) {
  // As deep as the JSON was (kMaxJsonDepth), past protobuf's default of 100 levels.
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  in.SetRecursionLimit(std::numeric_limits<int>::max());
  return message.MergePartialFromCodedStream(&in) && in.ConsumedEntireMessage();
}

JsonReadResult ReadJson(std::string_view text, Message& message) {
  OA_DCHECK(message.ByteSizeLong() == 0, "JSON read into a message that holds fields");
  std::string wire;
  JsonReadResult result = ReadJsonWire(text, *message.GetDescriptor(), wire);
  if (result.status.ok() && !ParseWireForm(wire, message)) {
    result.status = absl::InternalError(
        StrCat("the JSON's wire form does not parse as ", message.GetDescriptor()->full_name()));
  }
  return result;
}

}  // namespace oa::transcode
