// The descriptor set embedded at build time: it parses, loads with its imports, and the
// http rules arrive as the known google.api.http extension.
#include "route/descriptors.h"

#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "google/api/annotations.pb.h"

namespace oa::route {
namespace {

TEST(Descriptors, EmbeddedSetParses) {
  const std::string_view bytes = EmbeddedDescriptorSet();
  ASSERT_FALSE(bytes.empty());
  google::protobuf::FileDescriptorSet set;
  ASSERT_TRUE(set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  EXPECT_GT(set.file_size(), 0);
}

TEST(Descriptors, LoadsEveryFileWithImports) {
  const Descriptors& d = ApiDescriptors();
  ASSERT_NE(d.pool, nullptr);
  std::set<std::string> names;
  for (const google::protobuf::FileDescriptor* file : d.files) {
    ASSERT_NE(file, nullptr);
    names.insert(file->name());
  }
  EXPECT_TRUE(names.contains("google/api/annotations.proto"));
  EXPECT_TRUE(names.contains("google/api/http.proto"));
  EXPECT_TRUE(names.contains("openai/v1/chat.proto"));
  EXPECT_TRUE(names.contains("openai/v1/models.proto"));
}

TEST(Descriptors, ImportsComeBeforeTheirUsers) {
  std::set<std::string> seen;
  for (const google::protobuf::FileDescriptor* file : ApiDescriptors().files) {
    for (int i = 0; i < file->dependency_count(); ++i) {
      EXPECT_TRUE(seen.contains(file->dependency(i)->name()))
          << file->name() << " before " << file->dependency(i)->name();
    }
    seen.insert(file->name());
  }
}

TEST(Descriptors, HttpRulesAreAKnownExtension) {
  const google::protobuf::MethodDescriptor* method =
      ApiDescriptors().pool->FindMethodByName("openai.v1.ModelsService.RetrieveModel");
  ASSERT_NE(method, nullptr);
  ASSERT_TRUE(method->options().HasExtension(google::api::http));
  EXPECT_EQ(method->options().GetExtension(google::api::http).get(), "/v1/models/{model}");
}

TEST(Descriptors, SameObjectEveryCall) { EXPECT_EQ(&ApiDescriptors(), &ApiDescriptors()); }

}  // namespace
}  // namespace oa::route
