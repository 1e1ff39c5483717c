// The access log through the real binary: JSON lines that parse, one per call from
// either front, with the fields a log pipeline needs, request ids carried through, and
// never the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <regex>
#include <sstream>

#include "fixture.h"
#include "grpc_client.h"

namespace oa::testing {
namespace {

namespace json = boost::json;

// Every line of the gateway's log, each parsed as a JSON object (a failure fails the test).
std::vector<json::object> JsonLines(const std::string& log) {
  std::vector<json::object> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    EXPECT_FALSE(ec) << "not JSON: " << line;
    EXPECT_TRUE(!ec && v.is_object()) << line;
    if (!ec && v.is_object()) lines.push_back(v.get_object());
  }
  return lines;
}

// The access lines whose rpc is `rpc`.
std::vector<json::object> AccessLines(const std::string& log, std::string_view rpc) {
  std::vector<json::object> out;
  for (const json::object& line : JsonLines(log)) {
    const auto* msg = line.if_contains("msg");
    const auto* r = line.if_contains("rpc");
    if (msg && msg->is_string() && msg->get_string() == "access" && r && r->is_string() &&
        r->get_string() == rpc) {
      out.push_back(line);
    }
  }
  return out;
}

class JsonLogs : public GatewayTest {
 protected:
  void SetUp() override { StartAll({"--log-format", "json"}); }
};

TEST_F(JsonLogs, EveryLineIsJsonAndRestCallsHaveTheirFields) {
  Headers headers = kAuth;
  headers.push_back({"X-Request-Id", "client-id-1"});
  const Reply reply = Client().Call("GET", "/v1/models/gpt-4o?x=secret-query", headers);
  ASSERT_EQ(reply.status, 200);
  ASSERT_TRUE(LogHas("\"rpc\":\"openai.v1.ModelsService/RetrieveModel\"")) << gateway_->Log();
  // The client's id goes upstream untouched; the log names the call by the upstream's id.
  EXPECT_EQ(mock_->requests().at(0).header("x-request-id"), "client-id-1");

  const std::vector<json::object> lines =
      AccessLines(gateway_->Log(), "openai.v1.ModelsService/RetrieveModel");
  ASSERT_EQ(lines.size(), 1u);
  const json::object& a = lines[0];
  EXPECT_EQ(a.at("level"), "info");
  EXPECT_EQ(a.at("front"), "rest");
  EXPECT_EQ(a.at("method"), "GET");
  EXPECT_EQ(a.at("path"), "/v1/models/gpt-4o");  // never the query
  EXPECT_EQ(a.at("status"), 200);
  EXPECT_TRUE(a.at("ms").is_number());
  EXPECT_TRUE(a.at("upstream_ms").is_number());
  EXPECT_EQ(a.at("bytes_out"), reply.body.size());
  EXPECT_EQ(a.at("request_id"), json::value(reply.header("x-request-id")));
  EXPECT_TRUE(std::regex_match(std::string(a.at("key").as_string()), std::regex("[0-9a-f]{8}")));
  EXPECT_THAT(std::string(a.at("client").as_string()), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_TRUE(a.at("ts").is_string());
  EXPECT_EQ(gateway_->Log().find("secret-query"), std::string::npos);
}

TEST_F(JsonLogs, TheClientsRequestIdNamesCallsTheGatewayAnswersItself) {
  const Reply reply = Client().Call("GET", "/v1/models", {{"X-Request-Id", "client-id-2"}});
  ASSERT_EQ(reply.status, 401);
  ASSERT_TRUE(LogHas("\"request_id\":\"client-id-2\"")) << gateway_->Log();
  const std::vector<json::object> lines =
      AccessLines(gateway_->Log(), "openai.v1.ModelsService/ListModels");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("status"), 401);
  EXPECT_EQ(lines[0].at("key"), "-");
}

// What the gateway answers itself counts as written: refused before the upstream (401,
// 404), and when the upstream failed (502).
TEST_F(JsonLogs, AnswersOfTheGatewaysOwnAreLoggedWithTheirBytes) {
  const Reply unauthorized = Client().Call("GET", "/v1/models", {});
  ASSERT_EQ(unauthorized.status, 401);
  const Reply unknown = Client().Call("GET", "/v2/nothing", kAuth);
  ASSERT_EQ(unknown.status, 404);
  Headers breaking = kAuth;
  breaking.push_back({"x-mock-break", "before-headers"});
  const Reply failed = Client().Call("GET", "/v1/models/m", breaking);
  ASSERT_EQ(failed.status, 502);
  for (const Reply* reply : {&unauthorized, &unknown, &failed}) {
    ASSERT_FALSE(reply->body.empty());
    const std::string needle = "\"status\":" + std::to_string(reply->status) + ",";
    ASSERT_TRUE(LogHas(needle)) << gateway_->Log();
    bool seen = false;
    for (const json::object& line : JsonLines(gateway_->Log())) {
      if (line.contains("front") && line.at("status") == reply->status) {
        EXPECT_EQ(line.at("bytes_out"), reply->body.size()) << json::serialize(line);
        seen = true;
      }
    }
    EXPECT_TRUE(seen) << reply->status;
  }
}

TEST_F(JsonLogs, GrpcCallsHaveTheirStatusToo) {
  GrpcClient client(gateway_->port());
  const std::string rpc = "openai.v1.ModelsService/ListModels";
  GrpcCallOptions options;
  options.metadata = {{"authorization", std::string("Bearer ") + kKey},
                      {"x-request-id", "grpc-client-id"}};
  const GrpcResult result =
      client.Call("/" + rpc, client.NewRequest(rpc)->SerializeAsString(), options);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_TRUE(LogHas("\"front\":\"grpc\"")) << gateway_->Log();
  const std::vector<json::object> lines = AccessLines(gateway_->Log(), rpc);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("grpc_status"), 0);
  EXPECT_EQ(lines[0].at("status"), 200);
  EXPECT_EQ(lines[0].at("request_id"), json::value(result.Initial("x-request-id")));
  EXPECT_EQ(mock_->requests().at(0).header("x-request-id"), "grpc-client-id");
}

}  // namespace
}  // namespace oa::testing
