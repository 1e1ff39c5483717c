// The exposition writer and the series it keeps: counts land in the right series,
// histograms are cumulative with inclusive bounds, and labels stay in their closed sets.
#include "observe/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace oa::observe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsRegistry, CallsCountByFrontRpcAndResult) {
  Metrics m;
  m.SetRpcs({"openai.v1.ChatService/CreateChatCompletion"});
  CallSummary rest;
  rest.rpc = "openai.v1.ChatService/CreateChatCompletion";
  rest.http_status = 201;
  m.CallEnded(rest);
  m.CallEnded(rest);
  rest.http_status = 0;  // the caller left before any answer
  m.CallEnded(rest);
  CallSummary grpc;
  grpc.front = Front::kGrpc;
  grpc.rpc = "/made.up.Service/Whatever";  // a name the client chose: never a label
  grpc.grpc_code = 14;
  m.CallEnded(grpc);

  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("oa_requests_total{front=\"rest\",rpc=\"openai.v1.ChatService/"
                              "CreateChatCompletion\",code=\"2xx\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("oa_requests_total{front=\"rest\",rpc=\"openai.v1.ChatService/"
                              "CreateChatCompletion\",code=\"none\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("oa_requests_total{front=\"grpc\",rpc=\"-\",code=\"UNAVAILABLE\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("made.up")));
  // Series that never moved are left out; families are always described.
  EXPECT_THAT(text, Not(HasSubstr("code=\"5xx\"")));
  EXPECT_THAT(text, HasSubstr("# TYPE oa_requests_total counter\n"));
}

TEST(MetricsRegistry, HistogramsAreCumulativeWithInclusiveBounds) {
  LatencyHistogram h;
  h.Observe(absl::Milliseconds(5));  // exactly on the first bound: counts in it
  h.Observe(absl::Milliseconds(7));  // in (0.005, 0.01]
  h.Observe(absl::Seconds(3600));    // past every bound: only +Inf
  const auto c = h.Cumulative();
  EXPECT_EQ(c[0], 1u);
  EXPECT_EQ(c[1], 2u);
  EXPECT_EQ(c[LatencyHistogram::kBounds.size() - 1], 2u);
  EXPECT_EQ(c.back(), 3u);
  EXPECT_DOUBLE_EQ(h.sum_seconds(), 3600.012);
}

TEST(MetricsRegistry, RenderedHistogramHasBucketsSumAndCount) {
  Metrics m;
  CallSummary call;
  call.elapsed = absl::Milliseconds(250);
  call.upstream_first_byte = absl::Milliseconds(40);
  call.bytes_in = 12;
  call.bytes_out = 3000;
  call.http_status = 200;
  m.CallEnded(call);
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("oa_request_duration_seconds_bucket{front=\"rest\",le=\"0.1\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("oa_request_duration_seconds_bucket{front=\"rest\",le=\"0.25\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("oa_request_duration_seconds_bucket{front=\"rest\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("oa_request_duration_seconds_sum{front=\"rest\"} 0.25\n"));
  EXPECT_THAT(text, HasSubstr("oa_request_duration_seconds_count{front=\"rest\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("oa_upstream_first_byte_seconds_bucket{front=\"rest\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("oa_request_body_bytes_total{front=\"rest\"} 12\n"));
  EXPECT_THAT(text, HasSubstr("oa_response_body_bytes_total{front=\"rest\"} 3000\n"));
}

TEST(MetricsRegistry, GaugeHoldsCountWhileAlive) {
  Metrics m;
  {
    GaugeHold a(m.open_streams);
    GaugeHold b(m.open_streams);
    EXPECT_EQ(m.open_streams.value(), 2);
    GaugeHold moved = std::move(a);
    EXPECT_EQ(m.open_streams.value(), 2);
    b.Release();
    b.Release();  // once only
    EXPECT_EQ(m.open_streams.value(), 1);
  }
  EXPECT_EQ(m.open_streams.value(), 0);
  m.upstream_connections.Add(3);
  m.upstream_idle.Add(1);
  EXPECT_THAT(m.Render(), HasSubstr("oa_upstream_connections{state=\"busy\"} 2\n"));
}

}  // namespace
}  // namespace oa::observe
