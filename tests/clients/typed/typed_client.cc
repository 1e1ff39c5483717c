// A typed gRPC client of oa-bypass in C++: messages and stubs generated from proto/ by
// scripts/gen-clients.sh (protoc's C++ and grpc_cpp_plugin), messages built with their
// setters, grpc++'s synchronous API.
//
//   scripts/gen-clients.sh OUT cpp
//   compile this file with OUT/cpp/openai/v1/{chat,responses,embeddings,files,types,
//     common,json}.pb.cc, the four services' .grpc.pb.cc and OUT/cpp/google/api/*.pb.cc;
//     link grpc++, protobuf and Boost.JSON (tests/clients/CMakeLists.txt does this)
//   OPENAI_API_KEY=sk-... typed_client 127.0.0.1:GATEWAY_PORT http://127.0.0.1:MOCK_PORT
//
// The gateway must be in front of the project's mock OpenAI (tests/mock/): after each
// call the client asks the mock (/__mock/requests) for the HTTP request it received and
// checks it too. typed_client.{py,ts,go} make the same calls and checks;
// run_typed_client.py runs any of them. Prints one line per check; on a mismatch, says
// what and exits 1.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "openai/v1/chat.grpc.pb.h"
#include "openai/v1/embeddings.grpc.pb.h"
#include "openai/v1/files.grpc.pb.h"
#include "openai/v1/responses.grpc.pb.h"

namespace {

namespace json = boost::json;
namespace v1 = openai::v1;
using google::protobuf::Struct;
using Channel = std::shared_ptr<grpc::Channel>;

constexpr auto kDeadline = std::chrono::seconds(20);

// The step under way, named by a failure.
std::string step;

[[noreturn]] void Fail(const std::string& message) {
  std::cout << "FAIL c++: " << step << ": " << message << std::endl;
  std::exit(1);
}

std::string Show(const std::string& s) { return json::serialize(json::string(s)); }
std::string Show(const char* s) { return Show(std::string(s)); }
std::string Show(bool b) { return b ? "true" : "false"; }
template <class T>
std::string Show(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
template <class T>
std::string Show(const std::vector<T>& values) {
  std::string out = "[";
  for (const T& value : values) out += (out.size() > 1 ? ", " : "") + Show(value);
  return out + "]";
}

template <class T, class U>
void Check(const std::string& what, const T& got, const U& want) {
  if (!(got == want)) Fail(what + ": got " + Show(got) + ", want " + Show(want));
  std::cout << "ok   " << what << "\n";
}

void CheckThat(const std::string& what, bool condition, const std::string& detail = "") {
  if (!condition) Fail(what + ": not so" + (detail.empty() ? "" : ": " + detail));
  std::cout << "ok   " << what << "\n";
}

void CheckOk(const grpc::Status& status) {
  if (!status.ok()) {
    Fail("gRPC code " + std::to_string(status.error_code()) + ": " + status.error_message());
  }
}

// The name of the set variant of a union message (its oneof is `variant`).
std::string VariantName(const google::protobuf::Message& message) {
  const auto* oneof = message.GetDescriptor()->FindOneofByName("variant");
  const auto* field = message.GetReflection()->GetOneofFieldDescriptor(message, oneof);
  return field ? field->name() : "(none)";
}

// ---- the mock's side: what the gateway sent upstream --------------------------------------

std::string Base64Decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) continue;  // '=' padding
    bits = (bits << 6) | static_cast<unsigned>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

// Numbers compared by value (0 and 0.0 alike), everything else by kind and value.
bool SameJson(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!SameJson(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x) {
      const json::value* other = y.if_contains(key);
      if (!other || !SameJson(value, *other)) return false;
    }
    return true;
  }
  return a == b;
}

// Compares a JSON body with the JSON text `want`, as values (key order aside).
void CheckJson(const std::string& what, const std::string& body, const json::value& want) {
  json::value got = json::parse(body);
  if (!SameJson(got, want)) {
    Fail(what + ": got " + json::serialize(got) + ", want " + json::serialize(want));
  }
  std::cout << "ok   " << what << "\n";
}

struct Upstream {
  std::string request_id;
  std::string content_type;
  std::string body;
};

class Mock {
 public:
  Mock(std::string url, std::string key) : key_(std::move(key)) {
    std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
    host_ = rest.substr(0, rest.find(':'));
    port_ = rest.substr(rest.find(':') + 1);
  }

  // x-mock-* behaviour for the next request to `path`.
  void Arm(const std::string& path, const std::map<std::string, std::string>& headers) {
    Call("POST", "/__mock/override?path=" + path, headers);
  }

  // The one request the mock received since the last call, checked for method, target
  // and key; the mock then forgets it.
  Upstream TakeRequest(const std::string& method, const std::string& target) {
    json::array received = json::parse(Call("GET", "/__mock/requests")).as_array();
    Call("POST", "/__mock/reset");
    Check("upstream requests", received.size(), size_t{1});
    const json::object& request = received[0].as_object();
    Check("upstream method and path",
          std::vector<std::string>{json::value_to<std::string>(request.at("method")),
                                   json::value_to<std::string>(request.at("target"))},
          std::vector<std::string>{method, target});
    std::map<std::string, std::string> headers;
    for (const json::value& header : request.at("headers").as_array()) {
      std::string name = json::value_to<std::string>(header.as_array()[0]);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers.emplace(name, json::value_to<std::string>(header.as_array()[1]));
    }
    CheckThat("upstream authorization is the caller's key",
              headers["authorization"] == "Bearer " + key_);
    return {json::value_to<std::string>(request.at("request_id")), headers["content-type"],
            Base64Decode(request.at("body_base64").as_string())};
  }

  Upstream TakeJson(const std::string& method, const std::string& target) {
    Upstream request = TakeRequest(method, target);
    Check("upstream content type", request.content_type, "application/json");
    return request;
  }

 private:
  // One HTTP/1.1 exchange on a connection of its own; the answer's body.
  std::string Call(const std::string& method, const std::string& target,
                   const std::map<std::string, std::string>& headers = {}) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found) != 0) Fail("mock: no address");
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    freeaddrinfo(found);
    if (!connected) Fail("mock: cannot connect");
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + host_ +
                          "\r\nConnection: close\r\nContent-Length: 0\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    for (size_t sent = 0; sent < request.size();) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) Fail("mock: send failed");
      sent += static_cast<size_t>(n);
    }
    std::string answer;
    char buffer[65536];
    for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, n);
    close(fd);
    if (!answer.starts_with("HTTP/1.1 200")) Fail("mock " + target + ": " + answer.substr(0, 40));
    return answer.substr(answer.find("\r\n\r\n") + 4);
  }

  std::string key_, host_, port_;
};

// ---- the calls, as a user writes them ------------------------------------------------------

// Each call has a context of its own: the key as metadata, and a deadline.
std::unique_ptr<grpc::ClientContext> Context(const std::string& key) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer " + key);
  context->set_deadline(std::chrono::system_clock::now() + kDeadline);
  return context;
}

v1::CreateChatCompletionRequest ChatRequest() {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-4o-mini");
  request.add_messages()->mutable_user()->mutable_content()->set_text("hi");
  request.set_temperature(0);
  request.set_max_completion_tokens(16);
  return request;
}

const json::value kChatSent = json::parse(R"({
  "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
  "temperature": 0, "max_completion_tokens": 16})");

json::value WithStream(json::value object) {
  object.as_object()["stream"] = true;
  return object;
}

void Chat(const Channel& channel, const std::string& key, Mock& mock) {
  auto client = v1::ChatService::NewStub(channel);
  auto context = Context(key);
  v1::CreateChatCompletionResponse answer;
  CheckOk(client->CreateChatCompletion(context.get(), ChatRequest(), &answer));
  Check("chat: id", answer.id(), "chatcmpl-mock");
  Check("chat: object", answer.object(), "chat.completion");
  Check("chat: created", answer.created(), int64_t{1700000000});
  Check("chat: choices[0].message.role", answer.choices(0).message().role(), "assistant");
  Check("chat: choices[0].message.content", answer.choices(0).message().content(),
        "Hello from mock");
  Check("chat: choices[0].finish_reason", answer.choices(0).finish_reason(), "stop");
  const v1::CompletionUsage& usage = answer.usage();
  Check("chat: usage",
        std::vector<int>{usage.prompt_tokens(), usage.completion_tokens(), usage.total_tokens()},
        std::vector<int>{5, 3, 8});
  auto request_id = context->GetServerInitialMetadata().find("x-request-id");

  Upstream request = mock.TakeJson("POST", "/v1/chat/completions");
  CheckJson("chat: upstream body", request.body, kChatSent);
  CheckThat(
      "chat: x-request-id metadata",
      request_id != context->GetServerInitialMetadata().end() &&
          std::string(request_id->second.data(), request_id->second.size()) == request.request_id);
}

void ChatStream(const Channel& channel, const std::string& key, Mock& mock) {
  mock.Arm("/v1/chat/completions", {{"x-mock-sse-events", "4"}, {"x-mock-sse-interval-ms", "100"}});
  auto client = v1::ChatService::NewStub(channel);
  auto context = Context(key);
  auto stream = client->CreateChatCompletionStream(context.get(), ChatRequest());
  std::vector<std::string> deltas, finish_reasons;
  std::set<std::string> objects;
  std::vector<std::chrono::steady_clock::time_point> times;
  for (v1::CreateChatCompletionStreamResponse chunk; stream->Read(&chunk);) {
    const auto& choice = chunk.choices(0);
    deltas.push_back(choice.delta().has_content() ? choice.delta().content() : "(unset)");
    finish_reasons.push_back(choice.has_finish_reason() ? choice.finish_reason() : "(unset)");
    objects.insert(chunk.object());
    times.push_back(std::chrono::steady_clock::now());
  }
  CheckOk(stream->Finish());
  Check("chat stream: chunks", times.size(), size_t{4});
  Check("chat stream: objects", objects == std::set<std::string>{"chat.completion.chunk"}, true);
  Check("chat stream: deltas", deltas, std::vector<std::string>{"tok0", "tok1", "tok2", "(unset)"});
  Check("chat stream: finish reasons", finish_reasons,
        std::vector<std::string>{"(unset)", "(unset)", "(unset)", "stop"});
  auto spread = times.back() - times.front();
  CheckThat("chat stream: chunks arrived as sent, 100 ms apart",
            spread >= std::chrono::milliseconds(200),
            "all within " + Show(std::chrono::duration<double>(spread).count()) + " s");

  Upstream request = mock.TakeJson("POST", "/v1/chat/completions");
  CheckJson("chat stream: upstream body", request.body, WithStream(kChatSent));
}

Struct WeatherParameters() {
  Struct parameters;
  auto& fields = *parameters.mutable_fields();
  fields["type"].set_string_value("object");
  Struct& properties = *fields["properties"].mutable_struct_value();
  Struct& city = *(*properties.mutable_fields())["city"].mutable_struct_value();
  (*city.mutable_fields())["type"].set_string_value("string");
  fields["required"].mutable_list_value()->add_values()->set_string_value("city");
  fields["additionalProperties"].set_bool_value(false);
  return parameters;
}

v1::CreateResponseRequest ResponseRequest() {
  v1::CreateResponseRequest request;
  request.set_model("gpt-4o-mini");
  v1::InputItemList& items = *request.mutable_input()->mutable_items();

  v1::InputItem_Message& question = *items.add_items()->mutable_message();
  question.set_role("user");
  question.mutable_content()->set_text("What is the weather in Paris?");

  v1::FunctionToolCall& call = *items.add_items()->mutable_function_call();
  call.set_call_id("call_1");
  call.set_name("get_weather");
  call.set_arguments(R"({"city":"Paris"})");

  v1::FunctionCallOutputItemParam& result = *items.add_items()->mutable_function_call_output();
  result.set_call_id("call_1");
  result.mutable_output()->set_text(R"({"temperature_c":18})");

  v1::FunctionTool& weather = *request.add_tools()->mutable_function();
  weather.set_name("get_weather");
  weather.set_description("The weather in a city");
  *weather.mutable_parameters() = WeatherParameters();
  weather.set_strict(true);

  request.set_temperature(0);
  return request;
}

const json::value kResponseSent = json::parse(R"({
  "model": "gpt-4o-mini",
  "input": [
    {"type": "message", "role": "user", "content": "What is the weather in Paris?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather",
     "arguments": "{\"city\":\"Paris\"}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "{\"temperature_c\":18}"}],
  "tools": [{"type": "function", "name": "get_weather", "description": "The weather in a city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": false},
             "strict": true}],
  "temperature": 0})");

void Response(const Channel& channel, const std::string& key, Mock& mock) {
  auto client = v1::ResponsesService::NewStub(channel);
  auto context = Context(key);
  v1::Response answer;
  CheckOk(client->CreateResponse(context.get(), ResponseRequest(), &answer));
  Check("response: id", answer.id(), "resp_mock1");
  Check("response: status", answer.status(), "completed");
  Check("response: temperature", answer.has_temperature() && answer.temperature() == 0, true);
  Check("response: output[0] is a message", VariantName(answer.output(0)), "message");
  const v1::OutputMessage& message = answer.output(0).message();
  Check("response: output[0].message.role", message.role(), "assistant");
  Check("response: output[0].message.content[0] is output_text", VariantName(message.content(0)),
        "output_text");
  Check("response: output[0].message.content[0].output_text.text",
        message.content(0).output_text().text(), "Hello from mock");
  const v1::ResponseUsage& usage = answer.usage();
  Check("response: usage",
        std::vector<int>{usage.input_tokens(), usage.output_tokens(), usage.total_tokens()},
        std::vector<int>{5, 3, 8});
  // The mock repeats the tools it was sent: OpenAI's flat JSON read back into Tool.
  Check("response: tools[0] is a function", VariantName(answer.tools(0)), "function");
  const v1::FunctionTool& tool = answer.tools(0).function();
  Check("response: tools[0].function.name", tool.name(), "get_weather");
  Check("response: tools[0].function.strict", tool.strict(), true);
  CheckThat(
      "response: tools[0].function.parameters",
      google::protobuf::util::MessageDifferencer::Equals(tool.parameters(), WeatherParameters()),
      tool.parameters().ShortDebugString());

  Upstream request = mock.TakeJson("POST", "/v1/responses");
  CheckJson("response: upstream body", request.body, kResponseSent);
}

void ResponseStream(const Channel& channel, const std::string& key, Mock& mock) {
  auto client = v1::ResponsesService::NewStub(channel);
  auto context = Context(key);
  auto stream = client->CreateResponseStream(context.get(), ResponseRequest());
  std::vector<v1::ResponseStreamEvent> events;
  for (v1::ResponseStreamEvent event; stream->Read(&event);) events.push_back(event);
  CheckOk(stream->Finish());
  std::vector<std::string> kinds;
  for (const auto& event : events) kinds.push_back(VariantName(event));
  Check("response stream: events", kinds,
        std::vector<std::string>{"response_created", "response_output_text_delta",
                                 "response_output_text_delta", "response_output_text_delta",
                                 "response_completed"});
  const v1::ResponseCreatedEvent& created = events[0].response_created();
  const v1::ResponseCompletedEvent& completed = events[4].response_completed();
  std::vector<int> sequence{created.sequence_number()};
  std::vector<std::string> deltas;
  for (int i = 1; i <= 3; ++i) {
    sequence.push_back(events[i].response_output_text_delta().sequence_number());
    deltas.push_back(events[i].response_output_text_delta().delta());
  }
  sequence.push_back(completed.sequence_number());
  Check("response stream: sequence numbers", sequence, std::vector<int>{0, 1, 2, 3, 4});
  Check("response stream: created.response.status", created.response().status(), "in_progress");
  Check("response stream: deltas", deltas, std::vector<std::string>{"tok0", "tok1", "tok2"});
  const v1::Response& done = completed.response();
  Check("response stream: completed.response.id", done.id(), created.response().id());
  Check("response stream: completed.response.status", done.status(), "completed");
  Check("response stream: completed text", done.output(0).message().content(0).output_text().text(),
        "tok0tok1tok2");
  Check("response stream: completed.response.usage.total_tokens", done.usage().total_tokens(), 8);

  Upstream request = mock.TakeJson("POST", "/v1/responses");
  CheckJson("response stream: upstream body", request.body, WithStream(kResponseSent));
}

void Embeddings(const Channel& channel, const std::string& key, Mock& mock) {
  auto client = v1::EmbeddingsService::NewStub(channel);
  auto context = Context(key);
  v1::CreateEmbeddingRequest request;
  request.set_model("text-embedding-3-small");
  v1::StringList& texts = *request.mutable_input()->mutable_texts();
  texts.add_items("a");
  texts.add_items("b");
  v1::CreateEmbeddingResponse answer;
  CheckOk(client->CreateEmbedding(context.get(), request, &answer));
  Check("embeddings: data", answer.data_size(), 2);
  for (int i = 0; i < answer.data_size(); ++i) {
    const v1::Embedding& item = answer.data(i);
    Check("embeddings: data[" + Show(i) + "].index", item.index(), i);
    // The mock's values: (k + 1) / 16 - i / 256, exact in binary.
    std::vector<double> want;
    for (int k = 0; k < 8; ++k) want.push_back((k + 1) / 16.0 - i / 256.0);
    Check("embeddings: data[" + Show(i) + "].embedding",
          std::vector<double>(item.embedding().begin(), item.embedding().end()), want);
  }
  Check("embeddings: usage.total_tokens", answer.usage().total_tokens(), 8);

  Upstream upstream = mock.TakeJson("POST", "/v1/embeddings");
  CheckJson("embeddings: upstream body", upstream.body,
            json::parse(R"({"model": "text-embedding-3-small", "input": ["a", "b"]})"));
}

void Upload(const Channel& channel, const std::string& key, Mock& mock) {
  std::string file_bytes;
  for (int i = 0; i < 256; ++i) file_bytes += static_cast<char>(i);
  auto client = v1::FilesService::NewStub(channel);
  auto context = Context(key);
  v1::CreateFileRequest request;
  request.mutable_file()->set_data(file_bytes);
  request.mutable_file()->set_filename("all-bytes.bin");
  request.mutable_file()->set_content_type("application/octet-stream");
  request.set_purpose("user_data");
  v1::OpenAIFile answer;
  CheckOk(client->CreateFile(context.get(), request, &answer));
  Check("file: id", answer.id(), "file-mock1");
  Check("file: bytes", answer.bytes(), int64_t{256});
  Check("file: filename", answer.filename(), "all-bytes.bin");
  Check("file: purpose", answer.purpose(), "user_data");

  Upstream upstream = mock.TakeRequest("POST", "/v1/files");
  const std::string prefix = "multipart/form-data; boundary=";
  CheckThat("file: upstream content type is multipart/form-data",
            upstream.content_type.starts_with(prefix), upstream.content_type);
  std::string boundary = upstream.content_type.substr(prefix.size());
  std::string want = "--" + boundary + "\r\n" +
                     R"(Content-Disposition: form-data; name="file"; filename="all-bytes.bin")"
                     "\r\nContent-Type: application/octet-stream\r\n\r\n" +
                     file_bytes + "\r\n--" + boundary + "\r\n" +
                     R"(Content-Disposition: form-data; name="purpose")"
                     "\r\n\r\nuser_data\r\n--" +
                     boundary + "--\r\n";
  CheckThat("file: upstream body", upstream.body == want, "got " + Show(upstream.body));
}

}  // namespace

int main(int argc, char** argv) {
  const char* key = std::getenv("OPENAI_API_KEY");
  if (argc != 3 || key == nullptr || *key == '\0') {
    std::cerr << "usage: OPENAI_API_KEY=... typed_client GATEWAY_HOST:PORT MOCK_URL\n";
    return 2;
  }
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  Channel channel =
      grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), arguments);
  Mock mock(argv[2], key);
  const std::pair<const char*, void (*)(const Channel&, const std::string&, Mock&)> steps[] = {
      {"chat", Chat},
      {"chatStream", ChatStream},
      {"response", Response},
      {"responseStream", ResponseStream},
      {"embeddings", Embeddings},
      {"upload", Upload},
  };
  for (const auto& [name, run] : steps) {
    step = name;
    try {
      run(channel, key, mock);
    } catch (const std::exception& error) {  // Boost.JSON on a mock answer it cannot read
      Fail(error.what());
    }
  }
  std::cout << "c++: all checks passed" << std::endl;
}
