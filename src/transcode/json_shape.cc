#include "transcode/json_shape.h"

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "openai/v1/json.pb.h"
#include "transcode/field_names.h"

namespace oa::transcode {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

JsonShape Compute(const Descriptor& d) {
  JsonShape shape;
  const openai::v1::JsonForm& form = d.options().GetExtension(openai::v1::json);
  switch (form.form_case()) {
    case openai::v1::JsonForm::kUnionKey:
      shape.form = JsonShape::Form::kTaggedUnion;
      shape.tag_key = form.union_key();
      break;
    case openai::v1::JsonForm::kUnionByKind:
      shape.form = JsonShape::Form::kKindUnion;
      break;
    case openai::v1::JsonForm::kList:
      shape.form = JsonShape::Form::kList;
      if (d.field_count() == 1 && d.field(0)->is_repeated() && !d.field(0)->is_map()) {
        shape.items = d.field(0);
      } else {
        shape.form = JsonShape::Form::kObject;  // not a list after all: read as declared
      }
      break;
    case openai::v1::JsonForm::FORM_NOT_SET:
      break;
  }
  if (shape.is_union()) {
    // A union is one oneof of singular fields; anything else is read as the object it is.
    for (int i = 0; i < d.field_count(); ++i) {
      const FieldDescriptor* field = d.field(i);
      if (field->is_repeated() || field->real_containing_oneof() == nullptr ||
          field->real_containing_oneof() != d.field(0)->real_containing_oneof()) {
        shape.form = JsonShape::Form::kObject;
        shape.tag_key.clear();
        return shape;
      }
    }
    for (int i = 0; i < d.field_count(); ++i) {
      const FieldDescriptor* field = d.field(i);
      if (shape.other == nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          IsValue(*field->message_type())) {
        shape.other = field;
      } else {
        shape.variants.emplace_back(field->options().GetExtension(openai::v1::union_tag), field);
      }
    }
    return shape;
  }
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* field = d.field(i);
    if (field->options().GetExtension(openai::v1::extra) && !field->is_repeated() &&
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsStruct(*field->message_type())) {
      shape.extra = field;
    }
    if (field->options().GetExtension(openai::v1::text_answer) && !field->is_repeated() &&
        field->type() == FieldDescriptor::TYPE_STRING) {
      shape.text_answer = field;
    }
  }
  return shape;
}

}  // namespace

const FieldDescriptor* JsonShape::VariantForTag(std::string_view tag) const {
  for (const auto& [name, field] : variants) {
    if (name == tag) return field;
  }
  return nullptr;
}

std::string_view JsonShape::TagOf(const FieldDescriptor& variant) const {
  for (const auto& [name, field] : variants) {
    if (field == &variant) return name;
  }
  return {};
}

const JsonShape& ShapeOf(const Descriptor& message) {
  thread_local absl::flat_hash_map<const Descriptor*, std::unique_ptr<JsonShape>> shapes;
  std::unique_ptr<JsonShape>& shape = shapes[&message];
  if (shape == nullptr) shape = std::make_unique<JsonShape>(Compute(message));
  return *shape;
}

}  // namespace oa::transcode
