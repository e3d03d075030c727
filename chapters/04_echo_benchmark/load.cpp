/// \file
/// Chapter 04's load side: the connections that send messages and check
/// their echoes, the closed loop and the pipelined one. Its page is
/// chapters/04_echo_benchmark/README.md.
//
// Unlike the chapter servers it uses raw Asio sockets, not sandbox's
// asyncio-like streams: a load generator must be cheaper than what it
// measures.
#include "load.hpp"

#include "sandbox/address.hpp"
#include "sandbox/options.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace ch04 {

run_state::run_state(const bench_options& bench_options)
    : options{bench_options}, stall{sandbox::seconds(bench_options.stall)} {}

void run_state::record(thread_stats& stats, clock_type::duration latency) {
  stats.replies.fetch_add(1, std::memory_order_relaxed);
  if (latency > stall) {  // Late in any phase: a stall is a stall, warm-up or not.
    ++stats.late;
    stats.slowest_late = std::max(stats.slowest_late, latency);
  }
  if (now.load(std::memory_order_relaxed) == phase::measuring) {
    stats.latency.record(latency);
  }
}

namespace {

using sandbox::tcp;

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
asio::awaitable<void> closed_loop(tcp::socket socket, std::string message, run_state& run,
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
                                    pipeline_state& state, const run_state& run) {
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
                                     pipeline_state& state, run_state& run,
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

asio::awaitable<void> pipelined(tcp::socket socket, std::string message, run_state& run,
                                thread_stats& stats, connection_state& in_flight) {
  using namespace asio::experimental::awaitable_operators;
  pipeline_state state{in_flight,
                       asio::steady_timer{socket.get_executor(), clock_type::time_point::max()}};
  // Both run until one fails; `&&` then cancels the other.
  co_await (send_messages(socket, message, state, run) &&
            receive_echoes(socket, message, state, run, stats));
}
//! [pipelined]

// The first failure before the end is the run's: keep its reason, and say
// so once. A connection that fails after the end changes nothing.
void note_failure(run_state& run, std::exception_ptr failure,
                  const std::function<void()>& failed) {
  if (!failure || run.now.load() == phase::done) {
    return;
  }
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
    failed();
  }
}

}  // namespace

//! [connect]
// Connect every client before the clock starts: connection setup is not
// what an echo benchmark measures. (A server that accepts slowly would
// show here, as a slow start.)
void start_connections(run_state& run, std::vector<std::unique_ptr<worker>>& workers,
                       const std::function<void()>& failed) {
  const auto& options = run.options;
  const auto where = sandbox::host_port(options.host, options.port);
  std::error_code resolve_error;
  const auto endpoints = tcp::resolver{workers.front()->context}.resolve(
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
    // Before the end, a connection stops only by failing.
    auto on_end = [&run, failed](std::exception_ptr failure) {
      --run.open_connections;
      note_failure(run, failure, failed);
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
}
//! [connect]

//! [unanswered]
// The requests still in flight are the ones the server never answered:
// each counts with the age it reached. Echoes that came, but later than
// --stall, count too. The percentiles cannot show either (a closed loop
// sends nothing while it waits), so they are counted apart, and the
// maximum includes them.
void collect_results(const run_state& run, const std::vector<std::unique_ptr<worker>>& workers,
                     bench_results& results) {
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
}
//! [unanswered]

}  // namespace ch04
