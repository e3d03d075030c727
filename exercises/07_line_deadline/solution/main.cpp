// Exercise 07, solution: a deadline for every line.
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"
#include "sandbox/within.hpp"

namespace {

// What a client that ran out of time reads before the server closes.
constexpr std::string_view timed_out = "error: line timeout\n";

asio::awaitable<void> line_echo(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                std::chrono::steady_clock::duration line_timeout) {
  for (;;) {
    // The clock starts anew for each line: a client that sends a line
    // every second is served forever with a timeout of 2 s, however long
    // it stays. within() races readline() against a timer with `||`; the
    // loser is cancelled, so no timer is left behind and no read goes on
    // after we have given up (chapter 12 shows how).
    auto line = co_await sandbox::within(line_timeout, reader.readline());
    if (!line) {
      // The bytes of an unfinished line stay unread: we close anyway.
      writer.write(timed_out);
      co_return;  // Returning closes the writer once the line is sent.
    }
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
