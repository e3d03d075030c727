/// \file
/// \brief A latency histogram: every sample recorded, percentiles within 1%.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sandbox {

/// Records durations (in nanoseconds) into log-linear buckets, the scheme of
/// HdrHistogram: values below 256 ns are exact, and above that each power of
/// two is cut into 128 buckets, so any value is known to within 1/128
/// (0.8%). Recording is an index computation and an increment: cheap enough
/// to record every request of a benchmark, which is what makes p99.9 honest.
/// Averages of samples, or keeping only some of them, hide exactly the slow
/// requests a tail percentile is meant to show.
///
/// Not thread-safe: give each thread its own histogram and merge() them.
class latency_histogram {
 public:
  /// Adds one sample. Negative durations count as zero.
  void record(std::chrono::nanoseconds value) noexcept;

  /// Adds every sample of `other`.
  void merge(const latency_histogram& other) noexcept;

  /// The number of samples.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

  /// The smallest and largest samples, exactly (zero when empty).
  [[nodiscard]] std::chrono::nanoseconds min() const noexcept;
  [[nodiscard]] std::chrono::nanoseconds max() const noexcept;  ///< \copydoc min()

  /// The exact mean of the samples (zero when empty).
  [[nodiscard]] std::chrono::nanoseconds mean() const noexcept;

  /// The value at or below which `percent` % of the samples lie, e.g.
  /// percentile(99.9). Reports the top of the sample's bucket (never more
  /// than max()), so it errs high by under 0.8%, never low. Zero when empty.
  [[nodiscard]] std::chrono::nanoseconds percentile(double percent) const noexcept;

 private:
  static constexpr int sub_bucket_bits = 7;
  static constexpr std::size_t sub_buckets = std::size_t{1} << sub_bucket_bits;
  // Values below 2 * sub_buckets map to themselves; every further power of
  // two adds sub_buckets buckets, up to 2^64.
  static constexpr std::size_t bucket_count = (64 - sub_bucket_bits + 1) * sub_buckets;

  static std::size_t index_of(std::uint64_t value) noexcept;
  static std::uint64_t highest_in(std::size_t index) noexcept;

  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace sandbox
