// Exercise 03: a line client, one request and one reply at a time. Read
// README.md first; run the tests with ./scripts/sandbox.sh exercise 03.
//
// It builds, connects and sends, but reads nothing and closes at once.
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <vector>

namespace {

asio::awaitable<void> line_client(sandbox::client_options options,
                                  std::vector<std::string> messages) {
  // A refused connection throws; sandbox::run prints it as one line and
  // returns 1.
  auto [reader, writer] = co_await sandbox::open_connection(options.host, options.port);
  for (const auto& message : messages) {
    writer.write(message + "\n");
    co_await writer.drain();
    // TODO: read the reply line and print it as "Received: " + the line
    // without its '\n'. A reply cut off by end of file is an error: throw a
    // std::runtime_error that says so (sandbox::run prints it, status 1).
  }
  // TODO: half-close (writer.write_eof()), then read until the server's end
  // of file, close, and print "Done".
  writer.close();
  co_await writer.wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 03: a line client"};
  const auto& options = cli.add_client_options();
  std::vector<std::string> messages;
  cli.app().add_option("--message", messages, "a line to send (repeat for more)")->required();
  cli.parse(argc, argv);
  return sandbox::run([&] { return line_client(options, messages); });
}
