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
// The handler and the counters are in echo_handler.cpp (chapter 06 uses
// them too). Run it, then: nc localhost 2222 (from two terminals), or
// chapter 04's benchmark.
#include "echo_handler.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

//! [serve]
asio::awaitable<void> serve(sandbox::server_options options, std::size_t threads,
                            chapter05::echo_counters& counters,
                            std::shared_ptr<sandbox::server>& listening) {
  // The same start_server() as chapter 02. The difference is the loop it
  // runs on: several threads run it, so the server gives every accepted
  // connection a strand of its own (server::connection_executor()).
  auto server = co_await sandbox::start_server(
      [&counters, quiet = options.quiet](sandbox::stream_reader reader,
                                         sandbox::stream_writer writer) {
        return chapter05::client_connected_handler(std::move(reader), std::move(writer),
                                                   counters, quiet);
      },
      options.host, options.port);
  // Under load (--quiet), a client's reset is counted, not logged (chapter 02).
  server->set_log_client_resets(!options.quiet);
  listening = server;
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  sandbox::println("Running on ", threads, " thread", threads == 1 ? "" : "s");
  co_await server->wait_closed();
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

  chapter05::echo_counters counters;
  std::shared_ptr<sandbox::server> listening;
  return sandbox::run_on_threads(
      threads, [&] { return serve(options, threads, counters, listening); },
      [&](int status) {
        // Every pool thread has been joined, so nothing else touches the
        // counters now; connections the signal interrupted still count as
        // open (they close when the loop is destroyed, just after this).
        if (status == 0) {
          chapter05::print_counters(counters, listening.get(), options.quiet);
        }
        listening.reset();  // The server's sockets go before the loop.
      });
}
//! [main]
