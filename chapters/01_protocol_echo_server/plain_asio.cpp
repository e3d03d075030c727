/// \file
/// Chapter 01 without the library: the protocol echo server in plain Asio.
/// Its page is chapters/01_protocol_echo_server/README.md ("Without the library").
//
//
// main.cpp's program, written with Asio alone: the classic Asio shape that
// Asio's own examples teach, with completion handlers (callbacks) and no
// coroutine at all. It behaves exactly as ch01_protocol_echo_server does
// (same options, console lines and exit statuses: the same tests run
// against both and against reference.py). From common/ it takes only
// bytes_repr() (print(data) as Python shows it) and the shared options.
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

#include <array>
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

  // connection_made(): say so, and start reading.
  void start() {
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
      return;  // Closed meanwhile: the read ended with operation_aborted.
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
  // connection_lost(), once. The operation still pending, if any, now ends
  // with operation_aborted; its handler sees lost_ and returns without
  // arming another. Nothing re-arms after lose(): when the last handler
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

//! [server]
// loop.create_server(): one acceptor per address the host resolves to, each
// re-arming its accept after every connection, until close().
class echo_server {
 public:
  echo_server(asio::io_context& loop, const sandbox::server_options& options, bool forever)
      : signals_{loop, SIGINT, SIGTERM}, quiet_{options.quiet}, forever_{forever} {
    // A blocking resolve is fine here: the loop is not running yet.
    tcp::resolver resolver{loop};
    for (const auto& entry : resolver.resolve(options.host, std::to_string(options.port),
                                              tcp::resolver::passive)) {
      tcp::endpoint endpoint = entry.endpoint();
      if (!acceptors_.empty()) {
        endpoint.port(port_);  // Port 0: every address gets the first one's port.
      }
      // Opens, sets SO_REUSEADDR, binds and listens; throws if any fails.
      acceptors_.emplace_back(loop, endpoint);
      port_ = acceptors_.back().local_endpoint().port();
    }
    // Ctrl-C or kill: stop the loop at once, as the library's run() does.
    signals_.async_wait([&loop](std::error_code error, int /*signal*/) {
      if (!error) {
        loop.stop();
      }
    });
    for (auto& acceptor : acceptors_) {
      accept(acceptor);
    }
  }

  // The accept handlers hold `this`: the server must stay where it is.
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  [[nodiscard]] unsigned short port() const { return port_; }

  // server.close(): stop listening. With no acceptor and no signal wait
  // left, run() returns once the last connection's handlers are done.
  void close() {
    for (auto& acceptor : acceptors_) {
      std::error_code ignored;
      acceptor.close(ignored);
    }
    signals_.cancel();
  }

 private:
  void accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](std::error_code error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) {
        return;  // close(): stop accepting.
      }
      if (error) {
        std::cerr << "accept failed: " << error.message() << std::endl;
      } else {
        std::make_shared<session>(std::move(socket), *this, quiet_, forever_)->start();
      }
      accept(acceptor);  // Re-arm: one accept pending per acceptor, always.
    });
  }

  // std::vector moves its elements when it grows: all are added in the
  // constructor, before accept() takes references to them.
  std::vector<tcp::acceptor> acceptors_;
  asio::signal_set signals_;
  unsigned short port_ = 0;
  bool quiet_;
  bool forever_;
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
    std::cerr << "error: " << error.what() << std::endl;  // "bind: Address already in use"
    return 1;
  }
  return 0;
  //! [main]
}
