// BaseUrl: the upstream as the OpenAI SDKs take it, and where a /v1/X call goes.
#include "upstream/base_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace oa::upstream {
namespace {

using ::testing::HasSubstr;

BaseUrl ParseOk(std::string_view url) {
  absl::StatusOr<BaseUrl> u = BaseUrl::Parse(url);
  EXPECT_TRUE(u.ok()) << url << ": " << u.status();
  return u.ok() ? *std::move(u) : BaseUrl{};
}

TEST(BaseUrl, HttpsDefaults) {
  BaseUrl u = ParseOk("https://api.openai.com/v1");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "api.openai.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host_header, "api.openai.com");
  EXPECT_EQ(u.path_prefix, "/v1");
}

TEST(BaseUrl, HttpsExplicitDefaultPortIsLeftOutOfHostHeader) {
  BaseUrl u = ParseOk("https://api.openai.com:443/v1");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host_header, "api.openai.com");
}

TEST(BaseUrl, HttpsOtherPortIsInHostHeader) {
  BaseUrl u = ParseOk("https://gw.example:8443/v1");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.host_header, "gw.example:8443");
}

TEST(BaseUrl, HttpWithPort) {
  BaseUrl u = ParseOk("http://localhost:4010/v1");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 4010);
  EXPECT_EQ(u.host_header, "localhost:4010");
  EXPECT_EQ(u.path_prefix, "/v1");
}

TEST(BaseUrl, HttpDefaultPort) {
  BaseUrl u = ParseOk("http://mock/v1");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.host_header, "mock");
  EXPECT_EQ(ParseOk("http://mock:80/v1").host_header, "mock");
}

TEST(BaseUrl, TrailingSlashesAreStripped) {
  EXPECT_EQ(ParseOk("https://api.openai.com/v1/").path_prefix, "/v1");
  EXPECT_EQ(ParseOk("https://api.openai.com/v1///").path_prefix, "/v1");
  EXPECT_EQ(ParseOk("https://api.openai.com/").path_prefix, "");
}

TEST(BaseUrl, BareOrigin) {
  BaseUrl u = ParseOk("http://127.0.0.1:11434");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 11434);
  EXPECT_EQ(u.path_prefix, "");
  EXPECT_EQ(u.TargetFor("/v1/models"), "/models");
  EXPECT_EQ(u.TargetFor("/v1/chat/completions?x=1"), "/chat/completions?x=1");
  EXPECT_EQ(u.TargetFor("/v1"), "/");
  EXPECT_EQ(u.TargetFor("/v1?x=1"), "/?x=1");
}

TEST(BaseUrl, Ipv6Literal) {
  BaseUrl u = ParseOk("http://[::1]:4010/v1");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 4010);
  EXPECT_EQ(u.host_header, "[::1]:4010");
  EXPECT_EQ(u.path_prefix, "/v1");
}

TEST(BaseUrl, Ipv6LiteralDefaultPortKeepsBrackets) {
  BaseUrl u = ParseOk("https://[2001:db8::1]/v1");
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host_header, "[2001:db8::1]");
}

TEST(BaseUrl, AzureLikePrefix) {
  BaseUrl u = ParseOk("https://x.openai.azure.com/openai/deployments/d");
  EXPECT_EQ(u.host, "x.openai.azure.com");
  EXPECT_EQ(u.path_prefix, "/openai/deployments/d");
  EXPECT_EQ(u.TargetFor("/v1/chat/completions?api-version=2024-06-01"),
            "/openai/deployments/d/chat/completions?api-version=2024-06-01");
}

TEST(BaseUrl, TargetForKeepsQuery) {
  BaseUrl u = ParseOk("https://api.openai.com/v1");
  EXPECT_EQ(u.TargetFor("/v1/models?limit=2"), "/v1/models?limit=2");
  EXPECT_EQ(u.TargetFor("/v1/files/file-abc/content"), "/v1/files/file-abc/content");
  EXPECT_EQ(u.TargetFor("/v1"), "/v1");
  EXPECT_EQ(u.TargetFor("/v1?x=1"), "/v1?x=1");
  EXPECT_EQ(u.TargetFor("/v1/"), "/v1/");
}

TEST(BaseUrl, TargetForOtherPrefix) {
  BaseUrl u = ParseOk("http://localhost:8000/api/openai/v1/");
  EXPECT_EQ(u.TargetFor("/v1/models?limit=2"), "/api/openai/v1/models?limit=2");
  EXPECT_EQ(u.TargetFor("/v1"), "/api/openai/v1");
}

TEST(BaseUrl, TargetForKeepsEncodedBytes) {
  BaseUrl u = ParseOk("https://api.openai.com/v1");
  EXPECT_EQ(u.TargetFor("/v1/files/a%2Fb?include%5B%5D=x"), "/v1/files/a%2Fb?include%5B%5D=x");
}

// Known bug (src/upstream/base_url.cc, the non-bracketed branch splits at the last ':'):
// "http://::1/v1" parses as host ":" port 1 and "http://h:8080:9090/v1" as host "h:8080"
// port 9090. A ':' left in an unbracketed host should be an error. Enable when fixed.
TEST(BaseUrl, ColonInUnbracketedHostIsAnError) {
  EXPECT_FALSE(BaseUrl::Parse("http://::1/v1").ok());
  EXPECT_FALSE(BaseUrl::Parse("http://h:8080:9090/v1").ok());
}

struct BadUrl {
  const char* url;
  const char* why;
};

void PrintTo(const BadUrl& u, std::ostream* os) { *os << "'" << u.url << "'"; }

class BaseUrlRejects : public ::testing::TestWithParam<BadUrl> {};

TEST_P(BaseUrlRejects, WithInvalidArgument) {
  absl::StatusOr<BaseUrl> u = BaseUrl::Parse(GetParam().url);
  ASSERT_FALSE(u.ok()) << GetParam().url;
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(u.status().message()), HasSubstr(GetParam().why));
}

INSTANTIATE_TEST_SUITE_P(
    BaseUrl, BaseUrlRejects,
    ::testing::Values(
        BadUrl{"", "http:// or https://"}, BadUrl{"ftp://files.example/v1", "http:// or https://"},
        BadUrl{"api.openai.com/v1", "http:// or https://"},
        BadUrl{"https//api.openai.com", "http:// or https://"}, BadUrl{"https://", "no host"},
        BadUrl{"https:///v1", "no host"}, BadUrl{"http://:8080/v1", "no host"},
        BadUrl{"http://[]:8080/v1", "no host"}, BadUrl{"http://localhost:0/v1", "bad port"},
        BadUrl{"http://localhost:70000/v1", "bad port"},
        BadUrl{"http://localhost:65536", "bad port"}, BadUrl{"http://localhost:abc/v1", "bad port"},
        BadUrl{"http://localhost:-1/v1", "bad port"}, BadUrl{"http://[::1]:0/v1", "bad port"},
        BadUrl{"https://api.openai.com/v1?api-version=1", "query"},
        BadUrl{"https://api.openai.com?x=1", "query"},
        BadUrl{"https://api.openai.com/v1#frag", "fragment"},
        BadUrl{"https://user:pass@api.openai.com/v1", "credentials"},
        BadUrl{"https://user@api.openai.com/v1", "credentials"},
        BadUrl{"http://[::1/v1", "unclosed"}, BadUrl{"http://[::1]x/v1", "junk"}));

}  // namespace
}  // namespace oa::upstream
