// route::LeavesItsPrefix: a path that some server would resolve outside where it points.
#include "route/dot_segments.h"

#include <gtest/gtest.h>

#include <string>

namespace oa::route {
namespace {

TEST(DotSegments, PlainPathsAndDotsInsideNamesStay) {
  for (const char* path :
       {"/v1/models", "/v1/models/gpt-4.1-mini", "/v1/files/...", "/v1/files/.hidden", "/v1/x..y",
        "/v1/models/ft:gpt-4o:acme::abc", "/v1/models/org%2Fmodel", "/v1/models/a%2F...%2Fb",
        "/v1/a;b=c", "/v1/files/%2e%2e%2e", "/", ""}) {
    EXPECT_FALSE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, AsSent) {
  for (const char* path : {"/v1/../admin", "/v1/./models", "/v1/models/..", "/..", "/v1/."}) {
    EXPECT_TRUE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, PercentDecodedOnceOrTwice) {
  for (const char* path :
       {"/v1/%2e%2e/admin", "/v1/%2E%2e/x", "/v1/.%2E/x", "/v1/%2e/x", "/v1/..%2fadmin",
        "/v1/..%2Fadmin", "/v1/%2e%2e%2fadmin", "/v1/x%2f..%2fadmin", "/v1/%252e%252e/admin",
        "/v1/%252e%252e%252fadmin", "/v1/%25252e%25252e/admin"}) {
    EXPECT_TRUE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, BackslashAsSlash) {
  for (const char* path : {"/v1/..\\admin", "/v1\\..\\admin", "/v1/..%5cadmin", "/v1/..%5Cadmin",
                           "/v1/%2e%2e%5cadmin"}) {
    EXPECT_TRUE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, SemicolonParametersCut) {
  for (const char* path : {"/v1/..;/admin", "/v1/..;jsessionid=x/admin", "/v1/.;a/b",
                           "/v1/%2e%2e%3b/admin", "/v1/..%3Bx%2fadmin"}) {
    EXPECT_TRUE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, EncodedNulIsRefused) {
  EXPECT_TRUE(LeavesItsPrefix("/v1/models/a%00b"));
  EXPECT_TRUE(LeavesItsPrefix("/v1/models/a%2500b"));
}

// Found by review: a server that decodes before it parses ends the path at a decoded
// '?' or '#'; WHATWG URL parsers strip tabs and line ends; lax UTF-8 decoders read
// overlong forms; Unicode folding reads fullwidth dots; Windows drops trailing spaces.
TEST(DotSegments, ReadingsOfDecodingAndNormalisingServers) {
  for (const char* path :
       {"/v1/..%3f/admin", "/v1/..%23/admin", "/v1/.%09./admin", "/v1/.%0a./admin",
        "/v1/.%0d./admin", "/v1/%c0%ae%c0%ae/admin", "/v1/%ef%bc%8e%ef%bc%8e/admin",
        "/v1/..%ef%bc%8fadmin", "/v1/..%20/admin", "/v1/x%7f", "/v1/%e2%80%a4./admin"}) {
    EXPECT_TRUE(LeavesItsPrefix(path)) << path;
  }
  // Not dot segments in any reading.
  for (const char* path : {"/v1/models/a%3Fb", "/v1/a%23b/c", "/v1/%e2%82%ac.", "/v1/a%20b"}) {
    EXPECT_FALSE(LeavesItsPrefix(path)) << path;
  }
}

TEST(DotSegments, MalformedEscapesAreText) {
  for (const char* path : {"/v1/%", "/v1/%2", "/v1/%zz", "/v1/%%2e", "/v1/a%2"}) {
    EXPECT_FALSE(LeavesItsPrefix(path)) << path;
  }
}

// Nested escapes cost a pass each, and the passes are bounded: a long path of them is
// checked in linear time, and passes (a server decoding that often is not known).
TEST(DotSegments, DeepNestingIsBoundedAndPasses) {
  std::string path = "/v1/";
  for (int i = 0; i < 20000; ++i) path += "%25";
  path += "2e";
  EXPECT_FALSE(LeavesItsPrefix(path));
}

}  // namespace
}  // namespace oa::route
