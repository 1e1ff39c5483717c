// OpenAI's JSON <-> messages for the forms json.proto declares: tagged unions, unions by
// JSON kind, lists, and extra fields that keep what the protos do not know. The messages
// are declared here, on top of the API's own descriptors (which bring
// openai/v1/json.proto and the well-known types).
#include "transcode/json_shape.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <memory>
#include <string>

#include "base/strings.h"
#include "route/descriptors.h"
#include "transcode/json_reader.h"
#include "transcode/json_writer.h"

namespace oa::transcode {
namespace {

using google::protobuf::Message;

// The test's messages, as a FileDescriptorProto in text format.
constexpr char kFile[] = R"pb(
  name: "shapes_test.proto"
  package: "shapes.test"
  dependency: [ "google/protobuf/struct.proto", "openai/v1/json.proto" ]
  syntax: "proto3"
  message_type {
    name: "WireNumbers"
    field { name: "i32" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "s32" number: 2 label: LABEL_OPTIONAL type: TYPE_SINT32 }
    field { name: "sf32" number: 3 label: LABEL_OPTIONAL type: TYPE_SFIXED32 }
    field { name: "f32" number: 4 label: LABEL_OPTIONAL type: TYPE_FIXED32 }
    field { name: "u32" number: 5 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "i64" number: 6 label: LABEL_OPTIONAL type: TYPE_INT64 }
    field { name: "s64" number: 7 label: LABEL_OPTIONAL type: TYPE_SINT64 }
    field { name: "sf64" number: 8 label: LABEL_OPTIONAL type: TYPE_SFIXED64 }
    field { name: "f64" number: 9 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
    field { name: "u64" number: 10 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "fl" number: 11 label: LABEL_OPTIONAL type: TYPE_FLOAT }
    field { name: "db" number: 12 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
    field { name: "b" number: 13 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "by" number: 14 label: LABEL_OPTIONAL type: TYPE_BYTES }
    field { name: "rs32" number: 15 label: LABEL_REPEATED type: TYPE_SINT32 }
    field { name: "big" number: 16000 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  message_type {
    name: "FunctionTool"
    field { name: "type" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "name" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "parameters"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
    }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
  }
  message_type {
    name: "SearchTool"
    field { name: "type" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "max_results" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
  }
  message_type {
    name: "Tool"
    options {
      [openai.v1.json] { union_key: "type" }
    }
    oneof_decl { name: "tool" }
    field {
      name: "function"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.FunctionTool"
      oneof_index: 0
      options {
        [openai.v1.union_tag]: "function"
      }
    }
    field {
      name: "web_search"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.SearchTool"
      oneof_index: 0
      options {
        [openai.v1.union_tag]: "web_search"
      }
    }
    field {
      name: "web_search_2025"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.SearchTool"
      oneof_index: 0
      options {
        [openai.v1.union_tag]: "web_search_2025"
      }
    }
    field {
      name: "other"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Value"
      oneof_index: 0
    }
  }
  message_type {
    name: "Parts"
    options {
      [openai.v1.json] { list: true }
    }
    field {
      name: "items"
      number: 1
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Part"
    }
  }
  message_type {
    name: "Part"
    field { name: "type" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "text" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
  }
  message_type {
    name: "Numbers"
    options {
      [openai.v1.json] { list: true }
    }
    field { name: "items" number: 1 label: LABEL_REPEATED type: TYPE_INT64 }
  }
  message_type {
    name: "Strings"
    options {
      [openai.v1.json] { list: true }
    }
    field { name: "items" number: 1 label: LABEL_REPEATED type: TYPE_STRING }
  }
  message_type {
    name: "Content"
    options {
      [openai.v1.json] { union_by_kind: true }
    }
    oneof_decl { name: "content" }
    field { name: "text" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    field {
      name: "texts"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Strings"
      oneof_index: 0
    }
    field {
      name: "tokens"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Numbers"
      oneof_index: 0
    }
    field {
      name: "parts"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Parts"
      oneof_index: 0
    }
    field {
      name: "other"
      number: 5
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Value"
      oneof_index: 0
    }
  }
  message_type {
    name: "Node"
    options {
      [openai.v1.json] { union_by_kind: true }
    }
    oneof_decl { name: "variant" }
    field {
      name: "a"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.NodeA"
      oneof_index: 0
    }
    field {
      name: "b"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.NodeB"
      oneof_index: 0
    }
    field {
      name: "other"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Value"
      oneof_index: 0
    }
  }
  message_type {
    name: "NodeA"
    field {
      name: "child"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Node"
    }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
  }
  message_type {
    name: "NodeB"
    field {
      name: "child"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Node"
    }
    field { name: "x" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
  }
  message_type {
    name: "Request"
    field {
      name: "model"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      proto3_optional: true
      oneof_index: 0
    }
    field {
      name: "tools"
      number: 2
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Tool"
    }
    field {
      name: "content"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Content"
    }
    field {
      name: "created"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_INT64
      proto3_optional: true
      oneof_index: 1
    }
    field {
      name: "parts"
      number: 5
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".shapes.test.Part"
    }
    field {
      name: "extra_fields"
      number: 2047
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      options {
        [openai.v1.extra]: true
      }
    }
    oneof_decl { name: "_model" }
    oneof_decl { name: "_created" }
  }
)pb";

class JsonShapes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kFile, &file));
    pool_ = new google::protobuf::DescriptorPool(route::ApiDescriptors().pool);
    ASSERT_NE(pool_->BuildFile(file), nullptr);
    factory_ = new google::protobuf::DynamicMessageFactory(pool_);
  }

  static std::unique_ptr<Message> New(const std::string& type) {
    const auto* d = pool_->FindMessageTypeByName("shapes.test." + type);
    EXPECT_NE(d, nullptr) << type;
    return std::unique_ptr<Message>(factory_->GetPrototype(d)->New());
  }

  static std::unique_ptr<Message> FromText(const std::string& type, const std::string& text) {
    std::unique_ptr<Message> m = New(type);
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, m.get())) << text;
    return m;
  }

  static std::string Text(const Message& m) {
    std::string out;
    google::protobuf::TextFormat::Printer printer;
    printer.SetSingleLineMode(true);
    printer.PrintToString(m, &out);
    return out;
  }

  // Reads `json` as `type` and writes it back: the JSON must come back equal.
  static void ExpectRoundTrip(const std::string& type, const std::string& json) {
    std::unique_ptr<Message> m = New(type);
    const JsonReadResult read = ReadJson(json, *m);
    ASSERT_TRUE(read.status.ok()) << read.status;
    EXPECT_EQ(read.mismatched, 0) << read.first_mismatch;
    EXPECT_EQ(boost::json::parse(WriteJson(*m)), boost::json::parse(json)) << Text(*m);
  }

  static google::protobuf::DescriptorPool* pool_;
  static google::protobuf::DynamicMessageFactory* factory_;
};

google::protobuf::DescriptorPool* JsonShapes::pool_ = nullptr;
google::protobuf::DynamicMessageFactory* JsonShapes::factory_ = nullptr;

TEST_F(JsonShapes, OptionsAreReadFromTheDescriptors) {
  const JsonShape& tool = ShapeOf(*New("Tool")->GetDescriptor());
  EXPECT_EQ(tool.form, JsonShape::Form::kTaggedUnion);
  EXPECT_EQ(tool.tag_key, "type");
  ASSERT_EQ(tool.variants.size(), 3u);
  EXPECT_EQ(tool.VariantForTag("web_search_2025")->name(), "web_search_2025");
  EXPECT_EQ(tool.other->name(), "other");
  EXPECT_EQ(ShapeOf(*New("Content")->GetDescriptor()).form, JsonShape::Form::kKindUnion);
  EXPECT_EQ(ShapeOf(*New("Parts")->GetDescriptor()).items->name(), "items");
  EXPECT_EQ(ShapeOf(*New("Request")->GetDescriptor()).extra->name(), "extra_fields");
}

TEST_F(JsonShapes, ATaggedVariantIsWrittenAsOpenAisFlatObjectWithItsTag) {
  auto m = FromText("Request",
                    "tools { function { name: 'get_weather' } } "
                    "tools { web_search_2025 { max_results: 3 } }");
  EXPECT_EQ(WriteJson(*m), R"({"tools":[{"type":"function","name":"get_weather"},)"
                           R"({"type":"web_search_2025","max_results":3}]})");
}

TEST_F(JsonShapes, ATagTheVariantSetsItselfIsWrittenOnce) {
  auto m = FromText("Tool", "web_search { type: 'web_search' }");
  EXPECT_EQ(WriteJson(*m), R"({"type":"web_search"})");
}

TEST_F(JsonShapes, TheUnionsTagWinsOverATypeTheVariantSetsItself) {
  auto m = FromText("Tool", "function { type: 'bogus' name: 'f' }");
  EXPECT_EQ(WriteJson(*m), R"({"type":"function","name":"f"})");
  m = FromText(
      "Tool", "web_search { extra_fields { fields { key: 'type' value { string_value: 'x' } } } }");
  EXPECT_EQ(WriteJson(*m), R"({"type":"web_search"})");
}

TEST_F(JsonShapes, AnObjectIsReadIntoTheVariantItsTagNames) {
  auto m = New("Request");
  ASSERT_TRUE(ReadJson(R"({"tools":[{"type":"web_search","max_results":5},)"
                       R"({"type":"function","name":"f","parameters":{"type":"object"}}]})",
                       *m)
                  .status.ok());
  EXPECT_EQ(Text(*m),
            "tools { web_search { type: \"web_search\" max_results: 5 } } tools { function { type: "
            "\"function\" name: \"f\" parameters { fields { key: \"type\" value { string_value: "
            "\"object\" } } } } } ");
}

TEST_F(JsonShapes, AnUnknownTagOrANonObjectIsKeptWholeInOther) {
  ExpectRoundTrip("Request", R"({"tools":[{"type":"code_interpreter","container":{"id":"c"}}]})");
  auto m = New("Tool");
  ASSERT_TRUE(ReadJson(R"({"type":"shell"})", *m).status.ok());
  EXPECT_EQ(
      Text(*m),
      "other { struct_value { fields { key: \"type\" value { string_value: \"shell\" } } } } ");
  ExpectRoundTrip("Request", R"({"tools":["not a tool"]})");
}

TEST_F(JsonShapes, AUnionByKindTakesTheVariantOfTheValuesKind) {
  const auto read = [&](const std::string& json) {
    auto m = New("Content");
    EXPECT_TRUE(ReadJson(json, *m).status.ok()) << json;
    return Text(*m);
  };
  EXPECT_EQ(read(R"("hello")"), "text: \"hello\" ");
  EXPECT_EQ(read(R"(["a","b"])"), "texts { items: \"a\" items: \"b\" } ");
  EXPECT_EQ(read(R"([1,2])"), "tokens { items: 1 items: 2 } ");
  EXPECT_EQ(read(R"([{"type":"input_text","text":"hi"}])"),
            "parts { items { type: \"input_text\" text: \"hi\" } } ");
  EXPECT_EQ(read("true"), "other { bool_value: true } ");  // no bool variant: other
  EXPECT_EQ(read(R"([1,"a"])"),
            "other { list_value { values { number_value: 1 } values { string_value: \"a\" } } } ");
}

TEST_F(JsonShapes, UnionsAndListsRoundTrip) {
  ExpectRoundTrip("Request", R"({"content":"hello"})");
  ExpectRoundTrip("Request", R"({"content":[[1,2]]})");  // no variant: other
  ExpectRoundTrip("Request", R"({"content":[{"type":"input_text","text":"hi"}]})");
  ExpectRoundTrip("Request", R"({"content":[]})");
}

TEST_F(JsonShapes, UnknownKeysAndMisfitValuesAreKeptInTheExtraField) {
  auto m = New("Request");
  const JsonReadResult read =
      ReadJson(R"({"model":"m","created":"yesterday","reasoning":{"effort":"low"},)"
               R"("tools":[{"type":"function","name":"f","strict":true}]})",
               *m);
  ASSERT_TRUE(read.status.ok());
  EXPECT_EQ(read.mismatched, 0);
  EXPECT_EQ(read.kept, 3);  // created, reasoning, tools[0].strict
  EXPECT_EQ(boost::json::parse(WriteJson(*m)),
            boost::json::parse(R"({"model":"m","created":"yesterday","reasoning":{"effort":"low"},)"
                               R"("tools":[{"type":"function","name":"f","strict":true}]})"));
}

TEST_F(JsonShapes, AListWithOneMisfitElementIsKeptWholeNotHalf) {
  auto m = New("Request");
  ASSERT_TRUE(ReadJson(R"({"parts":[{"text":"a"},"not a part"]})", *m).status.ok());
  EXPECT_EQ(m->GetReflection()->FieldSize(*m, m->GetDescriptor()->FindFieldByName("parts")), 0);
  EXPECT_EQ(WriteJson(*m), R"({"parts":[{"text":"a"},"not a part"]})");
}

TEST_F(JsonShapes, AFieldSetBesideTheSameKeyInExtraIsWrittenOnceFromTheField) {
  auto m = FromText("Request",
                    "model: 'from-field' extra_fields { fields { key: 'model' value { "
                    "string_value: 'from-extra' } } fields { key: 'store' value { bool_value: "
                    "true } } }");
  EXPECT_EQ(WriteJson(*m), R"({"model":"from-field","store":true})");
}

TEST_F(JsonShapes, NumbersOfEveryWireTypeAreWrittenAsProtobufReadsThem) {
  // ReadJson writes the wire form and parses it back: each value must come back as it
  // was, whatever its encoding (varint, sign-extended, zigzag, fixed) and its extremes.
  auto m = New("WireNumbers");
  const JsonReadResult read =
      ReadJson(R"({"i32":-5,"s32":-2147483648,"sf32":-7,"f32":4294967295,"u32":4294967295,)"
               R"("i64":-9223372036854775808,"s64":-9223372036854775807,"sf64":-1,)"
               R"("f64":18446744073709551615,"u64":18446744073709551615,"fl":1.5,"db":-2.25,)"
               R"("b":true,"by":"AQID","rs32":[-1,0,1],"big":"a field numbered past 2^11"})",
               *m);
  ASSERT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(read.mismatched, 0) << read.first_mismatch;
  EXPECT_EQ(
      Text(*m),
      "i32: -5 s32: -2147483648 sf32: -7 f32: 4294967295 u32: 4294967295 "
      "i64: -9223372036854775808 s64: -9223372036854775807 sf64: -1 "
      "f64: 18446744073709551615 u64: 18446744073709551615 fl: 1.5 db: -2.25 b: true "
      "by: \"\\001\\002\\003\" rs32: -1 rs32: 0 rs32: 1 big: \"a field numbered past 2^11\" ");
  // Zeros of fields without presence are left out, as protobuf's serializers leave them.
  std::string wire;
  ASSERT_TRUE(
      ReadJsonWire(R"({"i32":0,"db":0,"b":false,"by":""})", *m->GetDescriptor(), wire).status.ok());
  EXPECT_EQ(wire, "");
  // A value out of its field's range does not fit: it is dropped and counted, never wrapped.
  m = New("WireNumbers");
  EXPECT_EQ(ReadJson(R"({"u32":-1,"i32":2147483648})", *m).mismatched, 2);
  EXPECT_EQ(Text(*m), "");
}

TEST_F(JsonShapes, AmbiguousVariantsAreTriedButNotAtEveryLevel) {
  // Each level is an object both variants take by kind; only B takes {"x"} whole.
  auto m = New("Node");
  ASSERT_TRUE(ReadJson(R"({"child":{"x":"leaf"}})", *m).status.ok());
  EXPECT_EQ(Text(*m), "a { child { b { x: \"leaf\" } } } ");
  // Sixty levels of it: trying both variants at every level would read the innermost
  // object 2^60 times. The reader tries them two levels deep, then takes the first that
  // drops nothing, so this returns (at once), and nothing is lost either way.
  std::string deep = R"({"x":"leaf","y":1})";
  for (int i = 0; i < 60; ++i) deep = StrCat(R"({"child":)", deep, "}");
  m = New("Node");
  const JsonReadResult read = ReadJson(deep, *m);
  ASSERT_TRUE(read.status.ok());
  EXPECT_EQ(read.mismatched, 0);
  boost::json::parse_options deep_enough;
  deep_enough.max_depth = kMaxJsonDepth;
  EXPECT_EQ(boost::json::parse(WriteJson(*m), {}, deep_enough),
            boost::json::parse(deep, {}, deep_enough));
}

TEST_F(JsonShapes, AnEmptyUnionIsNull) {
  auto m = FromText("Request", "content {}");
  EXPECT_EQ(WriteJson(*m), R"({"content":null})");
}

}  // namespace
}  // namespace oa::transcode
