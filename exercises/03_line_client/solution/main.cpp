// Exercise 03, solution: a line client, one request and one reply at a time.
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <stdexcept>
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
    // One line back, however many pieces TCP cuts it into: readline()
    // waits for the '\n'. At end of file it returns what it had, maybe
    // nothing: a line without its '\n' is a server that hung up on us.
    std::string reply = co_await reader.readline();
    if (reply.empty() || reply.back() != '\n') {
      throw std::runtime_error{"the server closed the connection before replying to " +
                               sandbox::bytes_repr(message)};
    }
    reply.pop_back();
    sandbox::println("Received: ", reply);
  }
  // Half-close: "I have nothing more to say". The server reads end of file,
  // finishes what it was sending, and closes its side; we read until then,
  // so no reply of its is cut off by our closing first.
  writer.write_eof();
  while (!(co_await reader.read(8192)).empty()) {
  }
  writer.close();
  co_await writer.wait_closed();
  sandbox::println("Done");
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
