// CORS: which origins get headers, that upstream CORS headers are replaced, and the
// preflight answer.
#include "http/cors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/strings.h"

namespace oa::http {
namespace {

using boost::beast::http::field;
using boost::beast::http::fields;

// Lower-cased names of the Access-Control-* headers in `f`, with their values.
std::vector<std::pair<std::string, std::string>> CorsHeaders(const fields& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : f) {
    std::string name = AsciiLower(h.name_string());
    if (name.starts_with("access-control-")) {
      out.emplace_back(name, std::string(h.value()));
    }
  }
  return out;
}

int Count(const fields& f, field name) { return static_cast<int>(f.count(name)); }

TEST(Cors, AnyOriginAnswersStar) {
  Cors cors({"*"});
  fields f;
  cors.Decorate("https://app.example", f);
  EXPECT_EQ(f[field::access_control_allow_origin], "*");
  EXPECT_EQ(f[field::access_control_expose_headers], "*");
  EXPECT_EQ(Count(f, field::vary), 0);
}

TEST(Cors, StarAmongOthersAllowsAny) {
  Cors cors({"https://a.example", "*"});
  fields f;
  cors.Decorate("https://elsewhere.example", f);
  EXPECT_EQ(f[field::access_control_allow_origin], "*");
}

TEST(Cors, ExplicitOriginIsEchoedWithVary) {
  Cors cors({"https://a.example", "https://b.example"});
  fields f;
  cors.Decorate("https://b.example", f);
  EXPECT_EQ(f[field::access_control_allow_origin], "https://b.example");
  EXPECT_EQ(f[field::vary], "Origin");
  EXPECT_EQ(f[field::access_control_expose_headers], "*");
}

TEST(Cors, DisallowedOriginGetsNoCorsHeaders) {
  Cors cors({"https://a.example"});
  fields f;
  f.set(field::content_type, "application/json");
  cors.Decorate("https://evil.example", f);
  EXPECT_TRUE(CorsHeaders(f).empty());
  // The answer still depends on Origin, so a shared cache must key on it.
  EXPECT_EQ(f[field::vary], "Origin");
  EXPECT_EQ(f[field::content_type], "application/json");
}

TEST(Cors, OriginMatchIsExact) {
  Cors cors({"https://a.example"});
  for (const char* origin : {"https://a.example.evil", "http://a.example", "https://A.example",
                             "https://a.example/", "https://sub.a.example"}) {
    fields f;
    cors.Decorate(origin, f);
    EXPECT_TRUE(CorsHeaders(f).empty()) << origin;
  }
}

TEST(Cors, NoOriginGetsNoCorsHeaders) {
  for (const char* allowed : {"*", "https://a.example"}) {
    Cors cors({allowed});
    fields f;
    cors.Decorate("", f);
    EXPECT_TRUE(CorsHeaders(f).empty()) << allowed;
    EXPECT_EQ(Count(f, field::vary), std::string_view(allowed) == "*" ? 0 : 1) << allowed;
  }
}

TEST(Cors, UpstreamCorsHeadersAreReplaced) {
  Cors cors({"https://a.example"});
  fields f;
  f.insert("Access-Control-Allow-Origin", "https://upstream.example");
  f.insert("access-control-allow-credentials", "true");
  f.insert("ACCESS-CONTROL-EXPOSE-HEADERS", "x-request-id");
  f.insert("Access-Control-Max-Age", "5");
  f.insert("x-request-id", "req_1");
  cors.Decorate("https://a.example", f);
  EXPECT_EQ(Count(f, field::access_control_allow_origin), 1);
  EXPECT_EQ(f[field::access_control_allow_origin], "https://a.example");
  EXPECT_EQ(Count(f, field::access_control_allow_credentials), 0);
  EXPECT_EQ(Count(f, field::access_control_max_age), 0);
  EXPECT_EQ(Count(f, field::access_control_expose_headers), 1);
  EXPECT_EQ(f[field::access_control_expose_headers], "*");
  EXPECT_EQ(f["x-request-id"], "req_1");
}

TEST(Cors, UpstreamCorsHeadersAreStrippedEvenForDisallowedOrigins) {
  Cors cors({"https://a.example"});
  for (const char* origin : {"https://evil.example", ""}) {
    fields f;
    f.insert("Access-Control-Allow-Origin", "*");
    f.insert("Access-Control-Allow-Credentials", "true");
    f.insert("Content-Type", "application/json");
    cors.Decorate(origin, f);
    EXPECT_TRUE(CorsHeaders(f).empty()) << origin;
    EXPECT_EQ(f[field::content_type], "application/json");
  }
}

TEST(Cors, PreflightEchoesRequestedHeaders) {
  Cors cors({"*"});
  fields f;
  cors.DecoratePreflight("https://app.example", "authorization, content-type, x-stainless-os", f);
  EXPECT_EQ(f[field::access_control_allow_origin], "*");
  EXPECT_EQ(f[field::access_control_allow_headers], "authorization, content-type, x-stainless-os");
  EXPECT_EQ(f[field::access_control_allow_methods], "GET, POST, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(f[field::access_control_max_age], "86400");
  EXPECT_EQ(Count(f, field::access_control_expose_headers), 0);
}

TEST(Cors, PreflightForExplicitOrigin) {
  Cors cors({"https://a.example"});
  fields f;
  cors.DecoratePreflight("https://a.example", "authorization", f);
  EXPECT_EQ(f[field::access_control_allow_origin], "https://a.example");
  EXPECT_EQ(f[field::vary], "Origin");
  EXPECT_EQ(f[field::access_control_allow_headers], "authorization");
  EXPECT_EQ(f[field::access_control_max_age], "86400");
}

TEST(Cors, PreflightWithoutRequestedHeaders) {
  Cors cors({"*"});
  fields f;
  cors.DecoratePreflight("https://app.example", "", f);
  EXPECT_EQ(Count(f, field::access_control_allow_headers), 0);
  EXPECT_EQ(f[field::access_control_allow_methods], "GET, POST, PUT, PATCH, DELETE, OPTIONS");
}

TEST(Cors, PreflightFromDisallowedOriginGetsNothing) {
  Cors cors({"https://a.example"});
  for (const char* origin : {"https://evil.example", ""}) {
    fields f;
    cors.DecoratePreflight(origin, "authorization", f);
    EXPECT_TRUE(CorsHeaders(f).empty()) << origin;
  }
}

// A relayed head gets the same headers as a message of the gateway's own; the upstream's
// Access-Control-* headers are for the relay to skip (Replaces).
TEST(Cors, WireHeadGetsTheSameHeaders) {
  for (const std::vector<std::string>& origins :
       {std::vector<std::string>{"*"}, std::vector<std::string>{"https://a.example"}}) {
    for (std::string_view origin : {"https://a.example", "https://b.example", ""}) {
      const Cors cors(origins);
      fields f;
      cors.Decorate(origin, f);
      upstream::WireHead head;
      cors.Decorate(origin, head);
      std::string expected;
      for (const auto& h : f) {
        expected += std::string(h.name_string()) + ": " + std::string(h.value()) + "\r\n";
      }
      EXPECT_EQ(head.text(), expected) << origins[0] << " " << origin;
    }
  }
  EXPECT_TRUE(Cors::Replaces("Access-Control-Allow-Origin"));
  EXPECT_TRUE(Cors::Replaces("access-control-max-age"));
  EXPECT_FALSE(Cors::Replaces("Vary"));
}

}  // namespace
}  // namespace oa::http
