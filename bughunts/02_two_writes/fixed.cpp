/// \file
/// Bug hunt 02, fixed: one write in flight per socket, the rest queued.
/// Its page is bughunts/02_two_writes/README.md.
//
//
// A line echo server with a heartbeat: it echoes each line, and every
// --heartbeat-ms it also sends "heartbeat", so that an idle client knows
// the server is still there. Two sources of writes on one socket: the echo
// and the heartbeat. buggy.cpp is the same program with each source
// calling async_write on its own.
//
// Run it, then in another terminal: telnet localhost 2222
#include "hunt_server.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <system_error>

namespace {

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, std::chrono::milliseconds heartbeat)
      : socket_{std::move(socket)}, heartbeat_timer_{socket_.get_executor()},
        heartbeat_{heartbeat} {}

  void start() {
    read_line();
    beat();
  }

 private:
  void read_line() {
    asio::async_read_until(socket_, asio::dynamic_buffer(input_), '\n',
                           [self = shared_from_this()](std::error_code error, std::size_t size) {
                             self->on_line(error, size);
                           });
  }

  void on_line(std::error_code error, std::size_t size) {
    if (error) {
      close();  // The client has gone.
      return;
    }
    send(input_.substr(0, size));  // The echo, its '\n' included.
    input_.erase(0, size);
    read_line();
  }

  void beat() {
    heartbeat_timer_.expires_after(heartbeat_);
    heartbeat_timer_.async_wait([self = shared_from_this()](std::error_code error) {
      if (error || !self->socket_.is_open()) {
        return;  // Cancelled by close(): the session may end.
      }
      self->send("heartbeat\n");
      self->beat();
    });
  }

  //! [send]
  // Every message goes through send(), whoever writes it. async_write is a
  // loop of write_some calls; a second one started before the first ends
  // would put its bytes between two of the first's. So one message is in
  // flight, the front of the queue, and the others wait their turn.
  void send(std::string message) {
    queue_.push_back(std::move(message));
    if (queue_.size() == 1) {
      write_front();
    }
  }

  void write_front() {
    asio::async_write(socket_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](std::error_code error, std::size_t /*sent*/) {
                        if (error) {
                          self->close();
                          return;
                        }
                        self->queue_.pop_front();  // Sent: only now may the next one go.
                        if (!self->queue_.empty()) {
                          self->write_front();
                        }
                      });
  }
  //! [send]

  void close() {
    std::error_code ignored;
    socket_.close(ignored);
    heartbeat_timer_.cancel();
  }

  tcp::socket socket_;
  asio::steady_timer heartbeat_timer_;
  std::chrono::milliseconds heartbeat_;
  std::string input_;              // Read, not yet a whole line.
  std::deque<std::string> queue_;  // Messages to send; the front one is being written.
};

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 02, fixed: a line echo server with a heartbeat"};
  const auto& options = cli.add_server_options();
  int heartbeat_ms = 1000;
  cli.app().add_option("--heartbeat-ms", heartbeat_ms, "Milliseconds between two heartbeats")
      ->check(CLI::Range(1, 60000))->capture_default_str();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  const std::chrono::milliseconds heartbeat{heartbeat_ms};
  return hunts::serve(loop, options, [heartbeat](tcp::acceptor& acceptor) {
    hunts::accept_each(acceptor, [heartbeat](tcp::socket socket) {
      std::make_shared<session>(std::move(socket), heartbeat)->start();
    });
  });
}
