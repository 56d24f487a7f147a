// Proves the Prometheus text rendering: HELP/TYPE lines, label escaping, cumulative buckets.
#include "obs/metrics.h"

#include <gtest/gtest.h>

namespace beta500::obs {

TEST(Registry, RendersCountersWithEscapedLabels) {
    Registry registry;
    registry.GetCounter("requests_total", "Requests.", {{"route", "/a\"b"}}).Inc(3);
    const std::string text = registry.Render();
    EXPECT_NE(text.find("# TYPE requests_total counter"), std::string::npos);
    EXPECT_NE(text.find("requests_total{route=\"/a\\\"b\"} 3"), std::string::npos);
}

TEST(Registry, HistogramBucketsAreCumulative) {
    Registry registry;
    Histogram& histogram = registry.GetHistogram("latency_seconds", "Latency.", {0.1, 1});
    histogram.Observe(0.05);
    histogram.Observe(0.1);  // on the bound: counted in le="0.1"
    histogram.Observe(2);
    const std::string text = registry.Render();
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.1\"} 2"), std::string::npos);
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"1\"} 2"), std::string::npos);
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
    EXPECT_NE(text.find("latency_seconds_count 3"), std::string::npos);
}

TEST(Registry, SameSeriesIsSameObject) {
    Registry registry;
    Counter& a = registry.GetCounter("x_total", "X.", {{"k", "v"}});
    Counter& b = registry.GetCounter("x_total", "X.", {{"k", "v"}});
    EXPECT_EQ(&a, &b);
}

}  // namespace beta500::obs
