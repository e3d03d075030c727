/// \file
/// Bug hunt 05, fixed: a client that does not read stops being read (back
/// pressure). Its page is bughunts/05_unbounded_queue/README.md.
//
//
// An echo server in the classic Asio shape, with the write queue of hunt
// 02's fix: whatever arrives is queued to be sent back, one write in flight.
// What if the client sends and never reads? Its echoes cannot leave, and
// wait in the queue. Here the session stops reading once the queue holds
// more than a high-water mark, and reads again when it drains below a
// low-water mark: the client's sends then stall in the kernel, not in our
// memory (chapter 08 does the same with asyncio's pause_reading()).
// buggy.cpp is the same program without the pause.
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

// asyncio's marks, as chapter 08's: pause above 64 KiB queued, resume at 16.
constexpr std::size_t high_water = 64 * 1024;
constexpr std::size_t low_water = 16 * 1024;

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
    // Read more only while the client keeps up: above the high-water mark,
    // no read is armed, and the queue's write handler re-arms it.
    if (queued_ <= high_water) {
      read();
    } else {
      paused_ = true;
    }
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
    //! [resume]
    // The client has read enough of its echoes: read from it again.
    if (paused_ && queued_ <= low_water) {
      paused_ = false;
      read();
    }
    //! [resume]
  }

  void close() {
    std::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  std::array<char, 64 * 1024> buffer_{};
  std::deque<std::string> queue_;  // Echoes to send; the front one is being written.
  std::size_t queued_ = 0;         // Bytes in queue_.
  bool paused_ = false;            // No read armed: the queue is too long.
};

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 05, fixed: an echo server with a write queue"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  return hunts::serve(loop, options, [](tcp::acceptor& acceptor) {
    hunts::accept_each(acceptor, [](tcp::socket socket) {
      std::make_shared<session>(std::move(socket))->start();
    });
  });
}
