// Exercise 01, solution: the echo server that uppercases.
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <algorithm>
#include <cctype>

namespace {

// One coroutine per client, as chapter 02's.
asio::awaitable<void> uppercase_echo(sandbox::stream_reader reader,
                                     sandbox::stream_writer writer) {
  for (;;) {
    std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;  // End of file: returning closes the writer.
    }
    // Byte by byte, in place: the reply is exactly as long as the request.
    // std::toupper takes an int that must be an unsigned char's value (or
    // EOF): a plain char above 127 is negative, and passing it is undefined
    // behaviour. In the "C" locale, a program's default, bytes above 127
    // come back unchanged: a UTF-8 "é" stays "é".
    std::ranges::transform(data, data.begin(), [](char c) {
      return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    });
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
