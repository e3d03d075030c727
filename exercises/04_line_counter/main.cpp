// Exercise 04: a line counter on a pool of threads, without a data race.
// Read README.md first; run the tests with ./scripts/sandbox.sh exercise 04.
//
// It builds and counts, but its counter is a data race, and it prints no
// total at exit.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

// What every connection shares: the lines counted so far, server-wide.
// TODO: several threads run the loop (sandbox::run_on_threads): is a plain
// integer safe here?
struct line_count {
  std::size_t lines = 0;
};

asio::awaitable<void> count_lines(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                  line_count& count) {
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty()) {
      break;  // End of file.
    }
    // TODO: the number must be this line's own, even when two clients'
    // lines are counted at the same moment on two threads.
    ++count.lines;
    const std::size_t number = count.lines;
    writer.write(std::to_string(number) + "\n");
    co_await writer.drain();
  }
}

asio::awaitable<void> serve(sandbox::server_options options, line_count& count) {
  auto server = co_await sandbox::start_server(
      [&count](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return count_lines(std::move(reader), std::move(writer), count);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 04: a line counter on a pool of threads"};
  const auto& options = cli.add_server_options();
  const auto& threads = cli.add_threads_option();
  cli.parse(argc, argv);

  line_count count;
  return sandbox::run_on_threads(
      threads, [&] { return serve(options, count); },
      // TODO: after a clean stop (status 0), print "Lines counted: N".
      [&](int status) {
        static_cast<void>(status);
      });
}
