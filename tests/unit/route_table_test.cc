// RouteTable: built from the real descriptors embedded in the binary (the routes the
// gateway serves), and from small hand-made descriptors (how Build treats bad protos).
#include "route/route_table.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "google/api/annotations.pb.h"
#include "route/descriptors.h"

namespace oa::route {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const RouteTable& RealTable() {
  static const RouteTable* const table = [] {
    absl::StatusOr<RouteTable> built = RouteTable::Build(ApiDescriptors().files);
    EXPECT_TRUE(built.ok()) << built.status();
    return built.ok() ? new RouteTable(*std::move(built)) : nullptr;
  }();
  return *table;
}

std::string RpcOf(std::string_view method, std::string_view path) {
  std::optional<RouteMatch> m = RealTable().MatchHttp(method, path);
  return m ? m->route->rpc : "<none>";
}

// A path that `tmpl` matches: each `*` becomes "sample-id", a `**` "a/b".
std::string SamplePath(const HttpTemplate& tmpl) {
  std::string path;
  for (const std::string& s : tmpl.segments) {
    path += "/";
    path += s == HttpTemplate::kSingleWildcard  ? "sample-id"
            : s == HttpTemplate::kMultiWildcard ? "a/b"
                                                : s;
  }
  if (!tmpl.verb.empty()) path += ":" + tmpl.verb;
  return path;
}

TEST(RouteTable, BuildsFromEmbeddedDescriptors) {
  ASSERT_FALSE(RealTable().routes().empty());
  const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  for (const Route& route : RealTable().routes()) {
    SCOPED_TRACE(route.rpc);
    EXPECT_TRUE(route.rpc.starts_with("openai.")) << route.rpc;
    EXPECT_NE(route.rpc.find('/'), std::string::npos);
    ASSERT_NE(route.method, nullptr);
    EXPECT_EQ(StrCat(route.method->service()->full_name(), "/", route.method->name()), route.rpc);
    EXPECT_TRUE(methods.contains(route.http_method)) << route.http_method;
    EXPECT_TRUE(route.path_template.starts_with("/v1/")) << route.path_template;
    EXPECT_FALSE(route.tmpl.segments.empty());
    EXPECT_EQ(route.tmpl.segments.front(), "v1");
  }
}

TEST(RouteTable, EveryRouteIsReachableByName) {
  for (const Route& route : RealTable().routes()) {
    const Route* found = RealTable().FindRpc(route.rpc);
    ASSERT_NE(found, nullptr) << route.rpc;
    EXPECT_EQ(found->rpc, route.rpc);
  }
}

TEST(RouteTable, EveryRuleIsReachableOverHttp) {
  // Each rule matches a path built from its own template; twins (a unary and a streaming
  // form of one call) share the rule, so only the rule itself is compared.
  for (const Route& route : RealTable().routes()) {
    const std::string path = SamplePath(route.tmpl);
    std::optional<RouteMatch> m = RealTable().MatchHttp(route.http_method, path);
    ASSERT_TRUE(m.has_value()) << route.http_method << " " << path;
    EXPECT_EQ(m->route->path_template, route.path_template) << path;
    EXPECT_EQ(m->route->http_method, route.http_method) << path;
    EXPECT_EQ(m->bindings.size(), route.tmpl.variables.size()) << path;
  }
}

TEST(RouteTable, ChatCompletionPostFindsTheUnaryRpc) {
  std::optional<RouteMatch> m = RealTable().MatchHttp("POST", "/v1/chat/completions");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.v1.ChatService/CreateChatCompletion");
  EXPECT_EQ(m->route->body, "*");
  EXPECT_FALSE(m->route->method->server_streaming());
  EXPECT_TRUE(m->bindings.empty());
}

TEST(RouteTable, ChatCompletionGetListsThem) {
  EXPECT_EQ(RpcOf("GET", "/v1/chat/completions"), "openai.v1.ChatService/ListChatCompletions");
}

TEST(RouteTable, FileContentBindsFileId) {
  std::optional<RouteMatch> m = RealTable().MatchHttp("GET", "/v1/files/file-abc/content");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.v1.FilesService/DownloadFile");
  ASSERT_EQ(m->bindings.size(), 1u);
  EXPECT_THAT(m->bindings[0].field_path, ElementsAre("file_id"));
  EXPECT_EQ(m->bindings[0].value, "file-abc");
}

TEST(RouteTable, FileRetrieveIsNotFileContent) {
  EXPECT_EQ(RpcOf("GET", "/v1/files/file-abc"), "openai.v1.FilesService/RetrieveFile");
  EXPECT_EQ(RpcOf("DELETE", "/v1/files/file-abc"), "openai.v1.FilesService/DeleteFile");
  EXPECT_EQ(RpcOf("POST", "/v1/files"), "openai.v1.FilesService/CreateFile");
  EXPECT_EQ(RpcOf("GET", "/v1/files"), "openai.v1.FilesService/ListFiles");
}

TEST(RouteTable, FineTunedModelIdWithColonsBindsWhole) {
  std::optional<RouteMatch> m = RealTable().MatchHttp("GET", "/v1/models/ft:gpt-4o:acme::abc123");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.v1.ModelsService/RetrieveModel");
  ASSERT_EQ(m->bindings.size(), 1u);
  EXPECT_THAT(m->bindings[0].field_path, ElementsAre("model"));
  EXPECT_EQ(m->bindings[0].value, "ft:gpt-4o:acme::abc123");
}

TEST(RouteTable, DeleteModel) {
  std::optional<RouteMatch> m = RealTable().MatchHttp("DELETE", "/v1/models/x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.v1.ModelsService/DeleteModel");
  ASSERT_EQ(m->bindings.size(), 1u);
  EXPECT_EQ(m->bindings[0].value, "x");
  EXPECT_EQ(RpcOf("GET", "/v1/models"), "openai.v1.ModelsService/ListModels");
}

TEST(RouteTable, UnmodelledEndpointIsNullopt) {
  EXPECT_FALSE(RealTable().MatchHttp("GET", "/v1/some/new/endpoint").has_value());
  EXPECT_FALSE(RealTable().MatchHttp("POST", "/v1/some/new/endpoint").has_value());
  EXPECT_FALSE(RealTable().MatchHttp("PUT", "/v1/chat/completions").has_value());
  EXPECT_FALSE(RealTable().MatchHttp("GET", "/v1/models/").has_value());
  EXPECT_FALSE(RealTable().MatchHttp("GET", "/v1").has_value());
}

TEST(RouteTable, FindRpcWithAndWithoutLeadingSlash) {
  const Route* plain = RealTable().FindRpc("openai.v1.ModelsService/RetrieveModel");
  const Route* slashed = RealTable().FindRpc("/openai.v1.ModelsService/RetrieveModel");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain, slashed);
  EXPECT_EQ(plain->http_method, "GET");
  EXPECT_EQ(plain->path_template, "/v1/models/{model}");
}

TEST(RouteTable, FindRpcOfUnknownIsNull) {
  EXPECT_EQ(RealTable().FindRpc("openai.v1.ModelsService/Nope"), nullptr);
  EXPECT_EQ(RealTable().FindRpc("openai.v1.ModelsService.RetrieveModel"), nullptr);
  EXPECT_EQ(RealTable().FindRpc("//openai.v1.ModelsService/RetrieveModel"), nullptr);
  EXPECT_EQ(RealTable().FindRpc(""), nullptr);
}

TEST(RouteTable, StreamingTwinIsFoundByName) {
  const Route* stream = RealTable().FindRpc("/openai.v1.ChatService/CreateChatCompletionStream");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->rpc, "openai.v1.ChatService/CreateChatCompletionStream");
  ASSERT_NE(stream->method, nullptr);
  EXPECT_TRUE(stream->method->server_streaming());
  EXPECT_FALSE(stream->method->client_streaming());
  EXPECT_EQ(stream->http_method, "POST");
  EXPECT_EQ(stream->path_template, "/v1/chat/completions");
  EXPECT_EQ(stream->body, "*");
}

// ---- hand-made descriptors ----------------------------------------------------------

using google::api::HttpRule;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::ServiceDescriptorProto;

HttpRule Get(std::string_view path) {
  HttpRule rule;
  rule.set_get(std::string(path));
  return rule;
}

HttpRule Post(std::string_view path, std::string_view body = "*") {
  HttpRule rule;
  rule.set_post(std::string(path));
  rule.set_body(std::string(body));
  return rule;
}

// A pool holding descriptor.proto and the google/api protos, to which each test adds a
// file of its own.
class RouteTableFromProto : public ::testing::Test {
 protected:
  RouteTableFromProto() {
    for (const char* name : {"google/protobuf/descriptor.proto", "google/api/http.proto",
                             "google/api/annotations.proto"}) {
      const FileDescriptor* generated = DescriptorPool::generated_pool()->FindFileByName(name);
      EXPECT_NE(generated, nullptr) << name;
      if (generated == nullptr) continue;
      FileDescriptorProto proto;
      generated->CopyTo(&proto);
      EXPECT_NE(pool_.BuildFile(proto), nullptr) << name;
    }
  }

  static FileDescriptorProto NewFile(std::string_view name, std::string_view package) {
    FileDescriptorProto file;
    file.set_name(std::string(name));
    file.set_package(std::string(package));
    file.set_syntax("proto3");
    file.add_dependency("google/api/annotations.proto");
    auto* message = file.add_message_type();
    message->set_name("Req");
    auto* field = message->add_field();
    field->set_name("id");
    field->set_number(1);
    field->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
    field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    return file;
  }

  static void AddMethod(ServiceDescriptorProto& service, std::string_view package,
                        std::string_view name, const HttpRule* rule,
                        bool server_streaming = false) {
    auto* method = service.add_method();
    method->set_name(std::string(name));
    method->set_input_type(StrCat(".", package, ".Req"));
    method->set_output_type(StrCat(".", package, ".Req"));
    method->set_server_streaming(server_streaming);
    if (rule != nullptr) *method->mutable_options()->MutableExtension(google::api::http) = *rule;
  }

  const FileDescriptor* Load(const FileDescriptorProto& file) {
    const FileDescriptor* loaded = pool_.BuildFile(file);
    EXPECT_NE(loaded, nullptr) << file.name();
    return loaded;
  }

  DescriptorPool pool_;
};

TEST_F(RouteTableFromProto, BuildsRoutesInDeclarationOrder) {
  FileDescriptorProto file = NewFile("t/a.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  const HttpRule list = Get("/v1/things");
  const HttpRule create = Post("/v1/things");
  const HttpRule get = Get("/v1/things/{id}");
  AddMethod(*service, "openai.test", "List", &list);
  AddMethod(*service, "openai.test", "Create", &create);
  AddMethod(*service, "openai.test", "Get", &get);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->routes().size(), 3u);
  EXPECT_EQ(table->routes()[0].rpc, "openai.test.Things/List");
  EXPECT_EQ(table->routes()[1].rpc, "openai.test.Things/Create");
  EXPECT_EQ(table->routes()[1].body, "*");
  EXPECT_EQ(table->routes()[2].rpc, "openai.test.Things/Get");
  EXPECT_EQ(table->routes()[2].body, "");
  EXPECT_EQ(table->routes()[2].method, loaded->service(0)->method(2));

  std::optional<RouteMatch> m = table->MatchHttp("GET", "/v1/things/t1");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.test.Things/Get");
  ASSERT_EQ(m->bindings.size(), 1u);
  EXPECT_EQ(m->bindings[0].value, "t1");
}

TEST_F(RouteTableFromProto, MethodWithoutHttpRuleIsAnErrorNamingIt) {
  FileDescriptorProto file = NewFile("t/b.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  const HttpRule list = Get("/v1/things");
  AddMethod(*service, "openai.test", "List", &list);
  AddMethod(*service, "openai.test", "Forgotten", nullptr);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("openai.test.Things.Forgotten"));
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("google.api.http"));
}

TEST_F(RouteTableFromProto, BadTemplateIsAnErrorNamingRpcAndTemplate) {
  FileDescriptorProto file = NewFile("t/c.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  const HttpRule bad = Get("/v1/things/{id");
  AddMethod(*service, "openai.test", "Broken", &bad);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("openai.test.Things/Broken"));
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("/v1/things/{id"));
}

TEST_F(RouteTableFromProto, BadTemplateInAdditionalBindingIsAnError) {
  FileDescriptorProto file = NewFile("t/c2.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  HttpRule rule = Get("/v1/things/{id}");
  *rule.add_additional_bindings() = Get("/v1/things//{id}");
  AddMethod(*service, "openai.test", "Get", &rule);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("empty segment"));
}

TEST_F(RouteTableFromProto, RuleWithoutPatternIsAnError) {
  FileDescriptorProto file = NewFile("t/d.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  HttpRule body_only;
  body_only.set_body("*");
  AddMethod(*service, "openai.test", "Patternless", &body_only);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("openai.test.Things/Patternless"));
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("without a pattern"));
}

TEST_F(RouteTableFromProto, AdditionalBindingsAddRoutes) {
  FileDescriptorProto file = NewFile("t/e.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  HttpRule rule = Get("/v1/things/{id}");
  *rule.add_additional_bindings() = Get("/v1/legacy/things/{id}");
  HttpRule patch;
  patch.set_patch("/v1/things/{id}");
  patch.set_body("*");
  *rule.add_additional_bindings() = patch;
  AddMethod(*service, "openai.test", "Get", &rule);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->routes().size(), 3u);
  EXPECT_EQ(table->routes()[1].path_template, "/v1/legacy/things/{id}");
  EXPECT_EQ(table->routes()[2].http_method, "PATCH");
  EXPECT_EQ(table->routes()[2].body, "*");
  for (const auto& [method, path] : std::vector<std::pair<const char*, const char*>>{
           {"GET", "/v1/things/a"}, {"GET", "/v1/legacy/things/a"}, {"PATCH", "/v1/things/a"}}) {
    std::optional<RouteMatch> m = table->MatchHttp(method, path);
    ASSERT_TRUE(m.has_value()) << method << " " << path;
    EXPECT_EQ(m->route->rpc, "openai.test.Things/Get");
    ASSERT_EQ(m->bindings.size(), 1u);
    EXPECT_EQ(m->bindings[0].value, "a");
  }
  // By name, the first binding.
  const Route* by_name = table->FindRpc("openai.test.Things/Get");
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(by_name->path_template, "/v1/things/{id}");
  EXPECT_EQ(by_name->http_method, "GET");
}

TEST_F(RouteTableFromProto, SharedRuleMatchesTheFirstDeclared) {
  FileDescriptorProto file = NewFile("t/f.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Gen");
  const HttpRule rule = Post("/v1/generate");
  AddMethod(*service, "openai.test", "Generate", &rule);
  AddMethod(*service, "openai.test", "StreamGenerate", &rule, /*server_streaming=*/true);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_TRUE(table.ok()) << table.status();
  std::optional<RouteMatch> m = table->MatchHttp("POST", "/v1/generate");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.test.Gen/Generate");
  const Route* stream = table->FindRpc("/openai.test.Gen/StreamGenerate");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->method->server_streaming());
}

TEST_F(RouteTableFromProto, CustomPatternUsesItsKind) {
  FileDescriptorProto file = NewFile("t/g.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  HttpRule rule;
  rule.mutable_custom()->set_kind("HEAD");
  rule.mutable_custom()->set_path("/v1/things/{id}");
  AddMethod(*service, "openai.test", "Probe", &rule);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({loaded});
  ASSERT_TRUE(table.ok()) << table.status();
  std::optional<RouteMatch> m = table->MatchHttp("HEAD", "/v1/things/x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->rpc, "openai.test.Things/Probe");
  EXPECT_FALSE(table->MatchHttp("GET", "/v1/things/x").has_value());
}

TEST_F(RouteTableFromProto, OtherPackagesAreSkipped) {
  // A service outside the prefix needs no rules; it is simply not routed.
  FileDescriptorProto other = NewFile("t/h.proto", "acme.internal");
  auto* other_service = other.add_service();
  other_service->set_name("Admin");
  AddMethod(*other_service, "acme.internal", "NoRule", nullptr);
  FileDescriptorProto ours = NewFile("t/i.proto", "openai.test");
  auto* service = ours.add_service();
  service->set_name("Things");
  const HttpRule list = Get("/v1/things");
  AddMethod(*service, "openai.test", "List", &list);
  const FileDescriptor* a = Load(other);
  const FileDescriptor* b = Load(ours);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  absl::StatusOr<RouteTable> table = RouteTable::Build({a, b});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->routes().size(), 1u);
  EXPECT_EQ(table->routes()[0].rpc, "openai.test.Things/List");
  EXPECT_EQ(table->FindRpc("acme.internal.Admin/NoRule"), nullptr);

  // With a prefix that takes it in, the rule-less method is an error again.
  absl::StatusOr<RouteTable> strict = RouteTable::Build({a, b}, "acme.");
  EXPECT_FALSE(strict.ok());
}

TEST_F(RouteTableFromProto, EmptyFileListGivesEmptyTable) {
  absl::StatusOr<RouteTable> table = RouteTable::Build({});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->routes().empty());
  EXPECT_FALSE(table->MatchHttp("GET", "/v1/models").has_value());
  EXPECT_EQ(table->FindRpc("openai.v1.ModelsService/ListModels"), nullptr);
}

TEST_F(RouteTableFromProto, TableSurvivesMove) {
  FileDescriptorProto file = NewFile("t/j.proto", "openai.test");
  auto* service = file.add_service();
  service->set_name("Things");
  const HttpRule get = Get("/v1/things/{id}");
  AddMethod(*service, "openai.test", "Get", &get);
  const FileDescriptor* loaded = Load(file);
  ASSERT_NE(loaded, nullptr);

  absl::StatusOr<RouteTable> built = RouteTable::Build({loaded});
  ASSERT_TRUE(built.ok());
  RouteTable moved = *std::move(built);
  std::optional<RouteMatch> m = moved.MatchHttp("GET", "/v1/things/x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route, moved.FindRpc("openai.test.Things/Get"));
  EXPECT_EQ(m->route, &moved.routes()[0]);
}

}  // namespace
}  // namespace oa::route
