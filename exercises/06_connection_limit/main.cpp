// Exercise 06: a connection limit with a polite refusal. Read README.md
// first; run the tests with ./scripts/sandbox.sh exercise 06.
//
// It builds and serves every client: the limit is read, then ignored.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

// What a refused client reads, as chapter 09's server words it.
[[maybe_unused]] constexpr std::string_view refusal = "error: server busy; try again later\n";

// The count every connection's coroutine shares. sandbox::run() runs the
// loop on one thread, so the coroutines never run at the same time and a
// plain counter is safe (on a thread pool it would be a data race: see
// exercise 04).
struct connection_count {
  std::size_t active = 0;
  std::size_t limit = 0;
};

// TODO: a way to hold one place while a connection is served, and give it
// back however the connection ends.

asio::awaitable<void> line_echo(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                connection_count& count) {
  // TODO: refuse the client with `refusal` when count.limit clients are
  // already served; otherwise hold a place until this coroutine ends.
  static_cast<void>(count);
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) {
      break;  // End of file.
    }
    writer.write(std::move(line));
    co_await writer.drain();
  }
}

asio::awaitable<void> serve(sandbox::server_options options, connection_count& count) {
  auto server = co_await sandbox::start_server(
      [&count](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return line_echo(std::move(reader), std::move(writer), count);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 06: a line echo server with a connection limit"};
  const auto& options = cli.add_server_options();
  connection_count count{0, 100};
  cli.app()
      .add_option("--max-connections", count.limit, "clients served at once; others are refused")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
      ->capture_default_str();
  cli.parse(argc, argv);
  return sandbox::run([&] { return serve(options, count); });
}
