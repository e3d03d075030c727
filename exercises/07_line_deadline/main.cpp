// Exercise 07: a deadline for every line. Read README.md first; run the
// tests with ./scripts/sandbox.sh exercise 07.
//
// It builds and echoes lines, but waits for each one forever.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"
#include "sandbox/within.hpp"

namespace {

// What a client that ran out of time reads before the server closes.
[[maybe_unused]] constexpr std::string_view timed_out = "error: line timeout\n";

asio::awaitable<void> line_echo(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                std::chrono::steady_clock::duration line_timeout) {
  for (;;) {
    // TODO: give the client line_timeout to send this line. If the time
    // runs out first, send `timed_out` and close. (sandbox::within(), in
    // sandbox/within.hpp, returns an std::optional: empty on timeout.)
    static_cast<void>(line_timeout);
    std::optional<std::string> line = co_await reader.readline();
    if (line->empty()) {
      break;  // End of file.
    }
    writer.write(std::move(*line));
    co_await writer.drain();
  }
}

asio::awaitable<void> serve(sandbox::server_options options,
                            std::chrono::steady_clock::duration line_timeout) {
  auto server = co_await sandbox::start_server(
      [line_timeout](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return line_echo(std::move(reader), std::move(writer), line_timeout);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 07: a line echo server with a deadline per line"};
  const auto& options = cli.add_server_options();
  double line_timeout = 30;
  cli.app()
      .add_option("--line-timeout", line_timeout, "seconds a client has to send each line")
      ->check(sandbox::seconds_between(0.01, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);
  return sandbox::run([&] { return serve(options, sandbox::seconds(line_timeout)); });
}
