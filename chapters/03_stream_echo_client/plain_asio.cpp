/// \file
/// Chapter 03 without the library: the same stream echo client in plain Asio.
/// Its page is chapters/03_stream_echo_client/README.md ("Without the library").
//
// The same options, console lines and exit statuses as main.cpp (the same
// tests run against both), but written as Asio's own C++20 examples are: one
// coroutine returning awaitable<void>, started by co_spawn. What main.cpp
// gets from sandbox::open_connection, stream_reader::readline and
// sandbox::run is spelled out here: resolve and connect, a string that
// collects what arrives (async_read_until with a dynamic buffer), and the
// loop, its signals and the "error: ..." line. From the library it keeps
// only the option parsing and bytes_repr (Python's way of printing bytes).
//
//   within(timeout, operation):  operation ──┐
//                                           ├─ `||`: the first to finish wins,
//                                timer ──────┘   the other is cancelled
#include "sandbox/bytes_repr.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

namespace {

using asio::ip::tcp;
// Each operation below completes with (error_code, result) instead of
// throwing: a failure is a value the code looks at, as in Asio's examples.
// (Asio 1.22 has as_tuple in asio::experimental; newer Asio: asio::as_tuple.)
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::string_view last_line = "Last line.\n";
// asyncio's stream limit: the longest line the client accepts, '\n' not
// counted (asyncio fails only when the separator is found past the limit).
constexpr std::size_t line_limit = 64 * 1024;

using timeout_t = std::optional<std::chrono::steady_clock::duration>;

//! [within]
// The operation's result, or nothing once `timeout` has passed. `||` runs
// both; when one finishes, the other is cancelled (the timer, or the
// operation, which then ends with operation_aborted) and awaited, so nothing
// is left running behind us. The operations here complete with an error
// code rather than throw, so a failure (a refused connection) counts as
// finishing and ends the race at once: `||` waits for the first *success*,
// and an exception would not. (main.cpp's within() must catch it instead.)
template <typename T>
asio::awaitable<std::optional<T>> within(timeout_t timeout, asio::awaitable<T> operation) {
  std::optional<T> result;
  if (!timeout) {
    result.emplace(co_await std::move(operation));
    co_return result;
  }
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer{co_await asio::this_coro::executor, *timeout};
  auto winner = co_await (std::move(operation) || timer.async_wait(asio::use_awaitable));
  if (winner.index() == 0) {
    result.emplace(std::move(std::get<0>(winner)));
  }
  co_return result;  // Empty when the timer finished first.
}
//! [within]

std::string host_port(const std::string& host, std::uint16_t port) {
  // An IPv6 literal in brackets, so "[::1]:9000" is not read as "::1:9000".
  const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return name + ":" + std::to_string(port);
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);  // Python's f"{seconds:g}".
  return text;
}

//! [connect]
// asyncio.open_connection()'s first half: resolve the name, then try each
// address until one accepts. One coroutine, so that one timeout covers
// both steps, as in main.cpp (a name server that never answers is a
// timeout too). It says which step failed: the error lines differ.
struct connect_result {
  std::error_code error;
  bool resolved = false;  // false: the error is the resolver's.
};

asio::awaitable<connect_result> resolve_and_connect(tcp::socket& socket, std::string host,
                                                    std::uint16_t port) {
  tcp::resolver resolver{co_await asio::this_coro::executor};
  // In Asio 1.22 a resolve cannot be cancelled (getaddrinfo() runs on a
  // thread of Asio's): past the timeout, `||` still waits for it to end.
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), as_tuple_awaitable);
  if (resolve_error) {
    co_return connect_result{resolve_error, false};
  }
  auto [connect_error, endpoint] =
      co_await asio::async_connect(socket, endpoints, as_tuple_awaitable);
  co_return connect_result{connect_error, true};
}
//! [connect]

//! [client]
asio::awaitable<void> simple_echo_client(std::string host, std::uint16_t port,
                                         double timeout_seconds) {
  const timeout_t timeout =
      timeout_seconds > 0 ? timeout_t{sandbox::seconds(timeout_seconds)} : std::nullopt;
  const std::string where = host_port(host, port);
  const std::string too_long = " within " + seconds_text(timeout_seconds) + " s";
  const auto executor = co_await asio::this_coro::executor;

  tcp::socket socket{executor};
  const auto connected = co_await within(timeout, resolve_and_connect(socket, host, port));
  if (!connected) {
    throw std::runtime_error{"cannot connect to " + where + too_long};
  }
  if (connected->error) {
    throw std::system_error{connected->error,
                            (connected->resolved ? "cannot connect to " : "cannot resolve ") + where};
  }
  // TCP_NODELAY, as the library's transport sets it: Nagle's algorithm
  // would otherwise hold a small write until the last one is acknowledged.
  std::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);

  // The four lines in one buffer, one send: what the library's writer does
  // by collecting writes until we next wait. async_write sends it all
  // (async_write_some might send part), and `request` lives on this
  // coroutine's frame until it has.
  const std::string request = "First line.\nSecond line.\nThird line.\n" + std::string{last_line};
  if (auto [write_error, sent] =
          co_await asio::async_write(socket, asio::buffer(request), as_tuple_awaitable);
      write_error) {
    throw std::system_error{write_error, "connection lost"};
  }

  std::cout << "Lines received" << std::endl;
  // What has arrived and is not yet a line: async_read_until reads into it
  // until it holds a '\n' (maybe more: the next lines stay for later).
  std::string received;
  // Once the socket has said end of file, it is not read again: in Asio
  // 1.22 a read that returns nothing (end of file) makes the reactor wait
  // for the socket's next readiness event before reading it again, and an
  // ended stream sends none, so a second read would wait for ever. The
  // library's reader keeps an `eof` flag too, and answers from it.
  bool at_eof = false;
  for (;;) {
    std::string line;
    if (!at_eof) {
      // The buffer's maximum is the limit plus the '\n': a line of exactly
      // line_limit bytes is read, as asyncio reads it. Full without a '\n',
      // the read fails with not_found.
      const auto read = co_await within(
          timeout, asio::async_read_until(socket, asio::dynamic_buffer(received, line_limit + 1),
                                          '\n', as_tuple_awaitable));
      if (!read) {
        throw std::runtime_error{"no line from " + where + too_long};
      }
      const auto [read_error, line_end] = *read;
      if (!read_error) {
        line = received.substr(0, line_end);  // line_end: just past the '\n'.
        received.erase(0, line_end);
      } else if (read_error == asio::error::eof) {
        at_eof = true;
        line = std::exchange(received, {});  // What is left, maybe "", without '\n'.
      } else if (read_error == asio::error::not_found) {
        throw std::runtime_error{"Separator is not found, and chunk exceed the limit"};
      } else {
        throw std::system_error{read_error, "connection lost"};
      }
    }
    std::cout << sandbox::bytes_repr(line) << std::endl;
    if (line == last_line || line.empty()) {
      break;
    }
  }
  // Closing the socket is all writer.close() has left to do: the request
  // was sent before we read.
  socket.close();
}
//! [client]

}  // namespace

//! [main]
/// Parses the command line, then runs the client on an io_context until it
/// ends, fails or a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 03 in plain Asio: the lesson's stream echo client"};
  const auto& options = cli.add_client_options();
  double timeout = 0;  // 0: no timeout, as in the lesson.
  cli.app()
      .add_option("--timeout", timeout,
                  "seconds the connect and each read may take (default: no limit)")
      ->check(sandbox::seconds_between(0.001, 86400));
  cli.parse(argc, argv);

  asio::io_context context;
  // Ctrl-C ends the program with status 0, as sandbox::run's does.
  asio::signal_set signals{context, SIGINT, SIGTERM};
  signals.async_wait([&](std::error_code error, int /*signal*/) {
    if (!error) {
      context.stop();
    }
  });
  int status = 0;
  // co_spawn's completion handler gets the coroutine's exception, if any:
  // the one place where a failure becomes a line and a status.
  asio::co_spawn(context, simple_echo_client(options.host, options.port, timeout),
                 [&](std::exception_ptr failure) {
                   if (failure) {
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& error) {
                       std::cerr << "error: " << error.what() << std::endl;
                     }
                     status = 1;
                   }
                   signals.cancel();  // Nothing else to wait for: run() returns.
                 });
  context.run();
  return status;
}
//! [main]
