/// \file
/// Chapter 04: what a benchmark run measured, and how it is printed. Its page is chapters/04_echo_benchmark/README.md.
#pragma once

#include "sandbox/cpu_time.hpp"
#include "sandbox/histogram.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ch04 {

/// What the load generator was asked to do.
struct bench_options {
  std::string host = "localhost";  ///< The server's name or address.
  std::uint16_t port = 2222;       ///< The server's port.
  unsigned connections = 10;       ///< Connections kept busy at once.
  std::size_t size = 1024;  ///< Bytes per message, the final '\n' included.
  double duration = 5;      ///< Seconds measured.
  double warmup = 1;        ///< Seconds run first and not measured.
  /// A request that waits longer than this for its echo means the server
  /// stalled: the run ends and exits with status 1. A healthy echo on
  /// loopback takes microseconds to milliseconds, a busy machine's hiccups
  /// tens of milliseconds, TCP's quickest retransmission 200 ms: 1 s is far
  /// above all three, yet shows a stall within a second of a 5 s run.
  double stall = 1;
  unsigned threads = 1;     ///< Load-generator threads, each with its own io_context.
  unsigned pipeline = 1;    ///< Messages in flight per connection.
  std::string prefix;       ///< What the server puts before each echo ("echo:" for chapter 01).
  int server_pid = 0;       ///< 0: do not measure the server's CPU.
  bool json = false;        ///< Print one JSON object instead of the report.
  bool quiet = false;       ///< No progress line.
};

/// What one run measured, over the measured window only.
struct bench_results {
  std::chrono::duration<double> elapsed{0};  ///< Length of the measured window.
  sandbox::latency_histogram latency;        ///< One sample per reply.
  sandbox::cpu_time client_cpu;              ///< The load generator's own CPU time.
  std::optional<sandbox::cpu_time> server_cpu;  ///< Set when --server-pid was given.
  bool interrupted = false;                  ///< Ctrl-C ended the window early.
  bool stopped_by_stall = false;  ///< A request waited longer than --stall, ending the run.
  std::uint64_t unanswered = 0;   ///< Requests whose echo had not come when the run ended.
  std::chrono::nanoseconds oldest_unanswered{0};  ///< How long the oldest of those had waited.
  std::uint64_t stalled = 0;  ///< Requests that waited longer than --stall, answered or not.
  /// The longest wait among requests answered later than --stall (in any
  /// phase) or not at all: the report's maximum latency includes it.
  std::chrono::nanoseconds longest_wait{0};
};

/// The human report: one figure per line.
void print_report(const bench_options& options, const bench_results& results);

/// The same figures as one JSON object, for scripts (bench/run_benchmarks.py).
void print_json(const bench_options& options, const bench_results& results);

/// The line on stderr for a run in which requests waited longer than
/// --stall: "error: 100 requests waited longer than 1 s for their echo: the
/// server stalled".
void print_stall_error(const bench_options& options, const bench_results& results);

}  // namespace ch04
