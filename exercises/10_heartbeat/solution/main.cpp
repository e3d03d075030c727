// Exercise 10, solution: a heartbeat beside the echo, a coroutine per direction.
// The exercise is in ../README.md; compare with your ../main.cpp.
//
//   connection ── echo_lines()  ││  heartbeats() ──▶ the first to finish ends both
//                  (reads, echoes)    (a timer, writes)
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>

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

// Server to client, on its own: a line every `interval`, whatever the client
// does. Never returns; it ends when `||` cancels its timer, whose wait then
// throws operation_aborted.
asio::awaitable<void> heartbeats(sandbox::stream_writer writer,
                                 std::chrono::steady_clock::duration interval) {
  asio::steady_timer timer{co_await asio::this_coro::executor};
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(asio::use_awaitable);
    // Both coroutines write to one writer. They never run at the same time
    // (one connection's coroutines share its executor), and each write()
    // appends a whole line, so lines never interleave.
    writer.write("heartbeat\n");
  }
}

asio::awaitable<void> connection(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                 std::chrono::steady_clock::duration interval) {
  using namespace asio::experimental::awaitable_operators;
  // Both run at once; when the echo ends, the heartbeats are cancelled and
  // awaited, so nothing writes to the connection after this returns (and
  // start_server() closes it).
  co_await (echo_lines(reader, writer) || heartbeats(writer, interval));
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
