// Exercise 08, solution: a graceful shutdown that loses no reply.
// The exercise is in ../README.md; compare with your ../main.cpp.
//
//   SIGTERM ──▶ stop listening ──▶ wait until no line is being worked on
//           ──▶ close every connection (each sends what it has first) ──▶ exit 0
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/event.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <csignal>
#include <memory>

namespace {

// What the connections and the shutdown share. One thread runs the loop
// (sandbox::run_and_leave_signals_to_main), so plain fields are safe.
struct shutdown_state {
  bool stopping = false;   // A signal came: finish, but start nothing new.
  std::size_t busy = 0;    // Lines being worked on now.
  std::unique_ptr<sandbox::event> all_done;  // Set when busy drops to 0 while stopping.
};

// Counts a line as busy while it lives, and tells the shutdown when the last
// one finishes. A destructor: it runs however the work ends.
class busy_line {
 public:
  explicit busy_line(shutdown_state& state) : state_{state} { ++state_.busy; }
  busy_line(const busy_line&) = delete;
  busy_line& operator=(const busy_line&) = delete;
  ~busy_line() {
    if (--state_.busy == 0 && state_.stopping) {
      state_.all_done->set();
    }
  }

 private:
  shutdown_state& state_;
};

asio::awaitable<void> slow_reply(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                 std::chrono::steady_clock::duration work_time,
                                 shutdown_state& state) {
  asio::steady_timer work{co_await asio::this_coro::executor};
  while (!state.stopping) {
    std::string line = co_await reader.readline();
    if (line.empty()) {
      break;  // End of file.
    }
    const busy_line working{state};
    // The "work": a real server would compute or ask a database here.
    work.expires_after(work_time);
    co_await work.async_wait(asio::use_awaitable);
    // write() only buffers; close_clients() later sends what is buffered
    // before closing, so the reply is safe once written.
    writer.write("done: " + line);
  }
}

// Waits for SIGINT or SIGTERM, then shuts down without losing a reply.
asio::awaitable<void> shut_down_on_signal(asio::signal_set& signals,
                                          std::shared_ptr<sandbox::server> server,
                                          shutdown_state& state) {
  co_await signals.async_wait(asio::use_awaitable);
  // 1. No new connections: the kernel refuses them from now on.
  server->close();
  // 2. Let the lines in progress finish. A real server would bound this
  //    wait (chapter 09's grace period): work can hang.
  state.stopping = true;
  state.all_done = std::make_unique<sandbox::event>(co_await asio::this_coro::executor);
  if (state.busy > 0) {
    co_await state.all_done->wait();
  }
  // 3. Close every connection: each sends its buffered replies, then FIN.
  //    Connections waiting in readline() end with it.
  server->close_clients();
  co_await server->wait_closed();
  sandbox::println("Stopped: no reply lost");
}

asio::awaitable<void> serve(sandbox::server_options options,
                            std::chrono::steady_clock::duration work_time) {
  // Catch the signals before saying "Serving on": from then on a signal
  // means "shut down gracefully", never "die".
  asio::signal_set signals{co_await asio::this_coro::executor, SIGINT, SIGTERM};
  shutdown_state state;
  auto server = co_await sandbox::start_server(
      [work_time, &state](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return slow_reply(std::move(reader), std::move(writer), work_time, state);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await shut_down_on_signal(signals, server, state);
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
  // Signals are ours to handle (shut_down_on_signal): run() would stop the
  // loop at once, and the replies being worked on would be lost.
  return sandbox::run_and_leave_signals_to_main(
      [&] { return serve(options, sandbox::seconds(work_time)); });
}
