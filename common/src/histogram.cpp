/// \file
/// \brief How sandbox/histogram.hpp records latencies and finds percentiles.
#include "sandbox/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sandbox {

// Bucket layout, with S = sub_buckets = 128:
//   values 0 .. 2S-1            -> buckets 0 .. 2S-1 (exact)
//   values [2^k, 2^(k+1)), k>=8 -> S buckets of width 2^(k-7), from (k-6)*S
// A value's bucket comes from its highest set bit (std::bit_width) and the
// 7 bits below it.
std::size_t latency_histogram::index_of(std::uint64_t value) noexcept {
  if (value < 2 * sub_buckets) {
    return static_cast<std::size_t>(value);
  }
  const int shift = static_cast<int>(std::bit_width(value)) - (sub_bucket_bits + 1);  // >= 1
  const auto top = static_cast<std::size_t>(value >> shift);          // in [S, 2S)
  return static_cast<std::size_t>(shift + 1) * sub_buckets + (top - sub_buckets);
}

std::uint64_t latency_histogram::highest_in(std::size_t index) noexcept {
  if (index < 2 * sub_buckets) {
    return index;
  }
  const auto shift = static_cast<int>(index / sub_buckets) - 1;
  const std::uint64_t top = sub_buckets + index % sub_buckets;
  // ((top + 1) << shift) - 1, without overflowing in the very last bucket.
  return (top << shift) + ((std::uint64_t{1} << shift) - 1);
}

void latency_histogram::record(std::chrono::nanoseconds value) noexcept {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(value.count(), 0));
  ++buckets_[index_of(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += static_cast<long double>(ns);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) {
    buckets_[i] += other.buckets_[i];
  }
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::chrono::nanoseconds latency_histogram::min() const noexcept {
  return std::chrono::nanoseconds{count_ == 0 ? 0 : static_cast<std::int64_t>(min_)};
}

std::chrono::nanoseconds latency_histogram::max() const noexcept {
  return std::chrono::nanoseconds{static_cast<std::int64_t>(max_)};
}

std::chrono::nanoseconds latency_histogram::mean() const noexcept {
  if (count_ == 0) {
    return std::chrono::nanoseconds{0};
  }
  return std::chrono::nanoseconds{
      static_cast<std::int64_t>(std::llround(sum_ / static_cast<long double>(count_)))};
}

std::chrono::nanoseconds latency_histogram::percentile(double percent) const noexcept {
  if (count_ == 0) {
    return std::chrono::nanoseconds{0};
  }
  // The rank of the sample wanted, counting from 1: p50 of 10 samples is the
  // 5th, p99.9 of 1000 is the 999th.
  const double wanted = std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 *
                                  static_cast<double>(count_));
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::chrono::nanoseconds{static_cast<std::int64_t>(std::min(highest_in(i), max_))};
    }
  }
  return max();
}

}  // namespace sandbox
