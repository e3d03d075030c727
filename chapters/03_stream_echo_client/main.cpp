/// \file
/// Chapter 03: the stream echo client: the whole program. Its page is chapters/03_stream_echo_client/README.md.
//
//
// Connects, writes four lines, then reads the echo back line by line. Run
// chapter 02 first, then this. With --timeout SECONDS, the connect and each
// read may take that long before the client gives up with one line and
// status 1; without it, the client waits as long as the lesson's does.
//
//   within(timeout, operation):  operation ──┐
//                                           ├─ `||`: the first to finish wins,
//                                timer ──────┘   the other is cancelled
#include "sandbox/address.hpp"
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace {

constexpr std::string_view last_line = "Last line.\n";

/// How long the connect and each read may take; none by default.
using timeout_t = std::optional<std::chrono::steady_clock::duration>;

//! [within]
// asyncio.wait_for(operation, timeout): the operation's result, or nothing
// once `timeout` has passed. `||` (awaitable_operators) runs both at once;
// when one finishes, the other is cancelled (the timer, or the read whose
// wait then ends with operation_aborted) and awaited, so nothing is left
// running behind us. Asio 1.22 has no cancel_after() to do this for us.
//
// One trap: `||` waits for the first *success*. An operation that throws
// (a refused connection) does not end the race, the timer would still win
// and the refusal would be reported as a timeout. So the operation's
// exception is caught inside the race and thrown again once it is over.
template <typename T>
asio::awaitable<std::optional<T>> within(timeout_t timeout, asio::awaitable<T> operation) {
  std::optional<T> result;
  if (!timeout) {
    result.emplace(co_await std::move(operation));
    co_return result;
  }
  // The operation's result or its exception, as a value. (A struct, not a
  // std::variant: `||` flattens a variant operand into its own result.)
  struct outcome {
    std::optional<T> result;
    std::exception_ptr failure;
  };
  // (Filled in steps on purpose. A first draft wrote
  // `co_return outcome{co_await op, nullptr};` and `co_return
  // std::move(finished.result);`, and GCC 12 built code from it that
  // destroyed the string read twice: a test caught the crash.)
  auto caught = [](asio::awaitable<T> op) -> asio::awaitable<outcome> {
    outcome done;
    try {
      done.result.emplace(co_await std::move(op));
    } catch (...) {
      done.failure = std::current_exception();
    }
    co_return done;
  };
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer{co_await asio::this_coro::executor, *timeout};
  auto winner = co_await (caught(std::move(operation)) || timer.async_wait(asio::use_awaitable));
  if (winner.index() == 1) {
    co_return std::nullopt;  // The timer finished first.
  }
  outcome& finished = std::get<0>(winner);
  if (finished.failure) {
    std::rethrow_exception(finished.failure);
  }
  result = std::move(finished.result);
  co_return result;
}
//! [within]

// "0.5", as Python's f"{0.5:g}" writes it, so both consoles say the same.
std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

//! [client]
asio::awaitable<void> simple_echo_client(std::string host, std::uint16_t port, double timeout_seconds) {
  const timeout_t timeout =
      timeout_seconds > 0 ? timeout_t{sandbox::seconds(timeout_seconds)} : std::nullopt;
  const std::string where = sandbox::host_port(host, port);
  const std::string too_long = " within " + seconds_text(timeout_seconds) + " s";

  // reader, writer = await asyncio.open_connection('localhost', 2222)
  // A refused connection throws; sandbox::run prints it as one line.
  auto connection = co_await within(timeout, sandbox::open_connection(std::move(host), port));
  if (!connection) {
    throw std::runtime_error{"cannot connect to " + where + too_long};
  }
  auto [reader, writer] = std::move(*connection);

  // Four writes, buffered and sent together once we next wait.
  writer.write("First line.\n");
  writer.write("Second line.\n");
  writer.write("Third line.\n");
  writer.write(last_line);

  sandbox::println("Lines received");
  for (;;) {
    const std::optional<std::string> read = co_await within(timeout, reader.readline());
    if (!read) {
      // The server is silent. Drop the connection now: sandbox::run's loop
      // ends only once no socket is waiting any more.
      writer.get_transport().abort();
      throw std::runtime_error{"no line from " + where + too_long};
    }
    const std::string& line = *read;
    sandbox::println(sandbox::bytes_repr(line));
    // The echo of our last line, or end of file if the server hung up early.
    if (line == last_line || line.empty()) {
      break;
    }
  }
  writer.close();
  co_await writer.wait_closed();
}
//! [client]

}  // namespace

/// Parses the command line, then runs the chapter until it ends or a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 03: the asyncio lesson's stream echo client"};
  const auto& options = cli.add_client_options();
  double timeout = 0;  // 0: no timeout, as in the lesson.
  cli.app()
      .add_option("--timeout", timeout,
                  "seconds the connect and each read may take (default: no limit)")
      ->check(sandbox::seconds_between(0.001, 86400));
  cli.parse(argc, argv);

  return sandbox::run([&] { return simple_echo_client(options.host, options.port, timeout); });
}
