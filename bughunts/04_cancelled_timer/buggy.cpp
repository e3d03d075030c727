/// \file
/// Bug hunt 04: a cancelled timer whose queued handler touches a dead
/// connection. Its page is bughunts/04_cancelled_timer/README.md.
//
//
// NOT A MODEL: this program has one deliberate bug, in arm_deadline().
// fixed.cpp is the same program with the fix.
// A line server with an idle deadline (chapter 09's): a client that sends
// nothing for --idle-ms is told so and closed. Its commands: "work MS" keeps
// the server busy for MS milliseconds, then answers "done" (it stands for a
// request computed on the loop's own thread: compressing, hashing);
// "quit" answers "bye" and closes; any other line is echoed. The server
// keeps every connection in a table, to close them all when it stops.
//
// Run it, then in another terminal: telnet localhost 2222
#include "hunt_server.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

class connection;

// Owns every connection, by id.
using connection_table = std::map<std::uint64_t, std::shared_ptr<connection>>;

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket socket, connection_table& table, std::uint64_t id,
             std::chrono::milliseconds idle)
      : socket_{std::move(socket)}, deadline_{socket_.get_executor()}, table_{table}, id_{id},
        idle_{idle} {}

  void start() {
    arm_deadline();
    read_line();
  }

  // Says goodbye (best effort), closes the socket, cancels the deadline and
  // leaves the table. Once. The table's shared_ptr was the last owner but
  // for the handlers that still hold one.
  void close(const std::string& goodbye) {
    if (closed_) {
      return;
    }
    closed_ = true;
    std::error_code ignored;
    asio::write(socket_, asio::buffer(goodbye), ignored);
    socket_.close(ignored);
    deadline_.cancel();
    table_.erase(id_);  // May destroy *this: nothing after this line.
  }

 private:
  //! [deadline]
  // The idle deadline, re-armed after each line (expires_after cancels the
  // wait before). The bug: the handler captures `this`, on the belief that
  // "close() cancels the deadline, so once the connection is gone its
  // handler only ever sees operation_aborted". Not if the deadline had
  // already expired and its handler was queued when cancel() ran: it then
  // runs with success, after the table destroyed the connection.
  void arm_deadline() {
    deadline_.expires_after(idle_);
    deadline_.async_wait([this](std::error_code error) {
      if (error) {
        return;  // Cancelled: the connection is gone, or re-armed.
      }
      close("idle: goodbye\n");
    });
  }
  //! [deadline]

  void read_line() {
    asio::async_read_until(socket_, asio::dynamic_buffer(input_), '\n',
                           [self = shared_from_this()](std::error_code error, std::size_t size) {
                             self->on_line(error, size);
                           });
  }

  void on_line(std::error_code error, std::size_t size) {
    if (closed_) {
      return;
    }
    if (error) {
      close("");  // The client has gone.
      return;
    }
    const std::string line = input_.substr(0, size - 1);
    input_.erase(0, size);
    if (line == "quit") {
      close("bye\n");
      return;
    }
    arm_deadline();
    std::string answer = line + "\n";
    if (line.starts_with("work ")) {
      // Blocks the loop's thread, as real computing does: meanwhile the
      // other connections' events pile up, and the next pass of the loop
      // finds them all at once.
      std::this_thread::sleep_for(std::chrono::milliseconds{std::stoi(line.substr(5))});
      answer = "done\n";
    }
    // A short answer, written at once: a real server queues it (hunt 02).
    std::error_code ignored;
    asio::write(socket_, asio::buffer(answer), ignored);
    read_line();
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  connection_table& table_;
  std::uint64_t id_;
  std::chrono::milliseconds idle_;
  std::string input_;  // Read, not yet a whole line.
  bool closed_ = false;
};

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 04 (buggy): a line server with an idle deadline"};
  const auto& options = cli.add_server_options();
  int idle_ms = 10000;
  cli.app().add_option("--idle-ms", idle_ms, "Milliseconds of silence before a client is closed")
      ->check(CLI::Range(1, 3600000))->capture_default_str();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  connection_table table;  // Before the loop's run, after the loop: see the end.
  const std::chrono::milliseconds idle{idle_ms};
  const int status = hunts::serve(loop, options, [&table, idle](tcp::acceptor& acceptor) {
    hunts::accept_each(acceptor, [&table, idle, next_id = std::uint64_t{1}](
                                     tcp::socket socket) mutable {
      auto added = std::make_shared<connection>(std::move(socket), table, next_id, idle);
      table.emplace(next_id++, added);
      added->start();
    });
  });
  // Stopping: close every connection still open (close() erases it from the
  // table, so take them one by one from the front).
  while (!table.empty()) {
    table.begin()->second->close("server stopping: goodbye\n");
  }
  return status;
}
