/// \file
/// Chapter 09: the robust server. Its page is chapters/09_robust_server/README.md.
//
//
// A line echo server (each line back unchanged) that no client can hurt:
//
//   --idle-timeout  a client has this long to send each line (and to take
//                   its echo); past it the connection is closed. Idle,
//                   one-byte-a-second and never-reading clients all end here.
//   --max-line      a longer line gets a one-line error and the connection
//                   is closed; the reader buffers no more than about twice
//                   that before it stops reading.
//   --max-connections  connection N+1 is refused with a line of its own;
//                   the slot is reused once a connection ends.
//   SIGINT/SIGTERM  a graceful shutdown: take the connections already made
//                   (even those not yet accepted), stop listening, let them
//                   finish for up to --grace seconds, then close them, and
//                   exit with status 0.
//
// One thread runs the loop (sandbox::run_and_leave_signals_to_main), so the
// counters below need no locks; chapter 05 shows what changes with threads.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/goodbye.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

namespace {

using namespace std::chrono_literals;

struct robust_options {
  double idle_timeout = 30;  // seconds
  std::size_t max_line = sandbox::default_stream_limit;                   // 64 KiB, as asyncio
  std::size_t max_connections = sandbox::server::default_max_connections;  // 512
  double grace = 10;  // seconds
};

// What the server did, printed when it exits.
struct tally {
  std::size_t connections = 0;
  std::size_t lines = 0;
  std::size_t idle = 0;
  std::size_t too_long = 0;
  bool grace_over = false;  // The connections still open are being closed.
};

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

//! [deadline]
// One timer per connection, re-armed for each line: if it expires, `action`
// runs. Re-arming cancels the previous wait, whose action then never runs;
// so does destroying the deadline when the connection's coroutine ends.
// Unless the wait had already expired, its handler queued, in the very pass
// that read the line: then the old action still runs (chapter 12's `race`
// demo shows it, and two guards; here the client has its echo, then is
// closed as idle, which at that instant can be defended).
class deadline {
 public:
  explicit deadline(const asio::any_io_executor& executor) : timer_{executor} {}

  void expire_after(std::chrono::steady_clock::duration timeout, std::function<void()> action) {
    timer_.expires_after(timeout);
    timer_.async_wait([action = std::move(action)](std::error_code error) {
      if (!error) {
        action();
      }
    });
  }

  // The pending action will not run.
  void cancel() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};
//! [deadline]

//! [goodbye]
// Ends a connection with a line that says why, without losing that line:
// sandbox::say_goodbye() (common/src/goodbye.cpp) writes it, half-closes,
// and aborts the connection if the client has not closed a second later;
// the server's refusal says goodbye the same way. Meanwhile the loop goes on
// reading and drops what the client still sends (`ending::leaving`), and
// its idle deadline is off: the goodbye has a deadline of its own.
void say_goodbye(sandbox::stream_writer& writer, deadline& idle, const std::string& line) {
  idle.cancel();
  sandbox::say_goodbye(writer.get_transport(), line);
}
//! [goodbye]

// How a connection ended, for its last console line and the counters.
struct ending {
  enum { end_of_file, idle, too_long, lost } why = end_of_file;
  bool leaving = false;  // A goodbye is under way: drop what still arrives.
  std::string error;     // For `lost`: a reset, say.
};

//! [idle]
// The idle timeout's action. A client that is merely silent gets a goodbye
// it can read. A client whose echoes are still waiting in our write buffer
// is not reading either: a goodbye would never reach it, and a polite close
// would wait forever to send what is buffered, so the connection is aborted.
void close_idle(sandbox::stream_writer writer, deadline& linger, ending& end, double timeout) {
  end.why = ending::idle;
  end.leaving = true;
  auto& transport = writer.get_transport();
  if (transport.get_write_buffer_size() == 0) {
    say_goodbye(writer, linger, "error: no line for " + seconds_text(timeout) + "; closing\n");
  } else {
    transport.abort();
  }
}
//! [idle]

// What reading the next line gave: a line (empty at end of file), a line
// over --max-line, or an error (a reset, say).
struct next_line {
  enum { line, too_long, error } what = line;
  std::string text;  // The line, or the error's message.
};

// readline(), with its two expected failures turned into values: the loop
// that calls it must co_await what it does about them, and no co_await is
// allowed inside a catch block.
asio::awaitable<next_line> read_next_line(sandbox::stream_reader& reader) {
  try {
    std::string text = co_await reader.readline();
    co_return next_line{next_line::line, std::move(text)};
  } catch (const sandbox::limit_overrun_error&) {
    // readline() dropped the line's first part; the loop drops the rest.
    co_return next_line{next_line::too_long, {}};
  } catch (const std::system_error& error) {
    co_return next_line{next_line::error, error.code().message()};
  }
}

// Echoes one line, then waits while the client lags behind (flow control).
// False if the connection was lost meanwhile, noted in `end`.
asio::awaitable<bool> echo_line(sandbox::stream_writer& writer, const std::string& line,
                                ending& end) {
  writer.write(line);
  try {
    co_await writer.drain();
  } catch (const std::system_error& error) {
    end = {ending::lost, true, error.code().message()};
    co_return false;
  }
  co_return true;
}

//! [ending]
// The connection's last console line, counted into the server's tally.
std::string count_ending(const ending& end, std::size_t lines, const robust_options& options,
                         tally& counts) {
  counts.lines += lines;
  switch (end.why) {
    case ending::too_long:
      ++counts.too_long;
      return "closed: a line longer than " + std::to_string(options.max_line) + " bytes";
    case ending::idle:
      ++counts.idle;
      return "closed: no line for " + seconds_text(options.idle_timeout);
    case ending::lost:
      return "lost (" + end.error + ") after " + std::to_string(lines) + " line(s)";
    case ending::end_of_file:
      break;
  }
  return (counts.grace_over ? "closed at the end of the grace period, after " : "closed after ") +
         std::to_string(lines) + " line(s)";
}

// Close, and wait until the connection is gone: from then on its slot is
// free, so a console line saying "closed" is true for the connection limit
// too. The deadline still holds: a client that never reads its last echo
// cannot keep the close waiting.
asio::awaitable<void> close_and_wait(sandbox::stream_writer writer, deadline& timer,
                                     double idle_timeout) {
  timer.expire_after(sandbox::seconds(idle_timeout),
                     [writer]() mutable { writer.get_transport().abort(); });
  writer.close();
  try {
    co_await writer.wait_closed();
  } catch (const std::system_error&) {
    // It ended with an error (a reset): gone all the same.
  }
}
//! [ending]

//! [handler]
asio::awaitable<void> echo_lines(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                 robust_options options, std::shared_ptr<tally> counts,
                                 bool quiet) {
  const std::size_t number = ++counts->connections;
  const auto say = [quiet, number](const std::string& what) {
    if (!quiet) {
      sandbox::println("connection ", number, ": ", what);
    }
  };
  say("opened, from " + sandbox::to_string(writer.get_peername()));

  // The deadline and the ending live in this coroutine's frame, which
  // outlives every timer action (the deadline's destructor cancels them).
  deadline timer{co_await asio::this_coro::executor};
  ending end;
  std::size_t lines = 0;
  for (;;) {
    if (!end.leaving) {
      // The client has idle_timeout to send a whole line, whether it sends
      // nothing or one byte a second, and to take the previous echo.
      timer.expire_after(sandbox::seconds(options.idle_timeout),
                         [writer, timer = &timer, end = &end, timeout = options.idle_timeout] {
                           close_idle(writer, *timer, *end, timeout);
                         });
    }
    const next_line got = co_await read_next_line(reader);
    if (got.what == next_line::too_long) {
      if (!end.leaving) {
        end = {ending::too_long, true, {}};
        say_goodbye(writer, timer,
                    "error: line longer than " + std::to_string(options.max_line) +
                        " bytes; closing\n");
      }
      continue;
    }
    if (got.what == next_line::error) {
      if (!end.leaving) {
        end = {ending::lost, true, got.text};
      }
      break;
    }
    if (got.text.empty()) {
      break;  // End of file (or the goodbye's deadline aborted it).
    }
    if (end.leaving) {
      continue;  // Saying goodbye: what the client still sends is dropped.
    }
    if (!co_await echo_line(writer, got.text, end)) {
      break;
    }
    ++lines;
  }
  const std::string how = count_ending(end, lines, options, *counts);
  co_await close_and_wait(writer, timer, options.idle_timeout);
  say(how);
}
//! [handler]

//! [shutdown]
// Waits for SIGINT or SIGTERM, then shuts down gracefully: no new
// connections (those the kernel had already completed are accepted first),
// the open ones served until they end or the grace period does; then they
// are closed (and, a second later, aborted if they still are not gone: a
// client that never reads cannot hold us up).
asio::awaitable<void> shut_down_on_signal(asio::signal_set& signals,
                                          std::shared_ptr<sandbox::server> server, double grace,
                                          std::shared_ptr<tally> counts) {
  const int signal = co_await signals.async_wait(asio::use_awaitable);
  // Take the connections waiting in the accept queue, then stop listening:
  // from then on the kernel refuses new clients.
  server->close();
  sandbox::println("Shutting down (", signal == SIGINT ? "SIGINT" : "SIGTERM",
                   "): no new connections; ", server->active_connections(),
                   " still open get up to ", seconds_text(grace), " to finish");

  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer grace_period{executor, sandbox::seconds(grace)};
  asio::steady_timer stragglers{executor};
  auto close_the_rest = [server, counts, stragglers = &stragglers](const char* why) {
    if (std::exchange(counts->grace_over, true)) {
      return;  // Already closing (the grace period ended, then a signal came).
    }
    if (server->active_connections() > 0) {
      sandbox::println(why, ": closing ", server->active_connections(), " connection(s)");
    }
    server->close_clients();
    stragglers->expires_after(1s);
    stragglers->async_wait([server](std::error_code error) {
      if (!error) {
        server->abort_clients();
      }
    });
  };
  // The grace period ends early on a second signal: the operator insists.
  grace_period.async_wait([close_the_rest](std::error_code error) {
    if (!error) {
      close_the_rest("Grace period over");
    }
  });
  signals.async_wait([close_the_rest](std::error_code error, int) {
    if (!error) {
      close_the_rest("Second signal");
    }
  });
  co_await server->wait_closed();
  // Pending timers would keep the loop, and so the process, alive.
  grace_period.cancel();
  stragglers.cancel();
  signals.cancel();
}
//! [shutdown]

asio::awaitable<void> serve(sandbox::server_options where, robust_options options) {
  // Catch the signals before saying "Serving on": from then on a signal
  // means "shut down gracefully", never "die".
  asio::signal_set signals{co_await asio::this_coro::executor, SIGINT, SIGTERM};
  auto counts = std::make_shared<tally>();

  //! [serve]
  // A named handler, not a lambda written inside the co_await (GCC 12).
  sandbox::client_connected_callback handler =
      [options, counts, quiet = where.quiet](sandbox::stream_reader reader,
                                             sandbox::stream_writer writer) {
        return echo_lines(std::move(reader), std::move(writer), options, counts, quiet);
      };
  // The reader's limit is the line limit: readline() throws past it.
  auto server =
      co_await sandbox::start_server(std::move(handler), where.host, where.port, options.max_line);
  // The limit comes back lower (with a warning) if the process may not open
  // that many files: see "Running out of descriptors" on the page.
  const std::size_t max_connections = server->set_max_connections(options.max_connections);
  server->set_refusal("error: server busy (" + std::to_string(max_connections) +
                      " connections); try again later\n");
  //! [serve]
  sandbox::println("Serving on ", sandbox::host_port(where.host, server->port()));
  sandbox::println("Limits: idle timeout ", seconds_text(options.idle_timeout), ", lines up to ",
                   options.max_line, " bytes, ", max_connections,
                   " connections at once, grace period ", seconds_text(options.grace));

  co_await shut_down_on_signal(signals, server, options.grace, counts);
  sandbox::println("Served ", counts->connections, " connection(s), echoed ", counts->lines,
                   " line(s); closed ", counts->idle, " idle, ", counts->too_long,
                   " for an over-long line; refused ", server->refused_connections());
}

}  // namespace

/// Parses the command line, then serves until a signal asks for a graceful shutdown.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 09: a line echo server that no client can hurt"};
  const auto& where = cli.add_server_options();
  robust_options options;
  cli.app()
      .add_option("--idle-timeout", options.idle_timeout,
                  "Close a connection that sends no whole line for this many seconds")
      ->check(sandbox::seconds_between(0.001, 86400))
      ->capture_default_str();
  cli.app()
      .add_option("--max-line", options.max_line,
                  "Longest line accepted, in bytes, without its newline")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  cli.app()
      .add_option("--max-connections", options.max_connections,
                  "Connections served at once; more are refused with a message")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  cli.app()
      .add_option("--grace", options.grace,
                  "On SIGINT or SIGTERM, seconds the open connections get to finish")
      ->check(sandbox::seconds_between(0, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);

  return sandbox::run_and_leave_signals_to_main([&] { return serve(where, options); });
}
