/// \file
/// Chapter 01 without the library: the protocol echo server in plain Asio.
/// Its page is chapters/01_protocol_echo_server/README.md ("Without the library").
//
//
// main.cpp's program, written with Asio alone: the classic Asio shape that
// Asio's own examples teach, with completion handlers (callbacks) and no
// coroutine at all. It behaves as ch01_protocol_echo_server does (same
// options, console lines and exit statuses: the same tests run against both
// and against reference.py); the page lists what it leaves out. From
// common/ it takes only bytes_repr() (print(data) as Python shows it) and
// the shared options.
//
// What main.cpp gets from sandbox::transport is written out here: the read
// loop, the write queue with one async_write in flight, the end of a
// connection, and the shared_ptr that keeps a connection alive while Asio
// holds one of its handlers.
//
// Run it, then in another terminal: telnet localhost 2222
#include "sandbox/bytes_repr.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using asio::ip::tcp;

// One console line, sent at once even into a pipe (the tests read it).
void say(std::string_view line) { std::cout << line << '\n' << std::flush; }

// "127.0.0.1:2222", or "[::1]:2222" for an IPv6 address.
std::string host_port(const std::string& host, unsigned short port) {
  const std::string shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return shown + ":" + std::to_string(port);
}

class echo_server;

//! [session]
// One object per connection: the protocol and the transport in one. It lives
// on the heap, owned by nobody but the handlers Asio holds: every handler
// captures shared_from_this(), so the session lives exactly as long as one
// of its operations is pending.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, echo_server& server, bool quiet, bool forever)
      : socket_{std::move(socket)}, server_{server}, quiet_{quiet}, forever_{forever} {}

  // connection_made(): say so, and start reading. Not in the constructor:
  // shared_from_this() needs a shared_ptr that already owns the object
  // (inside the constructor there is none yet: it throws bad_weak_ptr).
  void start() {
    // TCP_NODELAY, as the library's transport sets it: without it, Nagle's
    // algorithm holds a small echo until the previous one is acknowledged,
    // and with the peer's delayed acknowledgements that is a 40 ms stall
    // (chapter 04 measured it).
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    say("Connection received!");
    read();
  }

 private:
  void read() {
    // The buffer is a member: it must outlive the operation, which the
    // captured shared_ptr guarantees.
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](std::error_code error, std::size_t size) {
                              self->on_read(error, size);
                            });
  }

  void on_read(std::error_code error, std::size_t size) {
    if (lost_) {
      // Closed meanwhile: whatever this read brought (operation_aborted,
      // or a result already queued when lose() ran) is dropped.
      return;
    }
    if (error == asio::error::eof) {
      // eof_received() would return false: close once the echo is sent.
      close_when_sent();
      return;
    }
    if (error) {
      lose();  // Reset by peer, and the like.
      return;
    }
    data_received({buffer_.data(), size});
    flush();  // What data_received() wrote leaves now, in one send.
    read();   // Re-arm: the next read holds the session alive.
  }
  //! [session]

  //! [protocol]
  // The lesson's three callbacks, as in main.cpp.
  void data_received(std::string_view data) {
    if (!quiet_) {
      say(sandbox::bytes_repr(data));  // print(data): b'a'
    }
    write("echo:");
    write(data);
  }

  void connection_lost();  // Needs echo_server, defined below.
  //! [protocol]

  //! [write_queue]
  // write() only buffers: every write of one callback leaves together.
  void write(std::string_view data) { pending_ += data; }

  // Starts a send unless one is in flight: that one takes pending_ when it
  // completes. Two async_writes at once on one socket could interleave
  // their bytes, so there is never more than one.
  void flush() {
    if (writing_.empty() && !pending_.empty()) {
      send_pending();
    }
  }

  void send_pending() {
    writing_.swap(pending_);
    // async_write keeps sending until every byte is gone or an error occurs;
    // writing_ must stay untouched until its handler runs.
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](std::error_code error, std::size_t /*sent*/) {
                        self->on_write(error);
                      });
  }

  void on_write(std::error_code error) {
    writing_.clear();
    if (lost_) {
      return;
    }
    if (error) {
      lose();
      return;
    }
    if (!pending_.empty()) {
      send_pending();  // Written while this send was in flight.
    } else if (closing_) {
      lose();  // The last echo before the end of file is out: close.
    }
  }
  //! [write_queue]

  //! [end]
  // The peer finished sending: close now, or when the send in flight ends.
  void close_when_sent() {
    if (writing_.empty()) {
      lose();
    } else {
      closing_ = true;
    }
  }

  // Closes the socket (the peer sees end of file, or our reset) and calls
  // connection_lost(), once. The operation still pending, if any, ends
  // with operation_aborted (or with the result it had already got, if its
  // handler was queued before the close); its handler sees lost_ and returns
  // without arming another. Nothing re-arms after lose(): when the last handler
  // holding a shared_ptr returns (the one calling lose(), or that aborted
  // one), the session dies. Here is where a connection ends.
  void lose() {
    lost_ = true;
    std::error_code ignored;
    socket_.close(ignored);
    connection_lost();
  }
  //! [end]

  tcp::socket socket_;
  echo_server& server_;
  bool quiet_;
  bool forever_;
  std::array<char, 64 * 1024> buffer_{};  // asyncio reads up to 64 KiB too (256 KiB since 3.12).
  std::string pending_;  // Written, not yet sending.
  std::string writing_;  // The send in flight: empty when none is.
  bool closing_ = false;
  bool lost_ = false;
};

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

//! [server]
// loop.create_server(): one acceptor per address the host resolves to, each
// re-arming its accept after every connection, until close().
class echo_server {
 public:
  echo_server(asio::io_context& loop, const sandbox::server_options& options, bool forever)
      : signals_{loop, SIGINT, SIGTERM}, quiet_{options.quiet}, forever_{forever} {
    for (auto& acceptor : listen_on_every_address(loop, options.host, options.port)) {
      listeners_.push_back({std::move(acceptor), asio::steady_timer{loop}});
    }
    // Ctrl-C or kill: stop the loop at once, as the library's run() does.
    signals_.async_wait([&loop](std::error_code error, int /*signal*/) {
      if (!error) {
        loop.stop();
      }
    });
    for (auto& listener : listeners_) {
      accept(listener);
    }
  }

  // The accept handlers hold `this`: the server must stay where it is.
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  [[nodiscard]] unsigned short port() const {
    return listeners_.front().acceptor.local_endpoint().port();
  }

  // server.close(): stop listening. With no acceptor, timer or signal wait
  // left, run() returns once the last connection's handlers are done.
  void close() {
    closed_ = true;
    for (auto& listener : listeners_) {
      std::error_code ignored;
      listener.acceptor.close(ignored);
      listener.back_off.cancel();
    }
    signals_.cancel();
  }

 private:
  struct listening_socket {
    tcp::acceptor acceptor;
    asio::steady_timer back_off;  // Waits before accepting again after a failure.
  };

  void accept(listening_socket& on) {
    on.acceptor.async_accept([this, &on](std::error_code error, tcp::socket socket) {
      if (!error) {
        // Served even if close() ran meanwhile: this accept completed
        // before it (its handler queued, then run after), so the
        // connection is made, and ours.
        std::make_shared<session>(std::move(socket), *this, quiet_, forever_)->start();
      }
      if (closed_) {
        // close(): stop accepting. (Re-arming here would fail at once on
        // the closed acceptor, with bad_descriptor, for ever.)
        return;
      }
      if (error) {
        // Out of descriptors (EMFILE), and the like: the client stays in
        // the accept queue, so accepting again at once would fail again at
        // once, as fast as the CPU allows. asyncio logs and waits a second;
        // the library, and this, 100 ms.
        std::cerr << "accept on " << address_of(on.acceptor) << " failed: " << error.message()
                  << std::endl;
        on.back_off.expires_after(std::chrono::milliseconds{100});
        on.back_off.async_wait([this, &on](std::error_code) {
          if (!closed_) {
            accept(on);
          }
        });
        return;
      }
      accept(on);  // Re-arm: one accept pending per acceptor, always.
    });
  }

  // "127.0.0.1:2222": the address an acceptor listens on.
  static std::string address_of(const tcp::acceptor& acceptor) {
    std::error_code ignored;
    const tcp::endpoint endpoint = acceptor.local_endpoint(ignored);
    return host_port(endpoint.address().to_string(), endpoint.port());
  }

  // std::vector moves its elements when it grows: all are added in the
  // constructor, before accept() takes references to them.
  std::vector<listening_socket> listeners_;
  asio::signal_set signals_;
  bool quiet_;
  bool forever_;
  bool closed_ = false;
};
//! [server]

void session::connection_lost() {
  if (forever_) {
    say("Connection lost!");
    return;
  }
  say("Connection lost! Closing server...");
  server_.close();
}

}  // namespace

/// Parses the command line, then serves until the first connection is lost
/// (or forever, with --forever) or a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 01 in plain Asio: the asyncio lesson's protocol echo server"};
  const auto& options = cli.add_server_options();
  bool forever = false;
  cli.app().add_flag("--forever", forever,
                     "Keep serving after a connection is lost (the lesson stops after one)");
  cli.parse(argc, argv);

  //! [main]
  // Declared first, destroyed last: the sessions still held by pending
  // handlers die with it, after the server they refer to.
  asio::io_context loop{1};
  try {
    echo_server server{loop, options, forever};
    say("Serving on " + host_port(options.host, server.port()));
    loop.run();  // Returns when no work is left, or at stop().
  } catch (const std::system_error& error) {
    // "error: cannot listen on 127.0.0.1:2222: Address already in use", as
    // main.cpp (the library) words it.
    std::cerr << "error: " << error.what() << std::endl;
    return 1;
  }
  return 0;
  //! [main]
}
