// sandbox::latency_histogram: exact where it promises, within 1/128 above,
// and never reporting a percentile below the true one.
#include "sandbox/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

using std::chrono::nanoseconds;
using sandbox::latency_histogram;

TEST(LatencyHistogram, IsAllZeroWhenEmpty) {
  const latency_histogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.min(), nanoseconds{0});
  EXPECT_EQ(h.max(), nanoseconds{0});
  EXPECT_EQ(h.mean(), nanoseconds{0});
  EXPECT_EQ(h.percentile(99), nanoseconds{0});
}

TEST(LatencyHistogram, IsExactForSmallValues) {
  latency_histogram h;
  for (int v = 1; v <= 100; ++v) {
    h.record(nanoseconds{v});
  }
  EXPECT_EQ(h.count(), 100U);
  EXPECT_EQ(h.percentile(50), nanoseconds{50});
  EXPECT_EQ(h.percentile(90), nanoseconds{90});
  EXPECT_EQ(h.percentile(99), nanoseconds{99});
  EXPECT_EQ(h.percentile(100), nanoseconds{100});
  EXPECT_EQ(h.percentile(0), nanoseconds{1});  // The first sample, not zero.
  EXPECT_EQ(h.min(), nanoseconds{1});
  EXPECT_EQ(h.mean(), nanoseconds{51});  // 50.5, rounded.
}

TEST(LatencyHistogram, StaysWithinOnePartIn128AndErrsHigh) {
  // Log-uniform samples from 1 us to 10 s, checked against the sorted truth.
  std::mt19937_64 random{42};
  std::uniform_real_distribution<double> exponent{3.0, 10.0};
  std::vector<std::int64_t> samples(200'000);
  latency_histogram h;
  for (auto& s : samples) {
    s = static_cast<std::int64_t>(std::pow(10.0, exponent(random)));
    h.record(nanoseconds{s});
  }
  std::ranges::sort(samples);
  for (const double p : {1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(samples.size())));
    const auto truth = static_cast<double>(samples[rank - 1]);
    const auto reported = static_cast<double>(h.percentile(p).count());
    EXPECT_GE(reported, truth) << "p" << p;
    EXPECT_LE(reported, truth * (1 + 1.0 / 128)) << "p" << p;
  }
  EXPECT_EQ(h.max().count(), samples.back());  // Exact, not a bucket edge.
  EXPECT_EQ(h.min().count(), samples.front());
}

TEST(LatencyHistogram, TakesExtremesAndNegativeValues) {
  latency_histogram h;
  h.record(nanoseconds{-5});  // A clock that stepped back counts as zero.
  h.record(nanoseconds::max());
  EXPECT_EQ(h.count(), 2U);
  EXPECT_EQ(h.min(), nanoseconds{0});
  EXPECT_EQ(h.percentile(50), nanoseconds{0});
  EXPECT_EQ(h.percentile(100), nanoseconds::max());
}

TEST(LatencyHistogram, MergesLikeOneHistogram) {
  latency_histogram a;
  latency_histogram b;
  latency_histogram both;
  for (int i = 0; i < 1000; ++i) {
    const nanoseconds v{i * 997 % 50'000};
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  EXPECT_EQ(a.mean(), both.mean());
  for (const double p : {10.0, 50.0, 99.0, 99.9}) {
    EXPECT_EQ(a.percentile(p), both.percentile(p)) << p;
  }
}

}  // namespace
