/// \file
/// Bug hunt 01: a handler that captures `this` instead of shared_from_this().
/// Its page is bughunts/01_capture_this/README.md.
//
//
// NOT A MODEL: this program has one deliberate bug, in think(). fixed.cpp
// is the same program with the fix.
// A "thinking" line server: it answers each line after a pause that stands
// for the work a real server does before it replies (a database query, a
// call to another service). It is the shape of Asio's own echo example: a
// session lives on the heap, owned by nobody but the handlers Asio holds.
//
// Run it, then in another terminal: telnet localhost 2222
#include "hunt_server.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>

#include <chrono>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

namespace {

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, std::chrono::milliseconds think_time)
      : socket_{std::move(socket)}, timer_{socket_.get_executor()}, think_time_{think_time} {
    std::error_code ignored;
    const auto endpoint = socket_.remote_endpoint(ignored);
    peer_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  void start() { read_line(); }

 private:
  // Lines are read while earlier ones are still being thought about: a
  // client may send several questions at once (pipelining).
  void read_line() {
    asio::async_read_until(socket_, asio::dynamic_buffer(input_), '\n',
                           [self = shared_from_this()](std::error_code error, std::size_t size) {
                             self->on_line(error, size);
                           });
  }

  void on_line(std::error_code error, std::size_t size) {
    if (error) {
      // The client has gone (end of file or reset). Nothing re-arms the
      // read: once the other handlers that hold the session have run, it
      // is destroyed.
      return;
    }
    questions_.push_back(input_.substr(0, size - 1));
    input_.erase(0, size);
    if (questions_.size() == 1) {
      think();
    }
    read_line();
  }

  //! [think]
  // Waits think_time_, then answers the oldest question. The bug: the
  // handler captures `this`, a plain pointer that keeps nothing alive. "The
  // read handler holds the session anyway", until the client leaves.
  void think() {
    timer_.expires_after(think_time_);
    timer_.async_wait([this](std::error_code error) {
      on_thought(error);
    });
  }
  //! [think]

  void on_thought(std::error_code error) {
    if (error) {
      std::cerr << "the answer to " << peer_ << " was abandoned: " << error.message() << std::endl;
      return;
    }
    answer_ = "answer: " + questions_.front() + "\n";
    questions_.pop_front();
    asio::async_write(socket_, asio::buffer(answer_),
                      [self = shared_from_this()](std::error_code failed, std::size_t /*sent*/) {
                        if (!failed && !self->questions_.empty()) {
                          self->think();
                        }
                      });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::milliseconds think_time_;
  std::string peer_;                   // "127.0.0.1:50312", for the log.
  std::string input_;                  // Read, not yet a whole line.
  std::deque<std::string> questions_;  // Lines not yet answered, oldest first.
  std::string answer_;                 // The write in flight (one at a time).
};

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 01 (buggy): a line server that thinks before it answers"};
  const auto& options = cli.add_server_options();
  int think_ms = 200;
  cli.app().add_option("--think-ms", think_ms, "Milliseconds before each answer")
      ->check(CLI::Range(0, 60000))->capture_default_str();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  const std::chrono::milliseconds think_time{think_ms};
  return hunts::serve(loop, options, [think_time](tcp::acceptor& acceptor) {
    hunts::accept_each(acceptor, [think_time](tcp::socket socket) {
      std::make_shared<session>(std::move(socket), think_time)->start();
    });
  });
}
