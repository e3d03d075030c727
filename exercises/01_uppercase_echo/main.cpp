// Exercise 01: the echo server that uppercases. Read README.md first; run
// the tests with ./scripts/sandbox.sh exercise 01.
//
// This is chapter 02's stream echo server, cut down to what the exercise
// needs. It builds and serves, but echoes bytes unchanged.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

// One coroutine per client, as chapter 02's.
asio::awaitable<void> uppercase_echo(sandbox::stream_reader reader,
                                     sandbox::stream_writer writer) {
  for (;;) {
    std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;  // End of file: returning closes the writer.
    }
    // TODO: turn every lowercase letter a-z of `data` into its uppercase
    // letter, and leave every other byte as it is.
    writer.write(std::move(data));
    co_await writer.drain();
  }
}

asio::awaitable<void> serve(sandbox::server_options options) {
  auto server = co_await sandbox::start_server(uppercase_echo, options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 01: an echo server that uppercases"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);
  return sandbox::run([&] { return serve(options); });
}
