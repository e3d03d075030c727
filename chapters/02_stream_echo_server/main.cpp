/// \file
/// Chapter 02: the stream echo server: the whole program. Its page is chapters/02_stream_echo_server/README.md.
//
//
// The same echo, written as one coroutine per client with a stream reader and
// writer instead of callbacks. The code reads top to bottom like blocking
// code, yet one thread serves every client: each `co_await` hands the thread
// back to the event loop until the bytes are there.
//
// Run it, then: telnet localhost 2222, or chapter 03's client.
#include "sandbox/address.hpp"
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

namespace {

//! [handler]
// asyncio's client_connected_handler(client_reader, client_writer): one
// coroutine per client. Its local variables are that client's state, kept
// in the coroutine frame while it waits.
asio::awaitable<void> client_connected_handler(sandbox::stream_reader reader,
                                               sandbox::stream_writer writer, bool quiet) {
  sandbox::println("Connection received!");
  for (;;) {
    // Whatever has arrived, up to 8192 bytes. TCP has no messages: one
    // read may return part of what the client sent, or several sends.
    std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;  // End of file: the client closed its side.
    }
    if (!quiet) {
      sandbox::println(sandbox::bytes_repr(data));
    }
    // std::move: the bytes are ours and we are done with them, so the
    // writer may send them from this very string instead of copying them.
    writer.write(std::move(data));
    // The lesson never waits for its writes. drain() does: if this client
    // sends faster than it reads, we stop reading from it instead of
    // buffering its echo without bound.
    co_await writer.drain();
  }
  // Returning closes the writer (see sandbox::start_server).
}
//! [handler]

//! [serve]
// `listening` lets main() read the server's counts once the loop stops.
asio::awaitable<void> serve(sandbox::server_options options,
                            std::shared_ptr<sandbox::server>& listening) {
  // asyncio.start_server(client_connected_handler, 'localhost', 2222)
  auto server = co_await sandbox::start_server(
      [quiet = options.quiet](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return client_connected_handler(std::move(reader), std::move(writer), quiet);
      },
      options.host, options.port);
  // A client that resets its connection makes read() throw, and the error
  // is logged, as asyncio logs it. Under load (--quiet) that would be a line
  // per client of a benchmark's churn: count them instead (main prints it).
  server->set_log_client_resets(!options.quiet);
  listening = server;
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));

  // loop.run_forever(): nobody calls server->close(), so this waits until
  // SIGINT or SIGTERM stops the loop.
  co_await server->wait_closed();
}
//! [serve]

}  // namespace

/// Parses the command line, then runs the chapter until it ends or a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 02: the asyncio lesson's stream echo server"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);

  std::shared_ptr<sandbox::server> listening;
  return sandbox::run([&] { return serve(options, listening); },
                      [&](int status) {
                        if (status == 0 && listening && options.quiet) {
                          sandbox::println("Clients that reset their connection: ",
                                           listening->client_resets());
                        }
                        listening.reset();  // The server's sockets go before the loop.
                      });
}
