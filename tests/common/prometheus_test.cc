// The Prometheus text exposition format (0.0.4), written out by hand.
#include "fls/common/prometheus.h"

#include <gtest/gtest.h>

#include <string>

namespace fls {
namespace {

TEST(PrometheusText, CounterAndGauge) {
  PrometheusText text;
  text.counter("fls_events_total", "Events stored.", 12);
  text.gauge("fls_queue_depth", "Frames waiting.", 0.5);
  EXPECT_EQ(text.text(),
            "# HELP fls_events_total Events stored.\n"
            "# TYPE fls_events_total counter\n"
            "fls_events_total 12\n"
            "# HELP fls_queue_depth Frames waiting.\n"
            "# TYPE fls_queue_depth gauge\n"
            "fls_queue_depth 0.5\n");
}

TEST(PrometheusText, LargeCountersAreExact) {
  PrometheusText text;
  text.counter("c", "h", 9007199254740992.0);  // 2^53
  EXPECT_EQ(text.text(), "# HELP c h\n# TYPE c counter\nc 9007199254740992\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeAndEndWithInf) {
  PrometheusText text;
  text.histogram("lat_seconds", "Latency.", {0.1, 1, 10}, {2, 0, 3}, 12.5, 6);
  EXPECT_EQ(text.text(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.10000000000000001\"} 2\n"
            "lat_seconds_bucket{le=\"1\"} 2\n"
            "lat_seconds_bucket{le=\"10\"} 5\n"
            "lat_seconds_bucket{le=\"+Inf\"} 6\n"
            "lat_seconds_sum 12.5\n"
            "lat_seconds_count 6\n");
}

TEST(LatencyHistogram, BoundsAreIncreasing) {
  const auto& bounds = LatencyHistogram::bounds();
  ASSERT_FALSE(bounds.empty());
  for (std::size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  EXPECT_EQ(LatencyHistogram().buckets.size(), bounds.size());
}

TEST(LatencyHistogram, ObservationGoesToTheFirstBucketItFitsAndAboveAllToNone) {
  LatencyHistogram h;
  const auto& bounds = LatencyHistogram::bounds();
  h.observe(0);                  // first bucket
  h.observe(bounds[0]);          // a bound is inclusive
  h.observe(bounds[1]);          // second bucket, not the first
  h.observe(bounds.back() * 2);  // only in +Inf
  EXPECT_EQ(h.buckets[0], 2u);
  EXPECT_EQ(h.buckets[1], 1u);
  std::uint64_t in_buckets = 0;
  for (auto n : h.buckets) in_buckets += n;
  EXPECT_EQ(in_buckets, 3u);
  EXPECT_EQ(h.count, 4u);
  EXPECT_DOUBLE_EQ(h.sum, bounds[0] + bounds[1] + bounds.back() * 2);
}

}  // namespace
}  // namespace fls
