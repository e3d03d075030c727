/// \file
/// Chapter 04's load side: the connections that send messages and check
/// their echoes, and what they record (latency, requests in flight). Its page
/// is chapters/04_echo_benchmark/README.md.
#pragma once

#include "report.hpp"

#include "sandbox/asio.hpp"
#include "sandbox/histogram.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ch04 {

/// The benchmark's clock: monotonic, so a clock change cannot bend a latency.
using clock_type = std::chrono::steady_clock;

/// The run's phase, shared by every thread: replies are recorded only while
/// measuring. Warm-up lets connections, caches, the allocator and the CPU's
/// clock settle before anything counts.
enum class phase { warmup, measuring, done };

/// What one thread records. Only its own thread writes the histogram and
/// the late echoes; the control thread reads them after that thread has
/// been joined. `replies` is read while running (for the progress line), so
/// it is atomic; relaxed order is enough for a counter nobody synchronises
/// on. alignas keeps two threads' counters off one cache line, or they
/// would slow each other down.
struct alignas(64) thread_stats {
  sandbox::latency_histogram latency;    ///< One sample per reply while measuring.
  std::atomic<std::uint64_t> replies{0};  ///< Every reply, in any phase.
  std::uint64_t late = 0;                 ///< Echoes that took longer than --stall, in any phase.
  clock_type::duration slowest_late{0};   ///< The longest of those waits.
};

//! [in_flight]
/// One connection's requests in flight, oldest first: one at most in the
/// closed loop, up to --pipeline pipelined. Only the connection's own thread
/// changes `sent_at` (main reads it once that thread is joined). The oldest
/// send time is also published in `waiting_since`, an atomic, for the
/// control thread, which looks for a request older than --stall while the
/// run goes on: a closed loop that waits on a stuck server records nothing,
/// so the replies alone would never show the stall.
struct connection_state {
  /// `waiting_since` when nothing is in flight.
  static constexpr auto not_waiting = clock_type::time_point::max();
  std::deque<clock_type::time_point> sent_at;  ///< When each request in flight was sent.
  std::atomic<clock_type::time_point> waiting_since{not_waiting};  ///< sent_at's front, or not_waiting.
  // One plain store per send and per echo: no lock on the hot path.
  static_assert(std::atomic<clock_type::time_point>::is_always_lock_free);

  /// A request was sent `at`.
  void sent(clock_type::time_point at) {
    if (sent_at.empty()) {
      waiting_since.store(at, std::memory_order_relaxed);
    }
    sent_at.push_back(at);
  }

  /// The oldest request's echo is in: returns how long it waited.
  clock_type::duration answered(clock_type::time_point at) {
    const auto waited = at - sent_at.front();
    sent_at.pop_front();
    waiting_since.store(sent_at.empty() ? not_waiting : sent_at.front(),
                        std::memory_order_relaxed);
    return waited;
  }
};
//! [in_flight]

/// What every connection and the control side share: the options, the
/// phase, and the first failure.
struct run_state {
  /// Reads --stall from `bench_options`, which must outlive the run.
  explicit run_state(const bench_options& bench_options);

  const bench_options& options;      ///< The command line.
  const clock_type::duration stall;  ///< --stall: a longer wait for an echo is a stall.
  std::atomic<phase> now{phase::warmup};  ///< Set by the control side only.
  std::atomic<unsigned> open_connections{0};  ///< Connections whose loop still runs.
  std::mutex error_mutex;  ///< Guards first_error.
  std::string first_error;  ///< Why the first connection that failed did; empty if none.

  /// One reply came, `latency` after its request: counted, and recorded in
  /// the histogram while measuring.
  void record(thread_stats& stats, clock_type::duration latency);
};

/// One io_context per load-generator thread, each with its own connections:
/// nothing is shared between threads on the hot path but the phase flag.
struct worker {
  thread_stats stats;  ///< What this thread's connections recorded.
  std::deque<connection_state> connections;  ///< A deque: adding one never moves the others.
  /// Declared last, so destroyed first: the coroutines it abandons at the
  /// end refer to the members above. Concurrency hint 1: one thread runs
  /// it, no locking needed.
  asio::io_context context{1};
};

/// Connects --connections sockets, spread over the workers' io_contexts in
/// turn, and starts each one's loop (closed or pipelined). Throws if the
/// server cannot be resolved or a connection fails. `failed` runs, on a
/// worker's thread, when the first connection fails before the run is done
/// (its reason is then in run.first_error).
void start_connections(run_state& run, std::vector<std::unique_ptr<worker>>& workers,
                       const std::function<void()>& failed);

/// Once every worker's thread is joined: merges what the threads recorded
/// into `results`, and counts the requests still in flight as unanswered.
void collect_results(const run_state& run, const std::vector<std::unique_ptr<worker>>& workers,
                     bench_results& results);

}  // namespace ch04
