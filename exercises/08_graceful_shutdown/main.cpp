// Exercise 08: a graceful shutdown that loses no reply. Read README.md
// first; run the tests with ./scripts/sandbox.sh exercise 08.
//
// It builds and replies, but a signal stops it at once, replies or not.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"


namespace {

// TODO: what the connections and the shutdown must share: whether we are
// stopping, and how many lines are being worked on.
struct shutdown_state {};

asio::awaitable<void> slow_reply(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                 std::chrono::steady_clock::duration work_time,
                                 shutdown_state& state) {
  asio::steady_timer work{co_await asio::this_coro::executor};
  static_cast<void>(state);  // TODO: stop taking lines once stopping.
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) {
      break;  // End of file.
    }
    // TODO: count this line as busy until its reply is written.
    // The "work": a real server would compute or ask a database here.
    work.expires_after(work_time);
    co_await work.async_wait(asio::use_awaitable);
    // write() only buffers; close_clients() later sends what is buffered
    // before closing, so the reply is safe once written.
    writer.write("done: " + line);
  }
}

// TODO: a coroutine that waits for SIGINT or SIGTERM (an asio::signal_set),
// then stops listening (server->close()), waits until no line is busy, then
// closes every connection (server->close_clients()) and waits for them
// (server->wait_closed()).

asio::awaitable<void> serve(sandbox::server_options options,
                            std::chrono::steady_clock::duration work_time) {
  shutdown_state state;
  auto server = co_await sandbox::start_server(
      [work_time, &state](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return slow_reply(std::move(reader), std::move(writer), work_time, state);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 08: a slow line server that shuts down gracefully"};
  const auto& options = cli.add_server_options();
  double work_time = 0.5;
  cli.app()
      .add_option("--work-time", work_time, "seconds of work before each reply")
      ->check(sandbox::seconds_between(0, 60))
      ->capture_default_str();
  cli.parse(argc, argv);
  // TODO: sandbox::run() stops the loop at once on a signal. Which run
  // leaves the signals to you? (sandbox/run.hpp)
  return sandbox::run(
      [&] { return serve(options, sandbox::seconds(work_time)); });
}
