/// \file
/// Chapter 03: the stream echo client: the whole program. Its page is chapters/03_stream_echo_client/README.md.
//
//
// Connects, writes four lines, then reads the echo back line by line. Run
// chapter 02 first, then this.
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <string>
#include <string_view>

namespace {

constexpr std::string_view last_line = "Last line.\n";

//! [client]
asio::awaitable<void> simple_echo_client(std::string host, std::uint16_t port) {
  // reader, writer = await asyncio.open_connection('localhost', 2222)
  // A refused connection throws; sandbox::run prints it as one line.
  auto [reader, writer] = co_await sandbox::open_connection(std::move(host), port);

  // Four writes, buffered and sent together once we next wait.
  writer.write("First line.\n");
  writer.write("Second line.\n");
  writer.write("Third line.\n");
  writer.write(last_line);

  sandbox::println("Lines received");
  for (;;) {
    const std::string line = co_await reader.readline();
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
  cli.parse(argc, argv);

  return sandbox::run([&] { return simple_echo_client(options.host, options.port); });
}
