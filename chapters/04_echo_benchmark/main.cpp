/// \file
/// Chapter 04: the echo load generator: connections, the closed loop and the measured window. Its page is chapters/04_echo_benchmark/README.md.
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
// Unlike the chapter servers it uses raw Asio sockets, not sandbox's
// asyncio-like streams: a load generator must be cheaper than what it
// measures.
#include "report.hpp"

#include "sandbox/address.hpp"
#include "sandbox/asio.hpp"
#include "sandbox/console.hpp"
#include "sandbox/cpu_time.hpp"
#include "sandbox/options.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using sandbox::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

//! [message]
// A message is `size` bytes: letters and digits, then '\n'. The newline is
// how replies are framed: TCP delivers a byte stream, so a reply may arrive
// in pieces, and a server that adds a prefix (chapter 01 answers "echo:" +
// data, once per piece it happened to read) makes replies longer than the
// message. Reading up to '\n' works for every server.
//
// The body leaves out every character of the prefix, so the prefix's first
// character marks where a prefix starts, and the check below can find it
// with a fast memchr instead of comparing at every position.
std::string make_message(std::size_t size, std::size_t connection, std::string_view prefix) {
  std::string alphabet;
  for (const char c : std::string_view{"abcdefghijklmnopqrstuvwxyz0123456789"}) {
    if (prefix.find(c) == std::string_view::npos) {
      alphabet += c;
    }
  }
  std::string message(size, '\n');
  for (std::size_t i = 0; i + 1 < size; ++i) {
    message[i] = alphabet[(i + connection) % alphabet.size()];
  }
  return message;
}

// True if `reply` is `message`, with `prefix` before each piece of it.
bool is_echo_of(std::string_view reply, std::string_view message, std::string_view prefix) {
  if (prefix.empty()) {
    return reply == message;
  }
  while (!reply.empty()) {
    if (!reply.starts_with(prefix)) {
      return false;
    }
    reply.remove_prefix(prefix.size());
    const auto piece = std::min(reply.find(prefix.front()), reply.size());
    if (message.substr(0, piece) != reply.substr(0, piece)) {
      return false;
    }
    message.remove_prefix(piece);
    reply.remove_prefix(piece);
  }
  return message.empty();
}
//! [message]

// The run's phase, shared by every thread: replies are recorded only while
// measuring. Warm-up lets connections, caches, the allocator and the CPU's
// clock settle before anything counts.
enum class phase { warmup, measuring, done };

// What one thread records. Only its own thread writes the histogram and
// the late echoes; the control thread reads them after that thread has
// been joined. `replies` is read while running (for the progress line), so
// it is atomic; relaxed order is enough for a counter nobody synchronises
// on. alignas keeps two threads' counters off one cache line, or they
// would slow each other down.
struct alignas(64) thread_stats {
  sandbox::latency_histogram latency;
  std::atomic<std::uint64_t> replies{0};
  std::uint64_t late = 0;               // Echoes that took longer than --stall, in any phase.
  clock_type::duration slowest_late{0};  // The longest of those waits.
};

//! [in_flight]
// One connection's requests in flight, oldest first: one at most in the
// closed loop, up to --pipeline pipelined. Only the connection's own thread
// changes `sent_at` (main reads it once that thread is joined). The oldest
// send time is also published in `waiting_since`, an atomic, for the
// control thread, which looks for a request older than --stall while the
// run goes on: a closed loop that waits on a stuck server records nothing,
// so the replies alone would never show the stall.
struct connection_state {
  static constexpr auto not_waiting = clock_type::time_point::max();
  std::deque<clock_type::time_point> sent_at;
  std::atomic<clock_type::time_point> waiting_since{not_waiting};
  // One plain store per send and per echo: no lock on the hot path.
  static_assert(std::atomic<clock_type::time_point>::is_always_lock_free);

  void sent(clock_type::time_point at) {
    if (sent_at.empty()) {
      waiting_since.store(at, std::memory_order_relaxed);
    }
    sent_at.push_back(at);
  }

  // The oldest request's echo is in: returns how long it waited.
  clock_type::duration answered(clock_type::time_point at) {
    const auto waited = at - sent_at.front();
    sent_at.pop_front();
    waiting_since.store(sent_at.empty() ? not_waiting : sent_at.front(),
                        std::memory_order_relaxed);
    return waited;
  }
};
//! [in_flight]

struct shared_state {
  explicit shared_state(const ch04::bench_options& bench_options)
      : options{bench_options},
        stall{std::chrono::duration_cast<clock_type::duration>(
            std::chrono::duration<double>{bench_options.stall})} {}

  const ch04::bench_options& options;
  const clock_type::duration stall;  // --stall: a longer wait for an echo is a stall.
  std::atomic<phase> now{phase::warmup};
  std::atomic<unsigned> open_connections{0};
  std::mutex error_mutex;
  std::string first_error;  // Guarded by error_mutex.

  void record(thread_stats& stats, clock_type::duration latency) {
    stats.replies.fetch_add(1, std::memory_order_relaxed);
    if (latency > stall) {  // Late in any phase: a stall is a stall, warm-up or not.
      ++stats.late;
      stats.slowest_late = std::max(stats.slowest_late, latency);
    }
    if (now.load(std::memory_order_relaxed) == phase::measuring) {
      stats.latency.record(latency);
    }
  }
};

//! [not_an_echo]
// A reply that is not the echo is most often the server saying something
// else: "error: server busy" from a server at its connection limit, say.
// So the error quotes it, shortened and with its control bytes escaped, as
// "\x07" (the terminal must not ring or move its cursor for a reply).
std::string quote_reply(std::string_view reply) {
  constexpr std::size_t shown = 60;
  std::string text = "\"";
  for (const char c : reply.substr(0, shown)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      text += '\\';
      text += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      std::array<char, 8> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\x%02x", byte);
      text += escaped.data();
    } else {
      text += c;
    }
  }
  text += reply.size() > shown ? "...\"" : "\"";
  if (reply.size() > shown) {
    text += " (" + std::to_string(reply.size()) + " bytes)";
  }
  return text;
}

// What a reply seems to carry before the echo: the bytes before the
// message's start, if taking them out wherever they occur leaves exactly
// the message. Chapter 01's "echo:" + message, or "echo:" + 64 KiB +
// "echo:" + the rest, both give "echo:"; "error: server busy" gives nothing.
std::optional<std::string> apparent_prefix(std::string_view reply, std::string_view message) {
  const auto start = message.substr(0, std::min<std::size_t>(message.size() - 1, 16));
  const auto at = start.empty() ? std::string_view::npos : reply.find(start);
  if (at == std::string_view::npos || at == 0 || at > 64) {
    return std::nullopt;
  }
  const std::string prefix{reply.substr(0, at)};
  std::string rest;
  for (std::size_t from = 0; from < reply.size();) {
    const auto next = std::min(reply.find(prefix, from), reply.size());
    rest += reply.substr(from, next - from);
    from = next == reply.size() ? next : next + prefix.size();
  }
  return rest == message ? std::optional{prefix} : std::nullopt;
}

// Checks the reply at the front of `received` (its first `length` bytes,
// up to and including '\n') and removes it; what follows may already be the
// start of the next reply.
void consume_echo(std::string& received, std::size_t length, std::string_view message,
                  std::string_view prefix) {
  const auto reply = std::string_view{received}.substr(0, length);
  if (!is_echo_of(reply, message, prefix)) {
    std::string error = "the server answered " + quote_reply(reply.substr(0, length - 1)) +
                        " instead of the echo";
    // Only a reply that is the echo behind a few bytes gets the hint.
    if (const auto seems = apparent_prefix(reply, message)) {
      error += "; it is the echo behind " + quote_reply(*seems) + ": pass that with --prefix";
    }
    throw std::runtime_error{error};
  }
  received.erase(0, length);
}
//! [not_an_echo]

//! [closed_loop]
// Pipeline depth 1, the classic closed loop: one message in flight per
// connection. The next message waits for the whole reply, so the request
// rate is connections / latency: a slower server gets fewer requests.
asio::awaitable<void> closed_loop(tcp::socket socket, std::string message, shared_state& run,
                                  thread_stats& stats, connection_state& in_flight) {
  std::string received;  // Bytes read but not yet consumed: may hold the start of a reply.
  for (;;) {
    in_flight.sent(clock_type::now());
    co_await asio::async_write(socket, asio::buffer(message), asio::use_awaitable);
    const std::size_t length = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(received), '\n', asio::use_awaitable);
    run.record(stats, in_flight.answered(clock_type::now()));
    consume_echo(received, length, message, run.options.prefix);
    if (run.now.load(std::memory_order_relaxed) == phase::done) {
      // Nothing in flight: returning closes the socket with a clean FIN.
      // Closing with an echo still unread would make the kernel reset the
      // connection, and the server would see an error.
      co_return;
    }
  }
}
//! [closed_loop]

//! [pipelined]
// Pipeline depth D: up to D messages in flight per connection, as a client
// that does not wait for one answer before asking again (HTTP/2, Redis
// pipelining). Writing and reading are two coroutines, so a big message can
// be written while echoes come back: with one coroutine doing both, the
// server could block writing to us while we block writing to it.
struct pipeline_state {
  connection_state& in_flight;  // One send time per message in flight.
  asio::steady_timer room;  // Cancelled to wake the writer when a reply frees a slot.
};

asio::awaitable<void> send_messages(tcp::socket& socket, const std::string& message,
                                    pipeline_state& state, const shared_state& run) {
  const unsigned depth = run.options.pipeline;
  for (;;) {
    while (state.in_flight.sent_at.size() >= depth) {
      [[maybe_unused]] auto [woken] = co_await state.room.async_wait(sandbox::as_tuple_awaitable);
    }
    if (run.now.load(std::memory_order_relaxed) == phase::done) {
      co_return;  // The reader collects what is still in flight.
    }
    state.in_flight.sent(clock_type::now());
    co_await asio::async_write(socket, asio::buffer(message), asio::use_awaitable);
  }
}

asio::awaitable<void> receive_echoes(tcp::socket& socket, const std::string& message,
                                     pipeline_state& state, shared_state& run,
                                     thread_stats& stats) {
  std::string received;
  for (;;) {
    const std::size_t length = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(received), '\n', asio::use_awaitable);
    run.record(stats, state.in_flight.answered(clock_type::now()));
    state.room.cancel();  // Wakes the writer if it waits for room.
    consume_echo(received, length, message, run.options.prefix);
    if (run.now.load(std::memory_order_relaxed) == phase::done && state.in_flight.sent_at.empty()) {
      co_return;
    }
  }
}

asio::awaitable<void> pipelined(tcp::socket socket, std::string message, shared_state& run,
                                thread_stats& stats, connection_state& in_flight) {
  using namespace asio::experimental::awaitable_operators;
  pipeline_state state{in_flight,
                       asio::steady_timer{socket.get_executor(), clock_type::time_point::max()}};
  // Both run until one fails; `&&` then cancels the other.
  co_await (send_messages(socket, message, state, run) &&
            receive_echoes(socket, message, state, run, stats));
}
//! [pipelined]

// One io_context per load-generator thread, each with its own connections:
// nothing is shared between threads on the hot path but the phase flag.
struct worker {
  thread_stats stats;
  std::deque<connection_state> connections;  // A deque: adding one never moves the others.
  // Declared last, so destroyed first: the coroutines it abandons at the
  // end refer to the members above.
  asio::io_context context{1};  // Concurrency hint 1: one thread runs it, no locking needed.
};

// Why the window ended before its time, if it did.
enum class early_end { none, interrupted, failed, stalled };

// How often the controller looks for a request older than --stall: a
// stall shows at most this long after it crossed the threshold.
constexpr auto stall_check_interval = 100ms;

// The control side, run by the main thread on its own io_context: the
// timer that paces the phases, and what ends the window early.
struct controller {
  controller(asio::io_context& context, const shared_state& shared,
             std::vector<std::unique_ptr<worker>>& all_workers)
      : options{shared.options}, run{shared}, workers{all_workers}, timer{context},
        signals{context, SIGINT, SIGTERM} {}

  const ch04::bench_options& options;
  const shared_state& run;
  std::vector<std::unique_ptr<worker>>& workers;
  asio::steady_timer timer;
  asio::signal_set signals;
  early_end ended = early_end::none;
  unsigned signals_caught = 0;
  bool on_terminal = isatty(STDERR_FILENO) != 0;

  // On the controller's thread: ends the window (the first reason stays).
  void end(early_end why) {
    if (ended == early_end::none) {
      ended = why;
    }
    timer.cancel();
  }

  // Safe from any thread: the work is posted to the controller's own.
  void end_from_any_thread(early_end why) {
    asio::post(timer.get_executor(), [this, why] { end(why); });
  }

  // Ctrl-C or SIGTERM: the first ends the window, a second one also ends
  // the wait for the last echoes.
  void watch_signals() {
    signals.async_wait([this](std::error_code error, int /*signal*/) {
      if (!error) {
        ++signals_caught;
        end(early_end::interrupted);
        watch_signals();
      }
    });
  }

  // How many connections have waited longer than --stall for an echo, now.
  [[nodiscard]] unsigned stalled_connections() const {
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

  [[nodiscard]] std::uint64_t total_replies() const {
    std::uint64_t sum = 0;
    for (const auto& w : workers) {
      sum += w->stats.replies.load(std::memory_order_relaxed);
    }
    return sum;
  }

  void progress(const char* label, double done, double of, double rate) const {
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
};

// Waits `seconds`, printing a progress line every second, and ends the
// window as soon as a request has waited longer than --stall: a server
// that is stuck from the start is diagnosed in about --stall seconds, not
// after the whole run. False if the window was ended early.
asio::awaitable<bool> run_phase(controller& control, const char* label, double seconds) {
  const auto start = clock_type::now();
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                               std::chrono::duration<double>{seconds});
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
// The measured window: warm up, then measure, reading the clocks and the
// CPU times at both edges of the window. Warm-up lets connections, caches,
// the allocator and the CPU's clock settle before anything counts. Ctrl-C
// ends the window early, and so does a stall; the report then covers what
// was measured so far.
asio::awaitable<void> measure(controller& control, shared_state& run,
                              ch04::bench_results& results) {
  const auto& options = control.options;
  control.watch_signals();

  if (co_await run_phase(control, "warm-up  ", options.warmup)) {
    const pid_t server = options.server_pid;
    const auto server_before = server != 0 ? sandbox::read_cpu_time(server) : std::nullopt;
    const auto client_before = sandbox::read_own_cpu_time();
    const auto start = clock_type::now();
    run.now = phase::measuring;

    co_await run_phase(control, "measuring", options.duration);

    run.now = phase::done;
    results.elapsed = clock_type::now() - start;
    const auto client_after = sandbox::read_own_cpu_time();
    if (client_before && client_after) {
      results.client_cpu = *client_after - *client_before;
    }
    if (server != 0) {
      const auto server_after = sandbox::read_cpu_time(server);
      if (!server_before || !server_after) {
        throw std::runtime_error{"cannot read the CPU time of process " +
                                 std::to_string(server) + " from /proc"};
      }
      results.server_cpu = *server_after - *server_before;
    }
  }
  run.now = phase::done;
  results.interrupted = control.ended == early_end::interrupted;
  results.stopped_by_stall = control.ended == early_end::stalled;
  // Let each connection collect the echoes it still waits for and close
  // cleanly. A connection whose request has waited longer than --stall has
  // stalled: waiting on would change nothing but the age reported, so the
  // wait ends once every connection still open has stalled. That bounds it
  // by --stall (the deadline is only a safety net), and a second Ctrl-C
  // ends it at once.
  const auto give_up = clock_type::now() + run.stall + 1s;
  const auto signals_before = control.signals_caught;
  while (run.open_connections > control.stalled_connections() &&
         control.signals_caught == signals_before && clock_type::now() < give_up) {
    control.timer.expires_after(10ms);
    [[maybe_unused]] auto [error] = co_await control.timer.async_wait(sandbox::as_tuple_awaitable);
  }
  if (control.on_terminal && !options.quiet) {
    std::cerr << '\n';
  }
  control.signals.cancel();
}
//! [control]

ch04::bench_options parse_options(int argc, char* argv[]) {
  //! [options]
  ch04::bench_options options;
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

int run_benchmark(const ch04::bench_options& options) {
  shared_state run{options};
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<worker>());
  }

  //! [connect]
  // Connect every client before the clock starts: connection setup is not
  // what an echo benchmark measures. (A server that accepts slowly would
  // show here, as a slow start.)
  asio::io_context control_context{1};
  controller control{control_context, run, workers};
  const auto where = sandbox::host_port(options.host, options.port);
  std::error_code resolve_error;
  const auto endpoints = tcp::resolver{control_context}.resolve(
      options.host, std::to_string(options.port), resolve_error);
  if (resolve_error) {
    throw std::runtime_error{"cannot resolve " + where + ": " + resolve_error.message()};
  }
  for (unsigned i = 0; i < options.connections; ++i) {
    auto& w = *workers[i % workers.size()];
    tcp::socket socket{w.context};
    std::error_code error;
    asio::connect(socket, endpoints, error);
    if (error) {
      throw std::runtime_error{"cannot connect to " + where + ": " + error.message()};
    }
    // Send each message at once rather than waiting to fill a segment
    // (Nagle's algorithm): this is a latency benchmark.
    socket.set_option(tcp::no_delay{true});
    auto message = make_message(options.size, i, options.prefix);
    auto& in_flight = w.connections.emplace_back();
    ++run.open_connections;
    auto on_end = [&run, &control](std::exception_ptr failure) {
      --run.open_connections;
      // Before the end, a connection stops only by failing: keep the first
      // reason, and end the run.
      if (failure && run.now.load() != phase::done) {
        std::string reason;
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          reason = e.what();
        } catch (...) {
          reason = "a connection failed with an unknown error";
        }
        const std::lock_guard lock{run.error_mutex};
        if (run.first_error.empty()) {
          run.first_error = reason;
          control.end_from_any_thread(early_end::failed);
        }
      }
    };
    if (options.pipeline == 1) {
      asio::co_spawn(w.context,
                     closed_loop(std::move(socket), std::move(message), run, w.stats, in_flight),
                     on_end);
    } else {
      asio::co_spawn(w.context,
                     pipelined(std::move(socket), std::move(message), run, w.stats, in_flight),
                     on_end);
    }
  }
  //! [connect]

  if (!options.json) {
    sandbox::println("Benchmarking ", sandbox::host_port(options.host, options.port), ": ",
                     options.connections, options.connections == 1 ? " connection" : " connections",
                     " x ", options.size, "-byte messages, pipeline ", options.pipeline, ", ",
                     options.threads, options.threads == 1 ? " thread" : " threads", ", ",
                     options.warmup, " s warm-up, ", options.duration, " s measured");
  }

  std::vector<std::jthread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&context = w->context] { context.run(); });
  }
  ch04::bench_results results;
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
  if (!run.first_error.empty()) {
    throw std::runtime_error{run.first_error};
  }
  //! [unanswered]
  // The requests still in flight are the ones the server never answered:
  // each counts with the age it reached. Echoes that came, but later than
  // --stall, count too. The percentiles cannot show either (a closed loop
  // sends nothing while it waits), so they are counted apart, and the
  // maximum includes them.
  const auto now = clock_type::now();
  for (const auto& w : workers) {
    results.latency.merge(w->stats.latency);
    results.stalled += w->stats.late;
    results.longest_wait = std::max(results.longest_wait, w->stats.slowest_late);
    for (const auto& connection : w->connections) {
      for (const auto sent_at : connection.sent_at) {
        const auto waited = now - sent_at;
        ++results.unanswered;
        results.oldest_unanswered = std::max(results.oldest_unanswered, waited);
        if (waited > run.stall) {
          ++results.stalled;
        }
      }
    }
  }
  results.longest_wait = std::max(results.longest_wait, results.oldest_unanswered);
  if (options.json) {
    ch04::print_json(options, results);
  } else {
    ch04::print_report(options, results);
  }
  if (results.stalled > 0) {
    ch04::print_stall_error(options, results);
    return 1;
  }
  return 0;
  //! [unanswered]
}

}  // namespace

/// Parses the command line, runs one benchmark and prints its report.
int main(int argc, char* argv[]) {
  const auto options = parse_options(argc, argv);
  try {
    return run_benchmark(options);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
