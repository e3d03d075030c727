/// \file
/// Chapter 12: a graceful stop that cancels instead of closing sockets
/// under running coroutines. Its page is chapters/12_cancellation_and_timeouts/README.md.
//
//
// An echo server in plain Asio (chapter 02's, each read sent back) that
// stops on SIGINT or SIGTERM like this:
//
//   signal ──▶ stop():  stopping = true
//                       emit(total) on the accept's signal   ──▶ no new connections
//                       emit(total) on each connection's     ──▶ its read ends, having read
//                         read signal                            nothing; it says goodbye
//   every coroutine has ended ──▶ the loop runs dry ──▶ status 0
//
// The stop reaches only the one wait that can last for ever, a connection's
// read, and it leaves the socket open: the coroutine that owns the socket
// writes its goodbye, half-closes, reads until the client closes, and closes
// it itself. --stop close is the mistake to compare: it closes the bare
// sockets under the coroutines that own them. Their reads end too, and then
// the goodbye fails on a socket that is gone.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/within.hpp"

#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <iterator>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sandbox::println;
using sandbox::tcp;

// How a stop reaches the connections: the lesson (cancel their reads), or
// the mistake (close their sockets).
enum class stop_by { cancel, close };

constexpr std::string_view goodbye = "server stopping; goodbye\n";

// What the stop reaches of one connection.
struct connection {
  int number = 0;
  asio::cancellation_signal read_stop;  // Bound to its read, and only to that.
  tcp::socket* socket = nullptr;        // Owned by its coroutine (for --stop close).
};

// The server's state. One thread runs the loop: no locks.
struct server_state {
  bool quiet = false;
  stop_by how = stop_by::cancel;
  bool stopping = false;
  std::list<asio::cancellation_signal> accept_stops;  // One per listening socket.
  std::list<connection> connections;  // A list: entries never move.
  int opened = 0;
  int said_goodbye = 0;
  int accepting = 0;  // Accept loops still running.
  asio::steady_timer* all_ended = nullptr;  // Cancelled once everything has ended.

  [[nodiscard]] bool everything_ended() const { return accepting == 0 && connections.empty(); }
  void note_an_end() {
    if (stopping && everything_ended()) {
      all_ended->cancel();
    }
  }

  template <typename... Args>
  void say(const connection& who, const Args&... what) const {
    if (!quiet) {
      println("connection ", who.number, ": ", what...);
    }
  }
};

//! [goodbye]
// Writes the goodbye, half-closes, and reads (and drops) what the client
// still sends until it closes: closing with unread bytes would send a reset,
// and the client could lose the goodbye. A client that does not close is
// left behind by within(). True once the client has closed.
asio::awaitable<bool> say_goodbye(tcp::socket& socket) {
  co_await asio::async_write(socket, asio::buffer(goodbye), asio::use_awaitable);
  socket.shutdown(tcp::socket::shutdown_send);
  std::array<char, 1024> dropped;
  for (;;) {
    auto [error, size] =
        co_await socket.async_read_some(asio::buffer(dropped), sandbox::as_tuple_awaitable);
    if (error) {
      co_return true;  // End of file (or a reset): the client has closed.
    }
  }
}
//! [goodbye]

//! [connection]
asio::awaitable<void> serve_client(tcp::socket socket, connection& me, server_state& state) {
  me.socket = &socket;
  state.say(me, "opened");
  std::array<char, 8192> data;
  std::size_t reads = 0;
  std::error_code failure;
  while (!state.stopping) {
    // The read is bound to this connection's stop signal: only this wait is
    // cancelled. Cancelled with `total`, it has read nothing, so every byte
    // the client sent has been echoed or is still in the socket. An echo
    // under way is not cancelled: the loop sees `stopping` after it.
    auto [error, size] = co_await socket.async_read_some(
        asio::buffer(data), asio::bind_cancellation_slot(me.read_stop.slot(),
                                                         sandbox::as_tuple_awaitable));
    // The slot still holds the read's cancellation handler; a stop from now
    // on must find it empty (a coroutine clears its own slot after each
    // co_await; one we bind ourselves, we clear).
    me.read_stop.slot().clear();
    if (error == asio::error::operation_aborted && state.stopping) {
      break;
    }
    if (error) {
      failure = error == asio::error::eof ? std::error_code{} : error;
      break;
    }
    ++reads;
    auto [write_error, sent] = co_await asio::async_write(
        socket, asio::buffer(data.data(), size), sandbox::as_tuple_awaitable);
    if (write_error) {
      failure = write_error;
      break;
    }
  }
  if (state.stopping && !failure) {
    try {
      const auto done = co_await sandbox::within(1s, say_goodbye(socket));
      ++state.said_goodbye;
      state.say(me, "stopped after ", reads, " read(s): goodbye said",
                done ? "" : ", the client did not close within 1 s");
    } catch (const std::system_error& error) {
      state.say(me, "goodbye failed: ", error.code().message());
    }
  } else if (failure) {
    state.say(me, "lost after ", reads, " read(s): ", failure.message());
  } else {
    state.say(me, "closed after ", reads, " read(s)");
  }
  std::error_code ignored;
  socket.close(ignored);  // The owner closes the socket, once nothing waits on it.
  me.socket = nullptr;    // The frame, and the socket in it, go now.
}
//! [connection]

// Accepts until the stop cancels the accept; each connection gets a
// coroutine of its own and an entry in the server's list, which the entry's
// coroutine removes when it ends.
asio::awaitable<void> accept_loop(tcp::acceptor acceptor, asio::cancellation_signal& accept_stop,
                                  server_state& state) {
  const auto executor = co_await asio::this_coro::executor;
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(
        asio::bind_cancellation_slot(accept_stop.slot(), sandbox::as_tuple_awaitable));
    accept_stop.slot().clear();
    if (error == asio::error::operation_aborted && state.stopping) {
      break;  // The stop cancelled the accept; the acceptor closes as we return.
    }
    if (error) {
      println("accept failed: ", error.message());
      continue;
    }
    // (An accept that completed as the stop came is served all the same: its
    // coroutine sees `stopping` and says goodbye at once. Connections still
    // in the kernel's queue are reset when the acceptor closes; chapter 09
    // accepts them all first.)
    state.connections.emplace_back().number = ++state.opened;
    const auto entry = std::prev(state.connections.end());
    asio::co_spawn(executor, serve_client(std::move(socket), *entry, state),
                   [&state, entry](std::exception_ptr) {
                     state.connections.erase(entry);
                     state.note_an_end();
                   });
    if (state.stopping) {
      break;
    }
  }
  --state.accepting;
  state.note_an_end();
}

//! [stop]
// No new connections, and every connection's read cancelled (or, with
// --stop close, its socket closed). What is cancelled here ends later, in
// its own coroutine: stop() only asks.
void stop(server_state& state) {
  state.stopping = true;
  for (auto& accept_stop : state.accept_stops) {
    accept_stop.emit(asio::cancellation_type::total);
  }
  for (auto& connection : state.connections) {
    if (state.how == stop_by::cancel) {
      connection.read_stop.emit(asio::cancellation_type::total);
    } else if (connection.socket != nullptr) {
      std::error_code ignored;
      connection.socket->close(ignored);  // The mistake: the socket goes under its owner.
    }
  }
}
//! [stop]

asio::awaitable<void> serve(sandbox::server_options where, stop_by how) {
  const auto executor = co_await asio::this_coro::executor;
  // Caught from here on: a signal means "stop gracefully", never "die".
  asio::signal_set signals{executor, SIGINT, SIGTERM};
  asio::steady_timer all_ended{executor, asio::steady_timer::time_point::max()};
  server_state state;
  state.quiet = where.quiet;
  state.how = how;
  state.all_ended = &all_ended;

  // Every address the host resolves to (as chapter 02's plain-Asio twin);
  // with port 0, the first one's port for all.
  tcp::resolver resolver{executor};
  std::vector<tcp::acceptor> acceptors;
  unsigned short port = where.port;
  for (const auto& entry : co_await resolver.async_resolve(
           where.host, std::to_string(where.port), tcp::resolver::passive, asio::use_awaitable)) {
    tcp::endpoint endpoint = entry.endpoint();
    endpoint.port(port);
    acceptors.emplace_back(executor, endpoint);  // Open, SO_REUSEADDR, bind, listen.
    port = acceptors.back().local_endpoint().port();
  }
  println("Serving on ", sandbox::host_port(where.host, port));
  for (auto& acceptor : acceptors) {
    ++state.accepting;
    auto& accept_stop = state.accept_stops.emplace_back();
    asio::co_spawn(executor, accept_loop(std::move(acceptor), accept_stop, state), asio::detached);
  }

  const int signal = co_await signals.async_wait(asio::use_awaitable);
  println("Stopping (", signal == SIGINT ? "SIGINT" : "SIGTERM", "): no new connections; ",
          how == stop_by::cancel ? "cancelling the reads of " : "closing the sockets of ",
          state.connections.size(), " connection(s)");
  stop(state);
  if (!state.everything_ended()) {
    co_await all_ended.async_wait(sandbox::as_tuple_awaitable);
  }
  println("Stopped: ", state.opened, " connection(s) served, ", state.said_goodbye,
          " said goodbye");
}

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM stops it gracefully.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 12: an echo server that stops by cancelling"};
  const auto& where = cli.add_server_options();
  const std::map<std::string, stop_by> ways{{"cancel", stop_by::cancel}, {"close", stop_by::close}};
  std::string chosen = "cancel";
  cli.app()
      .add_option("--stop", chosen,
                  "How a signal stops the connections: cancel their reads, or close their "
                  "sockets (the mistake)")
      ->check(CLI::IsMember(ways))
      ->capture_default_str();
  cli.parse(argc, argv);

  return sandbox::run_and_leave_signals_to_main([&] { return serve(where, ways.at(chosen)); });
}
