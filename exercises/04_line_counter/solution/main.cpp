// Exercise 04, solution: a line counter on a pool of threads, without a data race.
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <atomic>

namespace {

// What every connection shares: the lines counted so far, server-wide.
// Several threads run the loop (sandbox::run_on_threads), and a strand
// keeps one connection's handlers apart, not two connections': two clients'
// lines are counted on two threads at the same moment. A plain integer
// would be a data race (undefined behaviour, lost counts); an atomic makes
// each increment indivisible.
struct line_count {
  std::atomic<std::size_t> lines{0};
};

asio::awaitable<void> count_lines(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                  line_count& count) {
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty()) {
      break;  // End of file.
    }
    // One read-modify-write: fetch_add returns the value before ours, so
    // no two lines get the same number. Incrementing, then reading the
    // atomic again would be two steps, and another thread's line could
    // come between them. Relaxed: the number orders nothing else.
    const std::size_t number = count.lines.fetch_add(1, std::memory_order_relaxed) + 1;
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
      // Every pool thread has been joined: nothing counts any more.
      [&](int status) {
        if (status == 0) {
          sandbox::println("Lines counted: ", count.lines.load());
        }
      });
}
