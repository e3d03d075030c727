/// \file
/// Chapter 03: the stream echo client: the whole program. Its page is chapters/03_stream_echo_client/README.md.
//
//
// Connects, writes four lines, then reads the echo back line by line. Run
// chapter 02 first, then this. With --timeout SECONDS, the connect and each
// read may take that long before the client gives up with one line and
// status 1; without it, the client waits as long as the lesson's does.
// within() (sandbox/within.hpp) is asyncio.wait_for(): the operation raced
// against a timer with `||`; chapter 12 shows how it is built.
#include "sandbox/address.hpp"
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"
#include "sandbox/within.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace {

constexpr std::string_view last_line = "Last line.\n";

// How long the connect and each read may take; none by default. within()
// (common/include/sandbox/within.hpp) races each against a timer.
using timeout_t = sandbox::optional_timeout;
using sandbox::within;

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
