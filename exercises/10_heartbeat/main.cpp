// Exercise 10: a heartbeat beside the echo, a coroutine per direction. Read
// README.md first; run the tests with ./scripts/sandbox.sh exercise 10.
//
// It builds and echoes, but never sends a heartbeat.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>  // `||`, for you to use

#include <exception>

namespace {

// Client to server: each line back. Returns, never throws, when the client
// goes (end of file, a reset) or breaks the protocol (an over-long line): `||` ends at the first operation to
// *succeed*, so an echo that threw would leave the heartbeats running.
asio::awaitable<void> echo_lines(sandbox::stream_reader reader, sandbox::stream_writer writer) {
  try {
    for (;;) {
      std::string line = co_await reader.readline();
      if (line.empty()) {
        co_return;  // End of file.
      }
      writer.write(std::move(line));
      co_await writer.drain();
    }
  } catch (const std::exception&) {
    // The connection was lost (std::system_error), or a line passed the
    // reader's limit: nothing more to echo either way.
  }
}

// TODO: a coroutine that writes "heartbeat\n" every `interval`, on a
// timer (asio::steady_timer), until it is cancelled.

asio::awaitable<void> connection(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                 std::chrono::steady_clock::duration interval) {
  // TODO: run the echo and the heartbeats at once, so that the heartbeats
  // stop when the echo ends (the `||` of awaitable_operators).
  static_cast<void>(interval);
  co_await echo_lines(reader, writer);
}

asio::awaitable<void> serve(sandbox::server_options options,
                            std::chrono::steady_clock::duration interval) {
  auto server = co_await sandbox::start_server(
      [interval](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return connection(std::move(reader), std::move(writer), interval);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 10: a line echo server with a heartbeat"};
  const auto& options = cli.add_server_options();
  double interval = 5;
  cli.app()
      .add_option("--interval", interval, "seconds between two heartbeat lines")
      ->check(sandbox::seconds_between(0.01, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);
  return sandbox::run([&] { return serve(options, sandbox::seconds(interval)); });
}
