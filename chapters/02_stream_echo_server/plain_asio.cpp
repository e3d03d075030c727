/// \file
/// Chapter 02 without the library: the stream echo server in plain Asio.
/// Its page is chapters/02_stream_echo_server/README.md ("Without the library").
//
//
// main.cpp's program, written with Asio alone: one coroutine per client,
// started by co_spawn, each step a co_await on an Asio operation given the
// completion token use_awaitable. It behaves as ch02_stream_echo_server
// does (same options, console lines and exit statuses: the same tests run
// against both and against reference.py), without its limit of 512
// clients: the page lists what it leaves out. From common/ it takes only
// bytes_repr() and the shared options.
//
// Run it, then: telnet localhost 2222, or chapter 03's client.
#include "sandbox/bytes_repr.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using asio::ip::tcp;

//! [as_tuple]
// A completion token: the operation's results come back from co_await as a
// tuple (error, values...) instead of throwing on an error. Each error is a
// value to look at, as the library's stream_reader does inside. (Asio 1.22
// has as_tuple in asio::experimental; newer Asio calls it asio::as_tuple.)
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);
//! [as_tuple]

// One console line, sent at once even into a pipe (the tests read it).
void say(std::string_view line) { std::cout << line << '\n' << std::flush; }

// "127.0.0.1:2222", or "[::1]:2222" for an IPv6 address.
std::string host_port(const std::string& host, unsigned short port) {
  const std::string shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return shown + ":" + std::to_string(port);
}

std::string to_string(const tcp::endpoint& endpoint) {
  return host_port(endpoint.address().to_string(), endpoint.port());
}

//! [listen]
// Every address `host` resolves to, a listening socket each, all on one port
// (the first one's, with --port 0): what the library's listening.cpp does.
// Each step may fail on its own, so each is its own call.
std::vector<tcp::acceptor> listen_on_every_address(asio::io_context& loop, const std::string& host,
                                                   unsigned short port) {
  // A blocking resolve is fine here: the loop is not running yet. passive:
  // "" means every address (0.0.0.0 and ::). Without address_configured
  // (the default flags have it), a machine with only a loopback interface
  // still gets both loopbacks.
  tcp::resolver resolver{loop};
  std::error_code error;
  const auto results =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive, error);
  if (error) {
    throw std::system_error{error, "cannot resolve " + host_port(host, port)};
  }
  std::vector<tcp::acceptor> acceptors;
  std::vector<asio::ip::address> seen;
  std::error_code missing;
  for (const auto& entry : results) {
    tcp::endpoint endpoint = entry.endpoint();
    if (std::ranges::find(seen, endpoint.address()) != seen.end()) {
      continue;  // /etc/hosts may list an address twice.
    }
    seen.push_back(endpoint.address());
    if (!acceptors.empty()) {
      endpoint.port(acceptors.front().local_endpoint().port());
    }
    tcp::acceptor acceptor{loop};
    acceptor.open(endpoint.protocol(), error);
    if (!error) {
      // SO_REUSEADDR, as asyncio sets it: a restarted server can bind its
      // port while old connections still sit in TIME_WAIT.
      acceptor.set_option(tcp::acceptor::reuse_address(true), error);
    }
    if (!error && endpoint.address().is_v6()) {
      // Without IPV6_V6ONLY, [::] takes IPv4 too, and collides with our own
      // socket on 0.0.0.0 and the same port ("Address already in use").
      acceptor.set_option(asio::ip::v6_only(true), error);
    }
    if (!error) {
      acceptor.bind(endpoint, error);
    }
    if (!error) {
      acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
    if (error == asio::error::address_family_not_supported ||
        error == std::error_code{EADDRNOTAVAIL, asio::system_category()}) {
      // The machine lacks this address (a container without IPv6 still
      // resolves "localhost" to ::1): skip it, if another one works.
      missing = error;
      continue;
    }
    if (error) {
      throw std::system_error{error, "cannot listen on " +
                                         host_port(endpoint.address().to_string(), endpoint.port())};
    }
    acceptors.push_back(std::move(acceptor));
  }
  if (acceptors.empty()) {
    throw std::system_error{missing, "cannot listen on " + host_port(host, port)};
  }
  return acceptors;
}
//! [listen]

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
// as both, and the peer's address as accept() reported it. Its local
// variables (the buffer too) live in the coroutine frame while it waits.
asio::awaitable<void> client_connected_handler(tcp::socket socket, tcp::endpoint peer,
                                               reset_log& log) {
  say("Connection received!");
  std::error_code ignored;
  // TCP_NODELAY, as the library's transport sets it: without it, Nagle's
  // algorithm may hold an echo until the previous one is acknowledged, a
  // 40 ms stall with delayed acknowledgements (chapter 04 measured it).
  socket.set_option(tcp::no_delay(true), ignored);
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
                << to_string(peer)
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
// a coroutine of its own (co_spawn), detached: nobody waits for it, and an
// exception escaping it would vanish (1.22's detached ignores it), one more
// reason the handler takes its errors as values.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, reset_log& log) {
  for (;;) {
    // accept() says who connected: asking the socket afterwards
    // (remote_endpoint(), getpeername()) fails once the client has reset.
    tcp::endpoint peer;
    auto [error, socket] = co_await acceptor.async_accept(peer, as_tuple_awaitable);
    if (error == asio::error::operation_aborted) {
      co_return;
    }
    if (error) {
      // Out of descriptors (EMFILE), and the like: the client stays in the
      // accept queue, so accepting again at once would fail again at once,
      // as fast as the CPU allows. asyncio logs and waits a second; the
      // library, and this, 100 ms.
      std::error_code ignored;
      std::cerr << "accept on " << to_string(acceptor.local_endpoint(ignored))
                << " failed: " << error.message() << std::endl;
      asio::steady_timer back_off{acceptor.get_executor(), std::chrono::milliseconds{100}};
      co_await back_off.async_wait(as_tuple_awaitable);
      continue;
    }
    // The coroutine takes the socket by value: it owns the connection.
    // Passing a reference would dangle once this loop accepts the next.
    asio::co_spawn(acceptor.get_executor(),
                   client_connected_handler(std::move(socket), peer, log), asio::detached);
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
  // Declared after the loop, so destroyed before it: the coroutine frames
  // that refer to them die with the loop, later. That is safe only because
  // nothing runs then: a frame is destroyed, never resumed, and no
  // destructor in it touches `log` or an acceptor.
  reset_log log{options.quiet};
  std::vector<tcp::acceptor> acceptors;
  try {
    // asyncio.start_server(client_connected_handler, host, port).
    acceptors = listen_on_every_address(loop, options.host, options.port);
    say("Serving on " + host_port(options.host, acceptors.front().local_endpoint().port()));
  } catch (const std::system_error& error) {
    // "error: cannot listen on 127.0.0.1:2222: Address already in use", as
    // main.cpp (the library) words it.
    std::cerr << "error: " << error.what() << std::endl;
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
