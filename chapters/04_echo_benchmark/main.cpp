/// \file
/// Chapter 04: the echo load generator: its options, and where its load side
/// and control side meet. Its page is chapters/04_echo_benchmark/README.md.
//
//
// Before we add threads to our servers, we learn to measure them. This
// program opens --connections connections to an echo server and keeps each
// one busy: send a message, wait until all of it has come back, send the next
// (a "closed loop"). Every round trip goes into a latency histogram; at the
// end it prints requests/s, MiB/s and latency percentiles, and, given the
// server's process id, the server's CPU time per echo. A request that waits
// longer than --stall for its echo means the server stalled: the run stops,
// reports it, and exits with status 1.
//
//   main ──connects──► N sockets, spread over --threads io_contexts
//     │                  each runs closed_loop() or pipelined(), recording
//     │                  a latency sample per reply while the phase is
//     ▼                  "measuring"
//   measure() ── warm-up ──► measuring ──► done: reads the clocks and the
//                │            │             server's CPU at both edges, lets
//                │            │             each connection collect its last
//                │            │             echo (at most --stall), then main
//                │            │             joins and counts the unanswered
//                └─ progress line every second; ten times a second, a look
//                   for a request older than --stall, which ends the run
//
// The load side (load.cpp: the connections, what they record) and the
// control side (control.cpp: the phases, progress, stalls, CPU times) meet
// here, in run_benchmark(); report.cpp prints what they measured.
#include "control.hpp"
#include "load.hpp"
#include "report.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ch04 {
namespace {

bench_options parse_options(int argc, char* argv[]) {
  //! [options]
  bench_options options;
  sandbox::command_line cli{
      "Chapter 04: an echo load generator. Keeps --connections connections busy sending "
      "--size-byte messages (ending in a newline) and reports requests/s, MiB/s and "
      "latency percentiles; with --server-pid, the server's CPU time per echo too."};
  const auto& endpoint = cli.add_client_options();
  auto& app = cli.app();
  app.add_option("-c,--connections", options.connections, "Connections kept busy at once")
      ->capture_default_str()->check(CLI::Range(1U, 100000U));
  app.add_option("-s,--size", options.size, "Bytes per message, the final newline included")
      ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20));
  app.add_option("-d,--duration", options.duration, "Seconds to measure")
      ->capture_default_str()->check(sandbox::seconds_between(0.1, 86400));
  app.add_option("-w,--warmup", options.warmup, "Seconds to run before measuring")
      ->capture_default_str()->check(sandbox::seconds_between(0, 3600));
  app.add_option("--stall", options.stall,
                 "Seconds a request may wait for its echo; longer means the server stalled: "
                 "status 1. 1 s is far above a healthy echo and a busy machine's hiccups")
      ->capture_default_str()->check(sandbox::seconds_between(0.001, 3600));
  app.add_option("-t,--threads", options.threads, "Load-generator threads")
      ->capture_default_str()->check(CLI::Range(1U, 256U));
  app.add_option("-p,--pipeline", options.pipeline,
                 "Messages in flight per connection (1: wait for each echo)")
      ->capture_default_str()->check(CLI::Range(1U, 1024U));
  app.add_option("--prefix", options.prefix,
                 "What the server puts before each echo, e.g. echo: for chapter 01");
  app.add_option("--server-pid", options.server_pid,
                 "Process id of the server, to report its CPU time per echo")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  app.add_flag("--json", options.json, "Print the results as one JSON object");
  app.add_flag("-q,--quiet", options.quiet, "No progress line");
  cli.parse(argc, argv);
  //! [options]
  options.host = endpoint.host;
  options.port = endpoint.port;
  const std::string_view letters_and_digits = "abcdefghijklmnopqrstuvwxyz0123456789";
  if (options.prefix.find('\n') != std::string::npos ||
      std::ranges::all_of(letters_and_digits,
                          [&](char c) { return options.prefix.find(c) != std::string::npos; })) {
    std::cerr << "error: --prefix cannot hold a newline (replies are framed by it), nor every "
                 "letter and digit (messages are made of those it leaves out)\n";
    std::exit(2);
  }
  return options;
}

// "Benchmarking localhost:2222: 10 connections x 1024-byte messages, ..."
void print_plan(const bench_options& options) {
  sandbox::println("Benchmarking ", sandbox::host_port(options.host, options.port), ": ",
                   options.connections, options.connections == 1 ? " connection" : " connections",
                   " x ", options.size, "-byte messages, pipeline ", options.pipeline, ", ",
                   options.threads, options.threads == 1 ? " thread" : " threads", ", ",
                   options.warmup, " s warm-up, ", options.duration, " s measured");
}

// Runs the workers' io_contexts on a thread each and the controller on this
// one until measure() ends; then stops the workers and joins their threads.
void run_threads(asio::io_context& control_context, controller& control, run_state& run,
                 std::vector<std::unique_ptr<worker>>& workers, bench_results& results) {
  std::vector<std::jthread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&context = w->context] { context.run(); });
  }
  std::exception_ptr control_failure;
  asio::co_spawn(control_context, measure(control, run, results),
                 [&](std::exception_ptr failure) {
                   control_failure = failure;
                   // measure() cancels the signal wait when it ends well; if
                   // it threw, that wait alone would keep run() from returning.
                   control.signals.cancel();
                 });
  control_context.run();
  // Connections that did not finish in time: stopping an io_context
  // abandons its coroutines where they wait; they are destroyed, closing
  // their sockets, with the io_context.
  for (auto& w : workers) {
    w->context.stop();
  }
  threads.clear();  // Joins.
  if (control_failure) {
    std::rethrow_exception(control_failure);
  }
}

int run_benchmark(const bench_options& options) {
  run_state run{options};
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<worker>());
  }
  asio::io_context control_context{1};
  controller control{control_context, run, workers};
  start_connections(run, workers, [&control] { control.end_from_any_thread(early_end::failed); });
  if (!options.json) {
    print_plan(options);
  }

  bench_results results;
  run_threads(control_context, control, run, workers, results);
  if (!run.first_error.empty()) {
    throw std::runtime_error{run.first_error};
  }
  collect_results(run, workers, results);
  //! [status]
  if (options.json) {
    print_json(options, results);
  } else {
    print_report(options, results);
  }
  if (results.stalled > 0) {
    print_stall_error(options, results);
    return 1;
  }
  return 0;
  //! [status]
}

}  // namespace
}  // namespace ch04

/// Parses the command line, runs one benchmark and prints its report.
int main(int argc, char* argv[]) {
  const auto options = ch04::parse_options(argc, argv);
  try {
    return ch04::run_benchmark(options);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
