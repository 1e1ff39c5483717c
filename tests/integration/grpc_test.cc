// The gRPC front through the real binary: every RPC of proto/ reaches the mock as the
// HTTP request its rule describes, on the same port as REST; metadata, errors,
// deadlines, cancellation, streams, uploads, downloads, reflection and health.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <regex>

#include "fixture.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "grpc_client.h"
#include "route/descriptors.h"
#include "route/route_table.h"
#include "transcode/field_names.h"

namespace oa::testing {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::pair<std::string, std::string> kKeyMetadata = {"authorization",
                                                          std::string("Bearer ") + kKey};

class Grpc : public GatewayTest {
 protected:
  void SetUp() override {
    StartAll();
    client_ = std::make_unique<GrpcClient>(gateway_->port());
  }

  void TearDown() override {
    client_.reset();  // an idle HTTP/2 connection would hold the gateway's shutdown
    GatewayTest::TearDown();
  }

  GrpcResult Call(const std::string& rpc, const Message& request, GrpcCallOptions options = {}) {
    options.metadata.insert(options.metadata.begin(), kKeyMetadata);
    return client_->Call("/" + rpc, request.SerializeAsString(), options);
  }

  std::unique_ptr<Message> Request(const std::string& rpc, const std::string& text) {
    std::unique_ptr<Message> m = client_->NewRequest(rpc);
    EXPECT_NE(m, nullptr) << rpc;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, m.get())) << text;
    return m;
  }

  mock::RecordedRequest OnlyRequest() {
    EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return !mock_->requests().empty(); },
                                          std::chrono::milliseconds(2000)));
    std::vector<mock::RecordedRequest> seen = mock_->requests();
    EXPECT_EQ(seen.size(), 1u);
    return seen.empty() ? mock::RecordedRequest{} : seen.front();
  }

  std::unique_ptr<GrpcClient> client_;
};

// The first optional string field of `d` not in `skip`: a probe the test can set.
const FieldDescriptor* ProbeField(const google::protobuf::Descriptor& d,
                                  const std::vector<std::string>& skip) {
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* f = d.field(i);
    if (f->type() == FieldDescriptor::TYPE_STRING && !f->is_repeated() && f->has_presence() &&
        std::find(skip.begin(), skip.end(), f->name()) == skip.end()) {
      return f;
    }
  }
  return nullptr;
}

// Every RPC, called once with its path fields and one probe field set: the mock must
// receive the method, the path with the values in place, the probe in the query or the
// JSON body as the rule says, and the caller's key. The gateway's own machinery must not
// fail (no INTERNAL / UNAVAILABLE / UNIMPLEMENTED); the mock's answers parse leniently.
TEST_F(Grpc, EveryRpcReachesTheUpstreamAsItsRuleSays) {
  const route::RouteTable table = *route::RouteTable::Build(route::ApiDescriptors().files);
  int checked = 0;
  for (const route::Route& route : table.routes()) {
    SCOPED_TRACE(route.rpc);
    mock_->ClearRequests();
    std::unique_ptr<Message> request = client_->NewRequest(route.rpc);
    const auto& d = *request->GetDescriptor();
    const auto& r = *request->GetReflection();
    std::string expected_path = route.path_template;
    std::vector<std::string> path_fields;
    for (const auto& variable : route.tmpl.variables) {
      const std::string name = variable.field_path.front();
      path_fields.push_back(name);
      r.SetString(request.get(), d.FindFieldByName(name), "v_" + name);
      expected_path =
          std::regex_replace(expected_path, std::regex("\\{" + name + "\\}"), "v_" + name);
    }
    // Where the probe goes: the body for body "*", inside the body field for "body",
    // else the query.
    Message* probe_owner = request.get();
    bool probe_in_body = route.body == "*";
    if (!route.body.empty() && route.body != "*") {
      const FieldDescriptor* body = d.FindFieldByName(route.body);
      if (body->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          body->message_type()->full_name().rfind("google.protobuf.", 0) != 0) {
        probe_owner = r.MutableMessage(request.get(), body);
        probe_in_body = true;
      }
    }
    if (route.method->client_streaming()) {  // an upload's first message sets the file
      for (int i = 0; i < d.field_count(); ++i) {
        const FieldDescriptor* f = d.field(i);
        if (f->message_type() != nullptr && f->message_type()->name() == "FileUpload" &&
            !f->is_repeated()) {
          Message* file = r.MutableMessage(request.get(), f);
          file->GetReflection()->SetString(file, file->GetDescriptor()->FindFieldByName("data"),
                                           "file-bytes");
          break;
        }
      }
    }
    const FieldDescriptor* probe = ProbeField(*probe_owner->GetDescriptor(), path_fields);
    if (probe != nullptr) {
      probe_owner->GetReflection()->SetString(probe_owner, probe, "probe_1");
    }

    const GrpcResult result = Call(route.rpc, *request);
    const grpc::StatusCode code = result.status.error_code();
    EXPECT_TRUE(code != grpc::INTERNAL && code != grpc::UNAVAILABLE &&
                code != grpc::UNIMPLEMENTED && code != grpc::UNKNOWN)
        << code << " " << result.status.error_message();

    const mock::RecordedRequest seen = OnlyRequest();
    EXPECT_EQ(seen.method, route.http_method);
    EXPECT_EQ(seen.header("authorization"), std::string("Bearer ") + kKey);
    const std::string path = seen.target.substr(0, seen.target.find('?'));
    EXPECT_EQ(path, expected_path);
    if (probe != nullptr) {
      const std::string wire(transcode::WireName(*probe));
      if (probe_in_body) {
        if (seen.header("content-type").starts_with("multipart/form-data")) {
          EXPECT_THAT(seen.body_prefix, HasSubstr("name=\"" + wire + "\"\r\n\r\nprobe_1\r\n"));
        } else {
          EXPECT_EQ(seen.header("content-type"), "application/json");
          EXPECT_THAT(seen.body_prefix, HasSubstr("\"" + wire + "\":\"probe_1\""));
        }
      } else {
        EXPECT_THAT(seen.target, HasSubstr(wire + "=probe_1"));
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST_F(Grpc, ChatCompletionArrivesAsOpenAisJsonAndComesBackTyped) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletion";
  std::unique_ptr<Message> request = Request(rpc, R"(model: "gpt-4o" temperature: 0 n: 1
      messages { user { content { text: "hi" } } })");
  GrpcCallOptions options;
  options.metadata = {{"openai-organization", "org-1"},
                      {"openai-project", "proj-1"},
                      {"idempotency-key", "idem-1"}};
  const GrpcResult result = Call(rpc, *request, options);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.messages.size(), 1u);
  std::unique_ptr<Message> answer = client_->ParseResponse(rpc, result.messages[0]);
  ASSERT_NE(answer, nullptr);
  std::string text;
  google::protobuf::TextFormat::PrintToString(*answer, &text);
  EXPECT_THAT(text, HasSubstr("chat.completion"));
  EXPECT_THAT(result.Initial("x-request-id"), StartsWith("req_mock_"));

  const mock::RecordedRequest seen = OnlyRequest();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/v1/chat/completions");
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(seen.header("openai-organization"), "org-1");
  EXPECT_EQ(seen.header("openai-project"), "proj-1");
  EXPECT_EQ(seen.header("idempotency-key"), "idem-1");
  EXPECT_THAT(seen.body_prefix, HasSubstr(R"("temperature":0)"));
  EXPECT_THAT(seen.body_prefix, HasSubstr(R"("n":1)"));
  EXPECT_THAT(seen.body_prefix, HasSubstr(R"("messages":[{"role":"user","content":"hi"}])"));
  EXPECT_THAT(seen.body_prefix, ::testing::Not(HasSubstr("stream")));
}

TEST_F(Grpc, StreamingTwinYieldsOneMessagePerEventAsTheyArrive) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletionStream";
  std::unique_ptr<Message> request = Request(rpc, R"(model: "gpt-4o")");
  GrpcCallOptions options;
  options.metadata = {{"x-mock-sse-events", "4"}, {"x-mock-sse-interval-ms", "200"}};
  const GrpcResult result = Call(rpc, *request, options);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_GE(result.messages.size(), 4u);
  EXPECT_GE(result.elapsed.count(), 600);  // paced by the upstream, not buffered whole
  EXPECT_THAT(OnlyRequest().body_prefix, HasSubstr(R"("stream":true)"));
}

TEST_F(Grpc, UpstreamErrorBecomesItsStatusWithOpenAisMessage) {
  const std::string rpc = "openai.v1.ModelsService/RetrieveModel";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-status", "429"}};
  const GrpcResult result = Call(rpc, *Request(rpc, R"(model: "gpt-4o")"), options);
  EXPECT_EQ(result.status.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(result.status.error_message().empty());
  EXPECT_EQ(result.Trailing("openai-http-status"), "429");
  EXPECT_THAT(result.Trailing("openai-error-bin"), HasSubstr("\"error\""));
}

TEST_F(Grpc, MissingKeyIsUnauthenticatedWithoutAnUpstreamCall) {
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  const GrpcResult result = client_->Call("/" + rpc, client_->NewRequest(rpc)->SerializeAsString());
  EXPECT_EQ(result.status.error_code(), grpc::UNAUTHENTICATED);
  EXPECT_THAT(result.status.error_message(), HasSubstr("authorization"));
  EXPECT_TRUE(LogHas("rpc=openai.v1.ModelsService/ListModels grpc_status=16")) << gateway_->Log();
  // The call has ended (its access line is written): an upstream call it made would have
  // reached the mock before then, so there is nothing more to wait for.
  EXPECT_EQ(mock_->accepted_connections(), 0);
  EXPECT_TRUE(mock_->requests().empty());
}

TEST_F(Grpc, UnknownMethodIsUnimplemented) {
  const GrpcResult result = client_->Call("/openai.v1.ChatService/Nope", "", {{kKeyMetadata}});
  EXPECT_EQ(result.status.error_code(), grpc::UNIMPLEMENTED);
  EXPECT_TRUE(LogHas("rpc=/openai.v1.ChatService/Nope grpc_status=12")) << gateway_->Log();
}

TEST_F(Grpc, BadRequestBytesAreInvalidArgument) {
  const GrpcResult result =
      client_->Call("/openai.v1.ModelsService/RetrieveModel", "\xff\xff\xff", {{kKeyMetadata}});
  EXPECT_EQ(result.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_TRUE(mock_->requests().empty());
}

TEST_F(Grpc, MissingPathFieldIsInvalidArgumentNamingIt) {
  const std::string rpc = "openai.v1.FilesService/RetrieveFile";
  const GrpcResult result = Call(rpc, *client_->NewRequest(rpc));
  EXPECT_EQ(result.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("file_id"));
}

TEST_F(Grpc, DeadlineBoundsTheUpstreamCallAndClosesIt) {
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-delay-ms", "5000"}};
  options.timeout = std::chrono::milliseconds(300);
  const GrpcResult result = Call(rpc, *client_->NewRequest(rpc), options);
  EXPECT_EQ(result.status.error_code(), grpc::DEADLINE_EXCEEDED);
  EXPECT_LT(result.elapsed.count(), 2000);
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        std::chrono::milliseconds(1500)))
      << "the upstream call was not closed";
  // Logged and counted as the deadline it was, not as a cancel.
  EXPECT_TRUE(LogHas("rpc=openai.v1.ModelsService/ListModels grpc_status=4")) << gateway_->Log();
}

TEST_F(Grpc, CancellingAStreamClosesTheUpstreamCall) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletionStream";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-sse-events", "50"}, {"x-mock-sse-interval-ms", "2000"}};
  options.cancel_after = 1;
  const GrpcResult result = Call(rpc, *Request(rpc, R"(model: "m")"), options);
  EXPECT_EQ(result.status.error_code(), grpc::CANCELLED);
  EXPECT_EQ(result.messages.size(), 1u);
  // The mock's next write is 2 s away: only the gateway closing the call tells it.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        std::chrono::milliseconds(1500)));
  EXPECT_TRUE(LogHas("rpc=openai.v1.ChatService/CreateChatCompletionStream grpc_status=1"))
      << gateway_->Log();
}

TEST_F(Grpc, UpstreamCutMidStreamEndsTheCallWithAnError) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletionStream";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-break", "mid-body"}};
  const GrpcResult result = Call(rpc, *Request(rpc, R"(model: "m")"), options);
  EXPECT_EQ(result.status.error_code(), grpc::UNAVAILABLE) << result.status.error_message();
}

TEST_F(Grpc, ErrorInsideAStreamEndsTheCallWithOpenAisMessage) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletionStream";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-sse-events", "5"}, {"x-mock-sse-error-at", "2"}};
  const GrpcResult result = Call(rpc, *Request(rpc, R"(model: "m")"), options);
  EXPECT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.status.error_code(), grpc::INTERNAL);
  EXPECT_EQ(result.status.error_message(), "mock stream error");
}

// The Responses and Assistants streams report an error as an `error` event whose data is
// the error object itself, its "message" at the top.
TEST_F(Grpc, ErrorEventInAResponsesStreamEndsTheCallWithOpenAisMessage) {
  const std::string rpc = "openai.v1.ResponsesService/CreateResponseStream";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-sse-events", "3"}, {"x-mock-sse-error-at", "2"}};
  const GrpcResult result = Call(rpc, *Request(rpc, R"(model: "m")"), options);
  EXPECT_EQ(result.messages.size(), 2u);  // response.created, one delta
  EXPECT_EQ(result.status.error_code(), grpc::INTERNAL);
  EXPECT_EQ(result.status.error_message(), "mock stream error");
  EXPECT_THAT(result.Trailing("openai-error-bin"), HasSubstr(R"("code":"server_error")"));
}

// OpenAI answers some calls with an empty 200 and no Content-Type; their RPCs return
// google.protobuf.Empty.
TEST_F(Grpc, EmptyAnswerToAnRpcReturningEmptyIsOk) {
  for (const std::string rpc : {"openai.v1.RealtimeService/AcceptRealtimeCall",
                                "openai.v1.RealtimeService/HangupRealtimeCall"}) {
    const GrpcResult result = Call(rpc, *Request(rpc, R"(call_id: "rtc_1")"));
    EXPECT_TRUE(result.status.ok()) << rpc << ": " << result.status.error_message();
    ASSERT_EQ(result.messages.size(), 1u) << rpc;
    EXPECT_EQ(result.messages[0], "") << rpc;
  }
}

TEST_F(Grpc, FileUploadIsMultipartAndDownloadStreamsTheBytes) {
  std::string data(200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 256);
  const std::string upload = "openai.v1.FilesService/CreateFile";
  std::unique_ptr<Message> request = client_->NewRequest(upload);
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(purpose: "batch" file { filename: "in.jsonl" content_type: "application/jsonl" })",
      request.get()));
  Message* file = request->GetReflection()->MutableMessage(
      request.get(), request->GetDescriptor()->FindFieldByName("file"));
  file->GetReflection()->SetString(file, file->GetDescriptor()->FindFieldByName("data"), data);
  const GrpcResult created = Call(upload, *request);
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  const mock::RecordedRequest seen = OnlyRequest();
  EXPECT_EQ(seen.target, "/v1/files");
  EXPECT_THAT(seen.header("content-type"), StartsWith("multipart/form-data; boundary="));
  EXPECT_THAT(seen.body_prefix, HasSubstr("name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: "
                                          "application/jsonl\r\n\r\n" +
                                          data + "\r\n"));
  EXPECT_THAT(seen.body_prefix, HasSubstr("name=\"purpose\"\r\n\r\nbatch\r\n"));

  const std::string download = "openai.v1.FilesService/DownloadFile";
  GrpcCallOptions options;
  options.metadata = {{"x-mock-bytes", "100000"}};
  const GrpcResult content = Call(download, *Request(download, R"(file_id: "file-1")"), options);
  ASSERT_TRUE(content.status.ok()) << content.status.error_message();
  ASSERT_GE(content.messages.size(), 2u);  // streamed in pieces
  std::string bytes;
  std::string first_type;
  for (size_t i = 0; i < content.messages.size(); ++i) {
    std::unique_ptr<Message> chunk = client_->ParseResponse(download, content.messages[i]);
    ASSERT_NE(chunk, nullptr);
    const auto& d = *chunk->GetDescriptor();
    bytes += chunk->GetReflection()->GetString(*chunk, d.FindFieldByName("data"));
    if (i == 0)
      first_type = chunk->GetReflection()->GetString(*chunk, d.FindFieldByName("content_type"));
  }
  EXPECT_EQ(bytes.size(), 100000u);
  EXPECT_FALSE(first_type.empty());
  EXPECT_EQ(content.Initial("x-content-type"), first_type);
}

// A file sent as a client stream goes up as one chunked multipart body, its bytes in
// order, without the gateway holding it whole.
TEST_F(Grpc, UploadStreamsTheFileInPieces) {
  const std::string rpc = "openai.v1.FilesService/CreateFileUpload";
  std::vector<std::string> messages;
  std::string expected;
  std::unique_ptr<Message> first = Request(rpc, R"(purpose: "fine-tune"
      file { filename: "big.jsonl" content_type: "application/jsonl" data: "start:" })");
  messages.push_back(first->SerializeAsString());
  expected = "start:";
  for (int i = 0; i < 20; ++i) {
    std::unique_ptr<Message> more = client_->NewRequest(rpc);
    Message* file = more->GetReflection()->MutableMessage(
        more.get(), more->GetDescriptor()->FindFieldByName("file"));
    const std::string piece(30000, static_cast<char>('a' + i));
    file->GetReflection()->SetString(file, file->GetDescriptor()->FindFieldByName("data"), piece);
    messages.push_back(more->SerializeAsString());
    expected += piece;
  }
  GrpcCallOptions options;
  options.metadata = {kKeyMetadata};
  const GrpcResult result = client_->Call("/" + rpc, messages, options);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.messages.size(), 1u);
  const mock::RecordedRequest seen = OnlyRequest();
  EXPECT_EQ(seen.target, "/v1/files");
  EXPECT_TRUE(seen.chunked);
  EXPECT_THAT(seen.body_prefix, HasSubstr("name=\"purpose\"\r\n\r\nfine-tune\r\n"));
  EXPECT_THAT(seen.body_prefix,
              HasSubstr("filename=\"big.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n" +
                        expected + "\r\n--"));
  EXPECT_THAT(seen.body_prefix, ::testing::EndsWith("--\r\n"));
}

TEST_F(Grpc, UploadRefusesLaterMessagesThatSetMoreThanFileData) {
  const std::string rpc = "openai.v1.FilesService/CreateFileUpload";
  std::unique_ptr<Message> first = Request(rpc, R"(purpose: "batch" file { data: "x" })");
  std::unique_ptr<Message> second = Request(rpc, R"(purpose: "other" file { data: "y" })");
  GrpcCallOptions options;
  options.metadata = {kKeyMetadata};
  const GrpcResult result =
      client_->Call("/" + rpc, {first->SerializeAsString(), second->SerializeAsString()}, options);
  EXPECT_EQ(result.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("file.data"));
}

TEST_F(Grpc, ReflectionListsTheServicesAndServesTheirFiles) {
  namespace pb = grpc::reflection::v1alpha;
  pb::ServerReflectionRequest list;
  list.set_list_services("");
  const GrpcResult listed = client_->Call(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", list.SerializeAsString());
  ASSERT_TRUE(listed.status.ok()) << listed.status.error_message();
  ASSERT_EQ(listed.messages.size(), 1u);
  pb::ServerReflectionResponse services;
  ASSERT_TRUE(services.ParseFromString(listed.messages[0]));
  std::vector<std::string> names;
  for (const auto& s : services.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::Contains("openai.v1.ChatService"));
  EXPECT_THAT(names, ::testing::Contains("grpc.health.v1.Health"));
  EXPECT_GT(names.size(), 40u);

  pb::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("openai.v1.FilesService");
  const GrpcResult found = client_->Call(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", symbol.SerializeAsString());
  ASSERT_TRUE(found.status.ok());
  pb::ServerReflectionResponse files;
  ASSERT_TRUE(files.ParseFromString(found.messages.at(0)));
  ASSERT_GT(files.file_descriptor_response().file_descriptor_proto_size(), 1);
  google::protobuf::FileDescriptorProto first;
  ASSERT_TRUE(first.ParseFromString(files.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(first.name(), "openai/v1/files.proto");
}

TEST_F(Grpc, HealthCheckServes) {
  // grpc.health.v1.HealthCheckRequest{service: ""} is empty; the answer is
  // HealthCheckResponse{status: SERVING (1)}, field 1 as a varint.
  const GrpcResult result = client_->Call("/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0], std::string("\x08\x01", 2));
}

TEST_F(Grpc, RestStillWorksOnTheSamePort) {
  const Reply reply = Client().Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(reply.status, 200);
}

class GrpcPort : public GatewayTest {};

TEST_F(GrpcPort, GrpcListenAddsAGrpcOnlyPort) {
  StartAll({"--grpc-listen", "127.0.0.1:0"});
  std::smatch m;
  const std::string log = gateway_->Log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("gRPC also on port (\\d+)"))) << log;
  GrpcClient client(std::stoi(m[1]));
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  const GrpcResult result =
      client.Call("/" + rpc, client.NewRequest(rpc)->SerializeAsString(), {{kKeyMetadata}});
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
}

}  // namespace
}  // namespace oa::testing
