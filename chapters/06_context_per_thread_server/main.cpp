/// \file
/// Chapter 06: an io_context per thread. Its page is chapters/06_context_per_thread_server/README.md.
//
//
// The other classic design: N event loops, each run by exactly one thread,
// like N copies of chapter 02's single-threaded server behind one acceptor.
// The acceptor hands each new connection to the next loop in turn, and the
// connection stays on that loop, and so on that thread, for good:
//
//                      ┌──► loop 1 (thread 1): connections 1, 3, 5 ...
//      accept (loop 1) ┤
//                      └──► loop 2 (thread 2): connections 2, 4, 6 ...
//
// One thread per loop means a connection's handlers can never overlap: no
// strands, and each loop takes no locks for its queue (concurrency hint 1).
// The price: a busy connection cannot borrow an idle thread.
//
// The handler is chapter 05's (chapters/05_thread_pool_server/echo_handler.cpp);
// only where connections run has changed.
#include "../05_thread_pool_server/echo_handler.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

//! [serve]
asio::awaitable<void> serve(sandbox::server_options options, sandbox::context_pool& loops,
                            chapter05::echo_counters& counters,
                            std::shared_ptr<sandbox::server>& listening) {
  // The last argument is the only change from chapter 05. The server still
  // accepts every connection on its own loop (loop 1); the picker then names
  // the next loop, round-robin, and the server moves the accepted descriptor
  // into a socket of that loop (hand_over() in common/src/hand_over.cpp), where
  // the connection stays. Chapter 05 gave each one a new strand instead.
  auto server = co_await sandbox::start_server(
      [&counters, quiet = options.quiet](sandbox::stream_reader reader,
                                         sandbox::stream_writer writer) {
        return chapter05::client_connected_handler(std::move(reader), std::move(writer),
                                                   counters, quiet);
      },
      options.host, options.port, sandbox::default_stream_limit, loops.picker());
  server->set_log_client_resets(!options.quiet);  // As in chapter 05.
  listening = server;
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  sandbox::println("Running on ", loops.size(), " thread", loops.size() == 1 ? "" : "s");
  co_await server->wait_closed();
}
//! [serve]

}  // namespace

//! [main]
/// Parses the command line, runs one loop per thread until a signal stops
/// them, then prints the counters.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 06: the stream echo server with an io_context per thread"};
  const auto& options = cli.add_server_options();
  const auto& threads = cli.add_threads_option();
  cli.parse(argc, argv);

  chapter05::echo_counters counters;
  sandbox::context_pool loops{threads};
  std::shared_ptr<sandbox::server> listening;
  return loops.run([&] { return serve(options, loops, counters, listening); },
                   [&](int status) {
                     if (status == 0) {
                       chapter05::print_counters(counters, listening.get(), options.quiet);
                     }
                     listening.reset();  // The server's sockets go before the loops.
                   });
}
//! [main]
