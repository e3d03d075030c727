/// \file
/// Bug hunt 05: a write queue that a never-reading client grows without bound.
/// Its page is bughunts/05_unbounded_queue/README.md.
//
//
// NOT A MODEL: this program has one deliberate bug, in on_read(). fixed.cpp
// is the same program with the fix.
// An echo server in the classic Asio shape, with the write queue of hunt
// 02's fix: whatever arrives is queued to be sent back, one write in flight.
// What if the client sends and never reads? Its echoes cannot leave, and
// wait in the queue.
//
// Run it, then in another terminal: telnet localhost 2222
#include "hunt_server.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>

#include <array>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <system_error>

namespace {

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : socket_{std::move(socket)} {}

  void start() { read(); }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](std::error_code error, std::size_t size) {
                              self->on_read(error, size);
                            });
  }

  void on_read(std::error_code error, std::size_t size) {
    if (error) {
      close();  // The client has gone.
      return;
    }
    send(std::string{buffer_.data(), size});
    //! [read_more]
    // The bug: read more, always. Each read queues its echo; a client that
    // sends and never reads makes the queue, and the server, grow until the
    // machine runs out of memory.
    read();
    //! [read_more]
  }

  void send(std::string message) {
    queued_ += message.size();
    queue_.push_back(std::move(message));
    if (queue_.size() == 1) {
      write_front();
    }
  }

  void write_front() {
    asio::async_write(socket_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](std::error_code error, std::size_t /*sent*/) {
                        self->on_written(error);
                      });
  }

  void on_written(std::error_code error) {
    if (error) {
      close();
      return;
    }
    queued_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) {
      write_front();
    }
  }

  void close() {
    std::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  std::array<char, 64 * 1024> buffer_{};
  std::deque<std::string> queue_;  // Echoes to send; the front one is being written.
  std::size_t queued_ = 0;         // Bytes in queue_.
};

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 05 (buggy): an echo server with a write queue"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  return hunts::serve(loop, options, [](tcp::acceptor& acceptor) {
    hunts::accept_each(acceptor, [](tcp::socket socket) {
      std::make_shared<session>(std::move(socket))->start();
    });
  });
}
