/// \file
/// Chapter 05: the thread pool server. Its page is chapters/05_thread_pool_server/README.md.
//
//
// Chapter 02's echo, served by a pool of threads: one io_context (one event
// loop, one queue of ready handlers) and N threads calling its run(). Any
// thread takes the next ready handler, so a connection's coroutine may wake
// on thread 1, then on thread 2, then on thread 1 again. Each connection
// lives on its own strand, so its handlers never run at the same time.
//
//      accept ──► strand A: handler, handler, handler ──┐
//             ──► strand B: handler, handler ───────────┼──► one queue ──► thread 1
//             ──► strand C: handler ────────────────────┘                ──► thread 2
//
// The handler and the counters are in chapters/shared/threaded_echo
// (chapter 06 uses them too). Run it, then: nc localhost 2222 (from two
// terminals), or chapter 04's benchmark.
#include "threaded_echo/echo_handler.hpp"

#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

//! [serve]
asio::awaitable<void> serve(sandbox::server_options options, std::size_t threads,
                            threaded_echo::echo_service& echo) {
  // The same start_server() as chapter 02. The difference is the loop it
  // runs on: several threads run it, so the server gives every accepted
  // connection a strand of its own (server::connection_executor()).
  auto server = co_await sandbox::start_server(echo.handler(), options.host, options.port);
  co_await echo.serve_until_closed(std::move(server), options.host, threads);
}
//! [serve]

}  // namespace

//! [main]
/// Parses the command line, runs the server on a pool of threads until a
/// signal stops it, then prints the counters.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 05: the stream echo server on a pool of threads"};
  const auto& options = cli.add_server_options();
  const auto& threads = cli.add_threads_option();
  cli.parse(argc, argv);

  threaded_echo::echo_service echo{options.quiet};
  return sandbox::run_on_threads(
      threads, [&] { return serve(options, threads, echo); },
      // Once every pool thread is joined: the counters.
      [&](int status) { echo.finish(status); });
}
//! [main]
