/// \file
/// Chapter 02 without the library: the stream echo server in plain Asio.
/// Its page is chapters/02_stream_echo_server/README.md ("Without the library").
//
//
// main.cpp's program, written with Asio alone: one coroutine per client,
// started by co_spawn, each step a co_await on an Asio operation given the
// completion token use_awaitable. It behaves exactly as
// ch02_stream_echo_server does (same options, console lines and exit
// statuses: the same tests run against both and against reference.py). From
// common/ it takes only bytes_repr() and the shared options.
//
// Run it, then: telnet localhost 2222, or chapter 03's client.
#include "sandbox/bytes_repr.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <array>
#include <csignal>
#include <cstddef>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using asio::ip::tcp;

// A completion token: the operation's results come back from co_await as a
// tuple (error, values...) instead of throwing on an error. Each error is a
// value to look at, as the library's stream_reader does inside.
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// One console line, sent at once even into a pipe (the tests read it).
void say(std::string_view line) { std::cout << line << '\n' << std::flush; }

// "127.0.0.1:2222", or "[::1]:2222" for an IPv6 address.
std::string host_port(const std::string& host, unsigned short port) {
  const std::string shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return shown + ":" + std::to_string(port);
}

// The ways a client ends a connection abruptly (RST), seen by a read, or by
// a write as a broken pipe.
bool is_client_reset(const std::error_code& error) {
  return error == asio::error::connection_reset || error == asio::error::broken_pipe ||
         error == asio::error::connection_aborted;
}

// What the handlers share: whether to log resets, and how many there were.
// One thread runs the loop, so a plain int is enough.
struct reset_log {
  bool quiet = false;
  int resets = 0;
};

//! [handler]
// client_connected_handler(client_reader, client_writer), with the socket
// as both. Its local variables (the buffer too) live in the coroutine frame
// while it waits.
asio::awaitable<void> client_connected_handler(tcp::socket socket, reset_log& log) {
  say("Connection received!");
  std::error_code ignored;
  const tcp::endpoint peer = socket.remote_endpoint(ignored);
  std::array<char, 8192> buffer;  // read(8192)
  std::error_code failure;
  for (;;) {
    // Whatever has arrived, up to 8192 bytes.
    auto [read_error, size] = co_await socket.async_read_some(asio::buffer(buffer),
                                                              as_tuple_awaitable);
    if (read_error == asio::error::eof) {
      break;  // End of file: the client closed its side.
    }
    if (read_error) {
      failure = read_error;
      break;
    }
    if (!log.quiet) {
      say(sandbox::bytes_repr({buffer.data(), size}));
    }
    // write() and drain() in one: the next read waits until the echo is
    // sent, so a client that sends faster than it reads is read no faster
    // than it reads. The buffer is reused only after that.
    auto [write_error, sent] = co_await asio::async_write(socket, asio::buffer(buffer.data(), size),
                                                          as_tuple_awaitable);
    if (write_error) {
      failure = write_error;
      break;
    }
  }
  if (failure) {
    // asyncio logs a failed handler and serves on; a reset is counted, and
    // logged unless --quiet (ch02 does the same).
    const bool reset = is_client_reset(failure);
    log.resets += reset ? 1 : 0;
    if (!reset || !log.quiet) {
      // The same line as ch02's: "error in client handler for
      // 127.0.0.1:51234: connection lost: Connection reset by peer".
      std::cerr << "error in client handler for "
                << host_port(peer.address().to_string(), peer.port())
                << ": connection lost: " << failure.message() << std::endl;
    }
  }
  // writer.close(): FIN after the last echo. The socket's destructor would
  // close it too; saying so is clearer.
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}
//! [handler]

//! [accept]
// The accept loop of one listening socket: a coroutine too. Each client gets
// a coroutine of its own (co_spawn), detached: nobody waits for it.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, reset_log& log) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(as_tuple_awaitable);
    if (error == asio::error::operation_aborted) {
      co_return;
    }
    if (error) {
      std::cerr << "accept failed: " << error.message() << std::endl;
      continue;
    }
    // The coroutine takes the socket by value: it owns the connection.
    // Passing a reference would dangle once this loop accepts the next.
    asio::co_spawn(acceptor.get_executor(), client_connected_handler(std::move(socket), log),
                   asio::detached);
  }
}
//! [accept]

}  // namespace

/// Parses the command line, then serves until a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 02 in plain Asio: the asyncio lesson's stream echo server"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);

  //! [main]
  asio::io_context loop{1};
  reset_log log{options.quiet};
  std::vector<tcp::acceptor> acceptors;
  try {
    // asyncio.start_server(client_connected_handler, host, port): every
    // address the host resolves to; with port 0, the first one's port.
    tcp::resolver resolver{loop};
    unsigned short port = options.port;
    for (const auto& entry : resolver.resolve(options.host, std::to_string(options.port),
                                              tcp::resolver::passive)) {
      tcp::endpoint endpoint = entry.endpoint();
      endpoint.port(port);
      acceptors.emplace_back(loop, endpoint);  // Open, SO_REUSEADDR, bind, listen.
      port = acceptors.back().local_endpoint().port();
    }
    say("Serving on " + host_port(options.host, port));
  } catch (const std::system_error& error) {
    std::cerr << "error: " << error.what() << std::endl;  // "bind: Address already in use"
    return 1;
  }
  // Every acceptor is in place: the vector will not move them any more.
  for (auto& acceptor : acceptors) {
    asio::co_spawn(loop, accept_loop(acceptor, log), asio::detached);
  }

  // loop.run_forever() until SIGINT or SIGTERM: a signal is one more
  // completion on the loop, so its handler may do anything.
  asio::signal_set signals{loop, SIGINT, SIGTERM};
  signals.async_wait([&loop](std::error_code error, int /*signal*/) {
    if (!error) {
      loop.stop();
    }
  });
  loop.run();
  if (log.quiet) {
    say("Clients that reset their connection: " + std::to_string(log.resets));
  }
  // Returning destroys the loop, and with it every suspended coroutine
  // frame: each client's socket closes as its frame goes.
  return 0;
  //! [main]
}
