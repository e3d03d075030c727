/// \file
/// Chapter 04's control side: the phases of a run (warm-up, measuring,
/// done), the progress line, stall detection, and the CPU times read at the
/// edges of the measured window. Its page is chapters/04_echo_benchmark/README.md.
#pragma once

#include "load.hpp"
#include "report.hpp"

#include "sandbox/asio.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace ch04 {

/// Why the window ended before its time, if it did.
enum class early_end { none, interrupted, failed, stalled };

/// The control side, run by the main thread on its own io_context: the
/// timer that paces the phases, and what ends the window early.
struct controller {
  /// The controller of a run whose connections are `all_workers`' (both
  /// must outlive it); its timer and signals wait on `context`.
  controller(asio::io_context& context, const run_state& shared,
             std::vector<std::unique_ptr<worker>>& all_workers);

  const bench_options& options;  ///< The command line.
  const run_state& run;          ///< The phase and --stall.
  std::vector<std::unique_ptr<worker>>& workers;  ///< Looked at for stalls and progress.
  asio::steady_timer timer;    ///< Paces the phases; cancelled to end one early.
  asio::signal_set signals;    ///< SIGINT and SIGTERM.
  early_end ended = early_end::none;  ///< Why the window ended early, if it did.
  unsigned signals_caught = 0;        ///< Ctrl-Cs (and SIGTERMs) so far.
  bool on_terminal;                   ///< stderr is a terminal: the progress line rewrites itself.

  /// On the controller's thread: ends the window (the first reason stays).
  void end(early_end why);

  /// Safe from any thread: the work is posted to the controller's own.
  void end_from_any_thread(early_end why);

  /// Ctrl-C or SIGTERM: the first ends the window, a second one also ends
  /// the wait for the last echoes.
  void watch_signals();

  /// How many connections have waited longer than --stall for an echo, now.
  [[nodiscard]] unsigned stalled_connections() const;

  /// Replies so far, over every thread, in any phase.
  [[nodiscard]] std::uint64_t total_replies() const;

  /// The progress line, "measuring   2.0/5.0 s        95000 requests/s",
  /// on stderr unless --quiet.
  void progress(const char* label, double done, double of, double rate) const;
};

/// The whole run, seen from the control side: warm-up, the measured window
/// (its length and the CPU times go into `results`), then the wait for the
/// last echoes. Ends early on Ctrl-C, a stall or a failed connection.
asio::awaitable<void> measure(controller& control, run_state& run, bench_results& results);

}  // namespace ch04
