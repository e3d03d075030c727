/// \file
/// Chapter 04's control side: phases, progress, stalls and the CPU times at
/// the edges of the measured window. Its page is chapters/04_echo_benchmark/README.md.
#include "control.hpp"

#include "sandbox/cpu_time.hpp"
#include "sandbox/options.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace ch04 {

using namespace std::chrono_literals;

controller::controller(asio::io_context& context, const run_state& shared,
                       std::vector<std::unique_ptr<worker>>& all_workers)
    : options{shared.options}, run{shared}, workers{all_workers}, timer{context},
      signals{context, SIGINT, SIGTERM}, on_terminal{isatty(STDERR_FILENO) != 0} {}

void controller::end(early_end why) {
  if (ended == early_end::none) {
    ended = why;
  }
  timer.cancel();
}

void controller::end_from_any_thread(early_end why) {
  asio::post(timer.get_executor(), [this, why] { end(why); });
}

void controller::watch_signals() {
  signals.async_wait([this](std::error_code error, int /*signal*/) {
    if (!error) {
      ++signals_caught;
      end(early_end::interrupted);
      watch_signals();
    }
  });
}

unsigned controller::stalled_connections() const {
  unsigned stalled = 0;
  const auto now = clock_type::now();
  for (const auto& w : workers) {
    for (const auto& connection : w->connections) {
      const auto since = connection.waiting_since.load(std::memory_order_relaxed);
      if (since != connection_state::not_waiting && now - since > run.stall) {
        ++stalled;
      }
    }
  }
  return stalled;
}

std::uint64_t controller::total_replies() const {
  std::uint64_t sum = 0;
  for (const auto& w : workers) {
    sum += w->stats.replies.load(std::memory_order_relaxed);
  }
  return sum;
}

void controller::progress(const char* label, double done, double of, double rate) const {
  if (options.quiet) {
    return;
  }
  std::array<char, 160> line{};
  std::snprintf(line.data(), line.size(), "%s %5.1f/%.1f s %12.0f requests/s", label, done, of,
                rate);
  // On a terminal the line rewrites itself; in a log, one line per update.
  std::cerr << (on_terminal ? "\r" : "") << line.data() << (on_terminal ? "\x1b[K" : "\n")
            << std::flush;
}

namespace {

// How often the controller looks for a request older than --stall: a
// stall shows at most this long after it crossed the threshold.
constexpr auto stall_check_interval = 100ms;

// Waits `seconds`, printing a progress line every second, and ends the
// window as soon as a request has waited longer than --stall: a server
// that is stuck from the start is diagnosed in about --stall seconds, not
// after the whole run. False if the window was ended early.
asio::awaitable<bool> run_phase(controller& control, const char* label, double seconds) {
  const auto start = clock_type::now();
  const auto end = start + sandbox::seconds(seconds);
  auto last_count = control.total_replies();
  auto last_time = start;
  while (control.ended == early_end::none && clock_type::now() < end) {
    control.timer.expires_at(
        std::min({end, last_time + 1s, clock_type::now() + stall_check_interval}));
    [[maybe_unused]] auto [error] = co_await control.timer.async_wait(sandbox::as_tuple_awaitable);
    if (control.stalled_connections() > 0) {
      control.end(early_end::stalled);
    }
    const auto now = clock_type::now();
    if (now - last_time >= 1s || now >= end || control.ended != early_end::none) {
      const auto count = control.total_replies();
      const std::chrono::duration<double> step = now - last_time;
      control.progress(label, std::chrono::duration<double>{now - start}.count(), seconds,
                       step.count() > 0 ? static_cast<double>(count - last_count) / step.count()
                                        : 0);
      last_count = count;
      last_time = now;
    }
  }
  co_return control.ended == early_end::none;
}

//! [control]
// The measured window, after the warm-up: reads the clocks and the CPU
// times (its own, and the server's given --server-pid) at both edges.
asio::awaitable<void> measure_window(controller& control, run_state& run,
                                     bench_results& results) {
  const pid_t server = control.options.server_pid;
  const auto server_before = server != 0 ? sandbox::read_cpu_time(server) : std::nullopt;
  const auto client_before = sandbox::read_own_cpu_time();
  const auto start = clock_type::now();
  run.now = phase::measuring;

  co_await run_phase(control, "measuring", control.options.duration);

  run.now = phase::done;
  results.elapsed = clock_type::now() - start;
  const auto client_after = sandbox::read_own_cpu_time();
  if (client_before && client_after) {
    results.client_cpu = *client_after - *client_before;
  }
  if (server != 0) {
    const auto server_after = sandbox::read_cpu_time(server);
    if (!server_before || !server_after) {
      throw std::runtime_error{"cannot read the CPU time of process " + std::to_string(server) +
                               " from /proc"};
    }
    results.server_cpu = *server_after - *server_before;
  }
}

// Lets each connection collect the echoes it still waits for and close
// cleanly. A connection whose request has waited longer than --stall has
// stalled: waiting on would change nothing but the age reported, so the
// wait ends once every connection still open has stalled. That bounds it
// by --stall (the deadline is only a safety net), and a second Ctrl-C
// ends it at once.
asio::awaitable<void> wait_for_last_echoes(controller& control, const run_state& run) {
  const auto give_up = clock_type::now() + run.stall + 1s;
  const auto signals_before = control.signals_caught;
  while (run.open_connections > control.stalled_connections() &&
         control.signals_caught == signals_before && clock_type::now() < give_up) {
    control.timer.expires_after(10ms);
    [[maybe_unused]] auto [error] = co_await control.timer.async_wait(sandbox::as_tuple_awaitable);
  }
}

}  // namespace

// Warm-up lets connections, caches, the allocator and the CPU's clock
// settle before anything counts. Ctrl-C ends the window early, and so does
// a stall; the report then covers what was measured so far.
asio::awaitable<void> measure(controller& control, run_state& run, bench_results& results) {
  control.watch_signals();
  // Awaited into a name, not inside the `if`: written `if (co_await ...)`,
  // this coroutine (built by GCC 12) read its `control` parameter as
  // uninitialised memory later on (valgrind said so, and it crashed).
  const bool warmed_up = co_await run_phase(control, "warm-up  ", control.options.warmup);
  if (warmed_up) {
    co_await measure_window(control, run, results);
  }
  run.now = phase::done;
  results.interrupted = control.ended == early_end::interrupted;
  results.stopped_by_stall = control.ended == early_end::stalled;
  co_await wait_for_last_echoes(control, run);
  if (control.on_terminal && !control.options.quiet) {
    std::cerr << '\n';
  }
  control.signals.cancel();
}
//! [control]

}  // namespace ch04
