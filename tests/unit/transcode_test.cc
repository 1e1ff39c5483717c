// The gRPC front's transcoder, stage by stage, on the real descriptors of proto/:
// message -> path, query and body for each rule shape proto/ uses; JSON and SSE ->
// messages; HTTP status -> gRPC code.
#include <gmock/gmock.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <memory>
#include <string>

#include "base/strings.h"
#include "route/descriptors.h"
#include "route/route_table.h"
#include "transcode/answer_reader.h"
#include "transcode/event_reader.h"
#include "transcode/field_names.h"
#include "transcode/http_call.h"
#include "transcode/json_reader.h"
#include "transcode/json_writer.h"
#include "transcode/multipart.h"
#include "transcode/sse_reader.h"
#include "transcode/status_map.h"

namespace oa::transcode {
namespace {

using google::protobuf::Message;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const route::RouteTable& Table() {
  static const route::RouteTable table = *route::RouteTable::Build(route::ApiDescriptors().files);
  return table;
}

google::protobuf::DynamicMessageFactory& Factory() {
  static google::protobuf::DynamicMessageFactory factory(route::ApiDescriptors().pool);
  return factory;
}

std::unique_ptr<Message> New(std::string_view type) {
  const auto* d = route::ApiDescriptors().pool->FindMessageTypeByName(std::string(type));
  EXPECT_NE(d, nullptr) << type;
  return std::unique_ptr<Message>(Factory().GetPrototype(d)->New());
}

// The request message of `rpc`, filled from protobuf text format.
std::unique_ptr<Message> Request(std::string_view rpc, std::string_view text) {
  const route::Route* route = Table().FindRpc(rpc);
  EXPECT_NE(route, nullptr) << rpc;
  std::unique_ptr<Message> m(Factory().GetPrototype(route->method->input_type())->New());
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(text), m.get())) << text;
  return m;
}

HttpCall Build(std::string_view rpc, std::string_view text, bool events = false) {
  std::unique_ptr<Message> m = Request(rpc, text);
  absl::StatusOr<HttpCall> call = BuildHttpCall(*Table().FindRpc(rpc), *m, events);
  EXPECT_TRUE(call.ok()) << call.status();
  return call.ok() ? *call : HttpCall{};
}

// ---- message -> HTTP request ------------------------------------------------------------

TEST(HttpCall, BodyStarSendsEveryFieldAsOpenAiJson) {
  const HttpCall call = Build("openai.v1.ChatService/CreateChatCompletion",
                              R"(model: "gpt-4o" temperature: 0 seed: 5000000000
                                 messages { user { content { text: "hi" } } })");
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/chat/completions");
  EXPECT_EQ(call.content_type, "application/json");
  // OpenAI's names, int64 as a number, an explicit 0 kept, a union as OpenAI's flat
  // object with its tag, a string-or-parts union as the string.
  EXPECT_THAT(call.body, HasSubstr(R"("temperature":0)"));
  EXPECT_THAT(call.body, HasSubstr(R"("seed":5000000000)"));
  EXPECT_THAT(call.body, HasSubstr(R"("messages":[{"role":"user","content":"hi"}])"));
  EXPECT_THAT(call.body, HasSubstr(R"("model":"gpt-4o")"));
  EXPECT_THAT(call.body, Not(HasSubstr("stream")));
}

TEST(HttpCall, StreamingFormAsksForTheStreamAndUnaryFormDoesNot) {
  const HttpCall streamed =
      Build("openai.v1.ChatService/CreateChatCompletionStream", R"(model: "m")", true);
  EXPECT_THAT(streamed.body, HasSubstr(R"("stream":true)"));
  const HttpCall unary =
      Build("openai.v1.ChatService/CreateChatCompletion", R"(model: "m" stream: true)");
  EXPECT_THAT(unary.body, Not(HasSubstr("stream")));
}

TEST(HttpCall, StreamingSpeechAsksForSseThroughStreamFormat) {
  EXPECT_THAT(Build("openai.v1.AudioService/CreateSpeechStream", R"(model: "tts-1")", true).body,
              HasSubstr(R"("stream_format":"sse")"));
  EXPECT_THAT(
      Build("openai.v1.AudioService/CreateSpeechStream", R"(stream_format: "audio")", true).body,
      HasSubstr(R"("stream_format":"audio")"));  // the caller's choice stands
  EXPECT_THAT(Build("openai.v1.AudioService/CreateSpeech", R"(model: "tts-1")").body,
              Not(HasSubstr("stream_format")));
}

TEST(HttpCall, StreamingGetAsksForTheStreamInTheQuery) {
  EXPECT_EQ(Build("openai.v1.ResponsesService/GetResponseStream", R"(response_id: "resp_1")", true)
                .target,
            "/v1/responses/resp_1?stream=true");
}

TEST(HttpCall, PathVariableIsExpandedAndLeftOutOfTheQuery) {
  const HttpCall call = Build("openai.v1.FilesService/RetrieveFile", R"(file_id: "file-abc")");
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target, "/v1/files/file-abc");
  EXPECT_TRUE(call.body.empty());
  EXPECT_TRUE(call.content_type.empty());
}

TEST(HttpCall, PathValuesArePercentEncodedButColonsStay) {
  EXPECT_EQ(
      Build("openai.v1.ModelsService/RetrieveModel", R"(model: "ft:gpt-4o:acme::abc")").target,
      "/v1/models/ft:gpt-4o:acme::abc");
  EXPECT_EQ(Build("openai.v1.FilesService/RetrieveFile", R"(file_id: "a/b c?d")").target,
            "/v1/files/a%2Fb%20c%3Fd");
}

TEST(HttpCall, DotSegmentsAsPathValuesAreInvalidArgument) {
  // Found by tests/fuzz/transcode_fuzz: "/v1/models/.." is "/v1/" to an upstream. A value
  // that holds one goes encoded ("..%2Fx"), which a decoding upstream resolves too.
  for (const char* text :
       {R"(model: "..")", R"(model: ".")", R"(model: "../admin")", R"(model: "..\\admin")",
        R"(model: "..;x")", R"(model: "%2e%2e")", R"(model: "a/./b")"}) {
    std::unique_ptr<Message> m = Request("openai.v1.ModelsService/RetrieveModel", text);
    absl::StatusOr<HttpCall> call =
        BuildHttpCall(*Table().FindRpc("openai.v1.ModelsService/RetrieveModel"), *m, false);
    ASSERT_FALSE(call.ok()) << text;
    EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(call.status().message(),
                HasSubstr("'model' cannot be or hold a '.' or '..' path segment"));
  }
  EXPECT_EQ(Build("openai.v1.ModelsService/RetrieveModel", R"(model: "...")").target,
            "/v1/models/...");
  EXPECT_EQ(Build("openai.v1.ModelsService/RetrieveModel", R"(model: "org/gpt-4.1")").target,
            "/v1/models/org%2Fgpt-4.1");
}

TEST(HttpCall, MissingPathFieldIsInvalidArgument) {
  std::unique_ptr<Message> m = Request("openai.v1.FilesService/RetrieveFile", "");
  absl::StatusOr<HttpCall> call =
      BuildHttpCall(*Table().FindRpc("openai.v1.FilesService/RetrieveFile"), *m, false);
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(), HasSubstr("file_id"));
}

TEST(HttpCall, NaNOrInfinityIsInvalidArgumentNamingTheField) {
  const std::string rpc = "openai.v1.ChatService/CreateChatCompletion";
  for (const char* text : {"temperature: nan", "temperature: -inf", "top_p: inf"}) {
    std::unique_ptr<Message> m = Request(rpc, StrCat("model: \"m\" ", text));
    absl::StatusOr<HttpCall> call = BuildHttpCall(*Table().FindRpc(rpc), *m, false);
    ASSERT_FALSE(call.ok()) << text;
    EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(call.status().message(), HasSubstr(std::string_view(text).substr(0, 5))) << text;
  }
}

TEST(HttpCall, NoBodyPutsSetFieldsInTheQuery) {
  const HttpCall call =
      Build("openai.v1.FilesService/ListFiles", R"(purpose: "batch" limit: 0 after: "a b&c")");
  EXPECT_EQ(call.target, "/v1/files?purpose=batch&limit=0&after=a%20b%26c");
}

// Query parameters newer than the protos, in the request's extra_fields, go as they are
// (a WebSocket session's first message: its upgrade's query).
TEST(HttpCall, ExtraKeysOfAQueryRequestAreQueryParameters) {
  const HttpCall call = Build("openai.v1.RealtimeService/Connect",
                              R"(model: "m" extra_fields { fields { key: "new_option"
                                 value { string_value: "a b" } } fields { key: "model"
                                 value { string_value: "other" } } })");
  EXPECT_EQ(call.target, "/v1/realtime?model=m&new_option=a%20b");  // a set field wins
}

TEST(HttpCall, QueryKeysKeepOpenAiBracketsAndRepeat) {
  const HttpCall call = Build("openai.v1.AuditLogsService/ListAuditLogs",
                              R"(effective_at { gt: 10 } project_ids: "p1" project_ids: "p2")");
  EXPECT_EQ(call.target,
            "/v1/organization/audit_logs?effective_at[gt]=10&project_ids[]=p1&project_ids[]=p2");
}

TEST(HttpCall, MapQueryUsesBrackets) {
  const HttpCall call =
      Build("openai.v1.ChatService/ListChatCompletions", R"(metadata { key: "team" value: "a" })");
  EXPECT_EQ(call.target, "/v1/chat/completions?metadata[team]=a");
}

TEST(HttpCall, BodyFieldIsTheBodyAndTheRestIsQuery) {
  const HttpCall call = Build("openai.v1.AssistantsService/CreateRun",
                              R"(thread_id: "thread_1" include: "step_details"
                                 body { assistant_id: "asst_1" })");
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/threads/thread_1/runs?include[]=step_details");
  EXPECT_EQ(call.body, R"({"assistant_id":"asst_1"})");
}

TEST(HttpCall, StreamingFormSetsStreamInsideTheBodyField) {
  const HttpCall call = Build("openai.v1.AssistantsService/CreateRunStream",
                              R"(thread_id: "t" body { assistant_id: "a" })", true);
  EXPECT_EQ(call.body, R"({"assistant_id":"a","stream":true})");
}

TEST(HttpCall, FileUploadMakesAMultipartBody) {
  const HttpCall call = Build("openai.v1.FilesService/CreateFile",
                              R"(purpose: "batch"
                                 file { data: "line1\nline2\000end" filename: "in.jsonl"
                                        content_type: "application/jsonl" }
                                 expires_after { anchor: "created_at" seconds: 3600 })");
  ASSERT_THAT(call.content_type, StartsWith("multipart/form-data; boundary="));
  const std::string boundary = call.content_type.substr(call.content_type.find('=') + 1);
  const std::string expected =
      "--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
      "Content-Type: application/jsonl\r\n\r\n" +
      std::string("line1\nline2\0end", 15) + "\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"expires_after[anchor]\"\r\n\r\n"
      "created_at\r\n--" +
      boundary +
      "\r\nContent-Disposition: form-data; name=\"expires_after[seconds]\"\r\n\r\n3600\r\n--" +
      boundary + "--\r\n";
  EXPECT_EQ(call.body, expected);
}

TEST(HttpCall, MultipartSendsEachKeyOnceAndUnionsAsTheirVariant) {
  const HttpCall call = Build("openai.v1.AudioService/CreateTranscription",
                              R"(file { data: "RIFF" filename: "a.wav" }
                                 model: "whisper-1"
                                 chunking_strategy { vad_config { type: "bogus" threshold: 0.5 } }
                                 extra_fields {
                                   fields { key: "model" value { string_value: "other-model" } }
                                   fields { key: "new_flag" value { bool_value: true } } })");
  const auto parts = [&](std::string_view name) {
    size_t n = 0;
    const std::string needle = StrCat("name=\"", name, "\"");
    for (size_t at = call.body.find(needle); at != std::string::npos;
         at = call.body.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(parts("model"), 1u);  // the field, not the extra key of the same name
  EXPECT_THAT(call.body, HasSubstr("name=\"model\"\r\n\r\nwhisper-1\r\n"));
  EXPECT_THAT(call.body, HasSubstr("name=\"new_flag\"\r\n\r\ntrue\r\n"));
  // A union by kind is its set variant's object; its own `type` is sent as it is.
  EXPECT_THAT(call.body, HasSubstr("name=\"chunking_strategy[type]\"\r\n\r\nbogus\r\n"));
  EXPECT_THAT(call.body, HasSubstr("name=\"chunking_strategy[threshold]\"\r\n\r\n0.5\r\n"));
}

TEST(HttpCall, QueryObjectsSendTheirExtraKeysToo) {
  const HttpCall call = Build("openai.v1.AuditLogsService/ListAuditLogs",
                              R"(effective_at { gt: 1 extra_fields { fields {
                                   key: "eq" value { number_value: 5 } } } })");
  EXPECT_THAT(call.target, HasSubstr("effective_at[gt]=1"));
  EXPECT_THAT(call.target, HasSubstr("effective_at[eq]=5"));
}

TEST(HttpCall, UploadLeavesTheFilePartOpenAndLast) {
  const HttpCall call = Build("openai.v1.FilesService/CreateFileUpload",
                              R"(file { data: "first" filename: "big.jsonl" } purpose: "batch")");
  ASSERT_EQ(call.streamed_file, Request("openai.v1.FilesService/CreateFileUpload", "")
                                    ->GetDescriptor()
                                    ->FindFieldByName("file"));
  const std::string boundary = call.content_type.substr(call.content_type.find('=') + 1);
  EXPECT_EQ(call.body, "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                           "--" +
                           boundary +
                           "\r\nContent-Disposition: form-data; name=\"file\"; "
                           "filename=\"big.jsonl\"\r\nContent-Type: application/octet-stream"
                           "\r\n\r\nfirst");
  EXPECT_EQ(call.body_tail, "\r\n--" + boundary + "--\r\n");
}

TEST(HttpCall, UploadWhoseFirstMessageHasNoFileIsInvalidArgument) {
  std::unique_ptr<Message> m =
      Request("openai.v1.FilesService/CreateFileUpload", R"(purpose: "x")");
  absl::StatusOr<HttpCall> call =
      BuildHttpCall(*Table().FindRpc("openai.v1.FilesService/CreateFileUpload"), *m, false);
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(), HasSubstr("must set the file"));
}

TEST(HttpCall, EveryRouteBuildsFromAnEmptyMessageOrNamesTheMissingPathField) {
  for (const route::Route& route : Table().routes()) {
    std::unique_ptr<Message> m(Factory().GetPrototype(route.method->input_type())->New());
    absl::StatusOr<HttpCall> call = BuildHttpCall(route, *m, route.method->server_streaming());
    if (route.websocket) {  // a session: the first message may open it with nothing set
      ASSERT_TRUE(call.ok()) << route.rpc << ": " << call.status();
      EXPECT_EQ(call->method, "GET");
      EXPECT_EQ(call->target, route.path_template) << route.rpc;
    } else if (route.method->client_streaming()) {
      ASSERT_FALSE(call.ok()) << route.rpc;  // no file, or no path field
      EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument) << route.rpc;
    } else if (route.tmpl.variables.empty()) {
      ASSERT_TRUE(call.ok()) << route.rpc << ": " << call.status();
      EXPECT_EQ(call->method, route.http_method);
      EXPECT_EQ(call->target.substr(0, call->target.find('?')), route.path_template) << route.rpc;
    } else {
      ASSERT_FALSE(call.ok()) << route.rpc;
      EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument) << route.rpc;
    }
  }
}

// ---- JSON -> message --------------------------------------------------------------------

TEST(JsonReader, ReadsOpenAiJsonKeepingUnknownKeysInExtraFields) {
  std::unique_ptr<Message> file = New("openai.v1.OpenAIFile");
  const JsonReadResult r = ReadJson(
      R"({"id":"file-1","object":"file","bytes":3000000000,"created_at":1700000000,
          "filename":"a.jsonl","purpose":"batch","status":"processed","brand_new":{"x":[1]}})",
      *file);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.mismatched, 0);
  EXPECT_EQ(r.kept, 1);
  EXPECT_EQ(WriteJson(*file),
            R"({"id":"file-1","bytes":3000000000,"created_at":1700000000,"filename":"a.jsonl",)"
            R"("object":"file","purpose":"batch","status":"processed","brand_new":{"x":[1]}})");
}

TEST(JsonReader, AValueOfTheWrongTypeIsKeptInTheExtraFieldNotDropped) {
  std::unique_ptr<Message> file = New("openai.v1.OpenAIFile");
  const JsonReadResult r = ReadJson(R"({"id":"file-1","bytes":"many","created_at":1.5})", *file);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.mismatched, 0);
  EXPECT_EQ(r.kept, 2);
  EXPECT_EQ(WriteJson(*file), R"({"id":"file-1","bytes":"many","created_at":1.5})");
}

TEST(JsonReader, AListWithAMisfitOrNullElementIsKeptWholeByTheObjectAroundIt) {
  // A list message has no extra field of its own: ["text", 5] in a map of string lists
  // goes whole, map and all, to the object's extra field, not as ["text"].
  std::unique_ptr<Message> m = New("openai.v1.ModerationResultBody");
  const std::string json =
      R"({"flagged":true,"category_applied_input_types":{"violence":["text",5]},)"
      R"("categories":{"hate":false,"sexual":null}})";
  const JsonReadResult r = ReadJson(json, *m);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.mismatched, 0);
  EXPECT_EQ(r.kept, 2);
  EXPECT_EQ(boost::json::parse(WriteJson(*m)), boost::json::parse(json));
  // On its own, such a list fits nothing: the answer does not fit its type.
  const auto* d = route::ApiDescriptors().pool->FindMessageTypeByName("openai.v1.IntegerList");
  ASSERT_NE(d, nullptr);
  std::unique_ptr<Message> list(Factory().GetPrototype(d)->New());
  EXPECT_FALSE(ReadJson(R"([1,"two",3])", *list).status.ok());
}

TEST(JsonReader, KeysMatchOpenAisNameOnly) {
  // A second spelling of a field is another key: it cannot overwrite the field.
  std::unique_ptr<Message> usage = New("openai.v1.CompletionUsage");
  const JsonReadResult r = ReadJson(R"({"prompt_tokens":5,"promptTokens":6})", *usage);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.kept, 1);
  EXPECT_EQ(WriteJson(*usage), R"({"prompt_tokens":5,"promptTokens":6})");
  // A string where a count was declared is kept as it is, not read as a number.
  usage = New("openai.v1.CompletionUsage");
  ASSERT_TRUE(ReadJson(R"({"total_tokens":"007"})", *usage).status.ok());
  EXPECT_EQ(WriteJson(*usage), R"({"total_tokens":"007"})");
}

TEST(JsonReader, NullLeavesAFieldUnset) {
  std::unique_ptr<Message> file = New("openai.v1.OpenAIFile");
  ASSERT_TRUE(ReadJson(R"({"id":null,"expires_at":null})", *file).status.ok());
  EXPECT_EQ(WriteJson(*file), "{}");
}

TEST(JsonReader, PolymorphicAndFreeFormValuesRoundTrip) {
  std::unique_ptr<Message> m = New("openai.v1.CreateChatCompletionRequest");
  const std::string json =
      R"({"metadata":{"a":"1","b":"2"},"messages":[{"role":"user","content":[{"type":"text",)"
      R"("text":"hi"}]}],"stop":["x",null,3.5,true,{"k":[]}]})";
  const JsonReadResult r = ReadJson(json, *m);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.mismatched, 0) << r.first_mismatch;
  // Struct keys come back sorted, fields in field-number order: the same JSON value.
  EXPECT_EQ(boost::json::parse(WriteJson(*m)), boost::json::parse(json));
}

TEST(JsonReader, NotJsonOrNotAnObjectIsAnError) {
  std::unique_ptr<Message> file = New("openai.v1.OpenAIFile");
  EXPECT_FALSE(ReadJson("{\"id\":", *file).status.ok());
  EXPECT_FALSE(ReadJson("[1,2]", *file).status.ok());
}

// Boost.JSON's default of 32 levels failed whole answers over a deep value, even one in a
// field the protos do not know.
TEST(JsonReader, DeepJsonIsReadUpToItsLimit) {
  const auto nested = [](size_t depth) {
    return StrCat(R"({"id":"m","x":)", std::string(depth - 1, '['), std::string(depth - 1, ']'),
                  "}");
  };
  std::unique_ptr<Message> model = New("openai.v1.Model");
  const JsonReadResult deep = ReadJson(nested(40), *model);
  EXPECT_TRUE(deep.status.ok()) << deep.status;
  EXPECT_EQ(WriteJson(*model), nested(40));  // the unknown key kept, however deep
  model = New("openai.v1.Model");
  EXPECT_TRUE(ReadJson(nested(kMaxJsonDepth), *model).status.ok());
  model = New("openai.v1.Model");
  EXPECT_THAT(ReadJson(nested(kMaxJsonDepth + 1), *model).status.message(), HasSubstr("too deep"));
  // A deep value kept in a Struct.
  std::unique_ptr<Message> value = New("google.protobuf.Value");
  EXPECT_TRUE(ReadJson(std::string(100, '[') + std::string(100, ']'), *value).status.ok());
}

TEST(FieldNames, ExplicitJsonNamesAreOpenAisNames) {
  const auto* d = route::ApiDescriptors().pool->FindMessageTypeByName("openai.v1.CreateRunRequest");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(WireName(*d->FindFieldByName("include")), "include[]");
  EXPECT_EQ(WireName(*d->FindFieldByName("thread_id")), "thread_id");
  EXPECT_EQ(FindByWireName(*d, "include[]"), d->FindFieldByName("include"));
  EXPECT_EQ(FindByWireName(*d, "thread_id"), d->FindFieldByName("thread_id"));
  EXPECT_EQ(FindByWireName(*d, "threadId"), nullptr);  // one spelling: OpenAI's
  EXPECT_EQ(FindByWireName(*d, "include"), nullptr);   // its name is include[]
}

// ---- SSE -> events ----------------------------------------------------------------------

TEST(SseReader, SplitsEventsAcrossPiecesAndLineEndings) {
  SseReader reader;
  const std::string stream =
      ": comment\r\nevent: thread.run.created\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n"
      "data: second\n\ndata: third\r\rdata: [DONE]\n\n";
  std::vector<SseEvent> events;
  for (char c : stream) {  // one byte at a time: every split point
    reader.Feed(std::string_view(&c, 1));
    while (std::optional<SseEvent> e = reader.Next()) events.push_back(*e);
  }
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].event, "thread.run.created");
  EXPECT_EQ(events[0].data, "{\"a\":\n1}");
  EXPECT_EQ(events[1].data, "second");
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[2].data, "third");
  EXPECT_EQ(events[3].data, "[DONE]");
  EXPECT_TRUE(reader.status().ok());
}

TEST(SseReader, AnEventPastTheLimitStopsTheReader) {
  SseReader reader(64);
  reader.Feed("data: " + std::string(100, 'x'));
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(SseReader, EventsWithoutDataAreNotDispatched) {
  SseReader reader;
  reader.Feed("event: ping\n\nid: 7\ndata: x\n\n");
  std::optional<SseEvent> e = reader.Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->data, "x");
  EXPECT_EQ(e->id, "7");
  EXPECT_EQ(e->event, "");
  EXPECT_FALSE(reader.Next().has_value());
}

// ---- SSE event -> message ----------------------------------------------------------------

SseEvent Event(std::string name, std::string data) {
  SseEvent e;
  e.event = std::move(name);
  e.data = std::move(data);
  return e;
}

TEST(EventReader, DataIsTheWholeMessage) {
  std::unique_ptr<Message> chunk = New("openai.v1.CreateChatCompletionStreamResponse");
  const JsonReadResult r =
      ReadEvent(Event("", R"({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,)"
                          R"("delta":{"content":"Hel"}}]})"),
                *chunk);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(WriteJson(*chunk), R"({"id":"c1","choices":[{"delta":{"content":"Hel"},"index":0}],)"
                               R"("object":"chat.completion.chunk"})");
}

TEST(EventReader, NamedEventsFillEventAndData) {
  std::unique_ptr<Message> event = New("openai.v1.AssistantStreamEvent");
  const JsonReadResult r =
      ReadEvent(Event("thread.run.created", R"({"id":"run_1","status":"queued"})"), *event);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(WriteJson(*event),
            R"({"event":"thread.run.created","data":{"id":"run_1","status":"queued"}})");
}

TEST(EventReader, ErrorsEndTheStreamWithOpenAisMessage) {
  std::unique_ptr<Message> chunk = New("openai.v1.CreateChatCompletionStreamResponse");
  const JsonReadResult r =
      ReadEvent(Event("", R"({"error":{"message":"overloaded","type":"server_error"}})"), *chunk);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status.message(), "overloaded");
  std::unique_ptr<Message> event = New("openai.v1.AssistantStreamEvent");
  EXPECT_EQ(ReadEvent(Event("error", R"({"message":"x"})"), *event).status.code(),
            absl::StatusCode::kInternal);
}

TEST(EventReader, DoneIsTheEndNotAnEvent) {
  EXPECT_TRUE(IsEndOfStream(Event("", "[DONE]")));
  EXPECT_TRUE(IsEndOfStream(Event("done", "[DONE]")));
  EXPECT_FALSE(IsEndOfStream(Event("", "{}")));
}

TEST(EventReader, DataThatIsNotTheMessageIsAnError) {
  std::unique_ptr<Message> chunk = New("openai.v1.CreateChatCompletionStreamResponse");
  EXPECT_EQ(ReadEvent(Event("", "not json"), *chunk).status.code(), absl::StatusCode::kInternal);
}

// ---- status mapping ---------------------------------------------------------------------

TEST(StatusMap, HttpStatusesMapByTheGoogleRpcTable) {
  using C = absl::StatusCode;
  const std::pair<int, C> table[] = {
      {200, C::kOk},
      {201, C::kOk},
      {400, C::kInvalidArgument},
      {401, C::kUnauthenticated},
      {403, C::kPermissionDenied},
      {404, C::kNotFound},
      {409, C::kAborted},
      {413, C::kResourceExhausted},
      {422, C::kInvalidArgument},
      {429, C::kResourceExhausted},
      {499, C::kCancelled},
      {500, C::kInternal},
      {501, C::kUnimplemented},
      {502, C::kUnavailable},
      {503, C::kUnavailable},
      {504, C::kDeadlineExceeded},
      {418, C::kFailedPrecondition},
      {599, C::kUnknown},
  };
  for (const auto& [http, code] : table) EXPECT_EQ(GrpcCodeForHttp(http), code) << http;
}

TEST(StatusMap, WebSocketClosesMapByCodeThenByTheLastErrorEvent) {
  using C = absl::StatusCode;
  const std::string invalid =
      R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})";
  const std::string quota = R"({"type":"error","error":{"type":"insufficient_quota"}})";
  const std::tuple<int, std::string, C> table[] = {
      {1000, "", C::kOk},
      {1000, invalid, C::kOk},  // an error that did not end the session was only an event
      {1001, "", C::kUnavailable},
      {1008, "", C::kPermissionDenied},
      {1009, "", C::kResourceExhausted},
      {1011, "", C::kInternal},
      {4000, invalid, C::kInvalidArgument},
      {4000, quota, C::kResourceExhausted},
      {4000, "", C::kUnknown},
      {1005, "", C::kUnknown},
      {4000, "not json", C::kUnknown},
  };
  for (const auto& [close, event, code] : table) {
    EXPECT_EQ(GrpcCodeForClose(close, event), code) << close << " " << event;
  }
}

TEST(StatusMap, ErrorMessageIsOpenAisOrNamesTheStatus) {
  EXPECT_EQ(ErrorMessage(429, R"({"error":{"message":"Rate limit reached","type":"requests"}})"),
            "Rate limit reached");
  EXPECT_EQ(ErrorMessage(502, "<html>bad gateway</html>"), "the upstream answered HTTP 502");
  EXPECT_EQ(ErrorMessage(500, R"({"error":"plain"})"), "plain");
  EXPECT_EQ(ErrorMessage(503, R"({"message":"from a compatible server"})"),
            "from a compatible server");
}

// The Responses and Assistants streams' error events carry the error object itself.
TEST(StatusMap, ErrorEventsKeepOpenAisMessage) {
  const std::string data =
      R"({"type":"error","code":"server_error","message":"The model is overloaded","param":null})";
  JsonReadResult r = ReadEvent(Event("error", data), *New("openai.v1.ResponseStreamEvent"));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status.message(), "The model is overloaded");
  r = ReadEvent(Event("error", R"({"code":"x","message":"run failed","param":null,"type":"t"})"),
                *New("openai.v1.AssistantStreamEvent"));
  EXPECT_EQ(r.status.message(), "run failed");
  r = ReadEvent(Event("error", "{}"), *New("openai.v1.ResponseStreamEvent"));
  EXPECT_EQ(r.status.message(), "the upstream's stream reported an error");
  EXPECT_EQ(EventErrorMessage(R"({"error":{"message":"mid-stream"}})"), "mid-stream");
}

TEST(StatusMap, BlankErrorMessageNamesTheStatus) {
  // Found by tests/fuzz/sse_fuzz: an error event {"error":""} ended a gRPC stream with an
  // INTERNAL status and no message at all.
  EXPECT_EQ(ErrorMessage(500, R"({"error":""})"), "the upstream answered HTTP 500");
  EXPECT_EQ(ErrorMessage(400, R"({"error":{"message":" \n","type":"x"}})"),
            "the upstream answered HTTP 400");
  JsonReadResult r =
      ReadEvent(Event("", R"({"error":""})"), *New("openai.v1.CreateChatCompletionStreamResponse"));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status.message(), "the upstream's stream reported an error");
}

// ---- HTTP answer -> response messages (AnswerReader) -----------------------------------

// The reader for `rpc`'s output, started on an answer of `status` and `content_type`.
AnswerReader Answer(std::string_view rpc, int status, std::string_view content_type) {
  const route::Route& route = *Table().FindRpc(rpc);
  AnswerReader answer(*route.method->output_type(), route.method->server_streaming(), route.rpc,
                      Factory());
  answer.Start(status, content_type);
  return answer;
}

std::string Field(std::string_view type, const std::string& bytes, std::string_view field) {
  std::unique_ptr<Message> m = New(type);
  EXPECT_TRUE(m->ParseFromString(bytes));
  const auto* f = m->GetDescriptor()->FindFieldByName(std::string(field));
  return m->GetReflection()->GetString(*m, f);
}

TEST(AnswerReader, ATextAnswerGoesWholeToTheFieldThatTakesIt) {
  // A transcription asked for as SRT comes back as text, not JSON.
  const std::string srt = "1\n00:00:00,000 --> 00:00:01,500\nBonjour à tous\n";
  for (const char* rpc :
       {"openai.v1.AudioService/CreateTranscription", "openai.v1.AudioService/CreateTranslation"}) {
    AnswerReader answer = Answer(rpc, 200, "text/plain; charset=utf-8");
    std::vector<std::string> out;
    ASSERT_TRUE(answer.Feed(srt.substr(0, 10), out));
    ASSERT_TRUE(answer.Feed(srt.substr(10), out));
    ASSERT_TRUE(answer.Finish(out).ok());
    ASSERT_EQ(out.size(), 1u);
    const auto* output = Table().FindRpc(rpc)->method->output_type();
    EXPECT_EQ(Field(output->full_name(), out[0], "text"), srt) << rpc;
  }
  // The same RPC still reads JSON as JSON.
  AnswerReader json = Answer("openai.v1.AudioService/CreateTranscription", 200, "application/json");
  std::vector<std::string> out;
  ASSERT_TRUE(json.Feed(R"({"text":"hi","duration":1.5})", out));
  ASSERT_TRUE(json.Finish(out).ok());
  EXPECT_EQ(Field("openai.v1.CreateTranscriptionResponse", out[0], "text"), "hi");
}

TEST(AnswerReader, ATextAnswerThatIsNotUtf8IsInternal) {
  AnswerReader answer = Answer("openai.v1.AudioService/CreateTranscription", 200, "text/vtt");
  std::vector<std::string> out;
  ASSERT_TRUE(answer.Feed("WEBVTT\n\xff\xfe", out));
  const absl::Status done = answer.Finish(out);
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(done.message(), HasSubstr("not UTF-8"));
  EXPECT_TRUE(out.empty());
}

TEST(AnswerReader, ATextAnswerToAnRpcWithNoTextFieldIsStillReadAsJson) {
  AnswerReader answer = Answer("openai.v1.ModelsService/RetrieveModel", 200, "text/plain");
  std::vector<std::string> out;
  ASSERT_TRUE(answer.Feed("not json", out));
  EXPECT_EQ(answer.Finish(out).code(), absl::StatusCode::kInternal);
}

TEST(AnswerReader, UnaryJsonIsOneMessageAtTheEndWhateverThePieces) {
  AnswerReader answer =
      Answer("openai.v1.ChatService/CreateChatCompletion", 200, "application/json");
  EXPECT_EQ(answer.kind(), AnswerReader::Kind::kJson);
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed(R"({"id":"chat)", out));
  EXPECT_TRUE(answer.Feed(R"(cmpl-1","model":"m"})", out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(answer.Finish(out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Field("openai.v1.CreateChatCompletionResponse", out[0], "id"), "chatcmpl-1");
}

TEST(AnswerReader, EventsBecomeMessagesAsTheyCompleteAndDoneIsDropped) {
  AnswerReader answer = Answer("openai.v1.ChatService/CreateChatCompletionStream", 200,
                               "text/event-stream; charset=utf-8");
  EXPECT_EQ(answer.kind(), AnswerReader::Kind::kEvents);
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed("data: {\"id\":\"a\"}\n\ndata: {\"id\":", out));
  ASSERT_EQ(out.size(), 1u);  // the second is not complete yet
  EXPECT_TRUE(answer.Feed("\"b\"}\n\ndata: [DONE]\n\n", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Field("openai.v1.CreateChatCompletionStreamResponse", out[1], "id"), "b");
  EXPECT_TRUE(answer.Finish(out).ok());
  EXPECT_EQ(out.size(), 2u);
}

TEST(AnswerReader, AnErrorEventEndsTheStreamAfterTheMessagesBeforeIt) {
  AnswerReader answer =
      Answer("openai.v1.ChatService/CreateChatCompletionStream", 200, "text/event-stream");
  std::vector<std::string> out;
  EXPECT_FALSE(answer.Feed(
      "data: {\"id\":\"a\"}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n", out));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(answer.failure().message(), "overloaded");
  EXPECT_EQ(answer.error_event(), R"({"error":{"message":"overloaded"}})");
  EXPECT_FALSE(answer.Finish(out).ok());
}

TEST(AnswerReader, AnErrorAnswerKeepsItsBodyAndMakesNoMessage) {
  AnswerReader answer =
      Answer("openai.v1.ChatService/CreateChatCompletion", 429, "application/json");
  EXPECT_EQ(answer.kind(), AnswerReader::Kind::kError);
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed(R"({"error":{"message":"slow down"}})", out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(answer.error_body(), R"({"error":{"message":"slow down"}})");
}

TEST(AnswerReader, AnEventStreamToAUnaryRpcFailsNamingTheStreamingForm) {
  AnswerReader answer =
      Answer("openai.v1.ChatService/CreateChatCompletion", 200, "text/event-stream");
  EXPECT_EQ(answer.kind(), AnswerReader::Kind::kUnexpectedEvents);
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed("data: {}\n\n", out));
  const absl::Status done = answer.Finish(out);
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(done.message()), HasSubstr("streaming form"));
  EXPECT_TRUE(out.empty());
}

TEST(AnswerReader, StreamedBytesAreOneMessagePerPieceTheFirstWithTheType) {
  AnswerReader answer = Answer("openai.v1.AudioService/CreateSpeech", 200, "audio/mpeg");
  EXPECT_EQ(answer.kind(), AnswerReader::Kind::kBytes);
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed("ID3", out));
  EXPECT_TRUE(answer.Feed("", out));  // the end of a chunked body
  EXPECT_TRUE(answer.Feed("\xff\xfb", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Field("openai.v1.HttpBody", out[0], "content_type"), "audio/mpeg");
  EXPECT_EQ(Field("openai.v1.HttpBody", out[0], "data"), "ID3");
  EXPECT_EQ(Field("openai.v1.HttpBody", out[1], "content_type"), "");
  EXPECT_EQ(Field("openai.v1.HttpBody", out[1], "data"), "\xff\xfb");
}

TEST(AnswerReader, JsonThatIsNotTheOutputTypeIsInternal) {
  AnswerReader answer =
      Answer("openai.v1.ChatService/CreateChatCompletion", 200, "application/json");
  std::vector<std::string> out;
  EXPECT_TRUE(answer.Feed("[1,2]", out));
  const absl::Status done = answer.Finish(out);
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(done.message()), HasSubstr("CreateChatCompletionResponse"));
}

}  // namespace
}  // namespace oa::transcode
