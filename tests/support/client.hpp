// A blocking TCP client for tests, on plain POSIX sockets: connect, send,
// half-close and receive, every wait bounded by a deadline. Deliberately not
// Asio, so the tests do not check our code with our own code.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace sandbox::testing {

using namespace std::chrono_literals;

class test_client {
 public:
  /// Connects to host:port (a numeric IPv4 or IPv6 address); throws on failure.
  test_client(const std::string& host, unsigned short port);
  test_client(test_client&& other) noexcept;
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;
  ~test_client();

  /// Sends all of `data` (blocking, bounded by `timeout`).
  void send(std::string_view data, std::chrono::milliseconds timeout = 10s);

  /// Sends as much of `data` as the peer takes, until all is sent or no byte
  /// could be sent for `stall`; returns how many bytes were sent.
  std::size_t send_until_stalled(std::string_view data, std::chrono::milliseconds stall = 1s);

  /// Sets TCP_NODELAY: each send leaves at once, even while an earlier one
  /// waits for its acknowledgement (Nagle's algorithm would hold it).
  void no_delay();

  /// Sends FIN: the server reads end of file.
  void shutdown_write();

  /// Closes with RST instead of FIN (SO_LINGER 0): a crashed peer.
  void reset();

  /// Whatever arrives next (at least one byte), or "" at end of file.
  /// Throws on timeout.
  std::string receive_some(std::chrono::milliseconds timeout = 10s);

  /// Exactly `count` bytes; throws on end of file or timeout.
  std::string receive_exactly(std::size_t count, std::chrono::milliseconds timeout = 10s);

  /// Everything until the server closes; throws on timeout.
  std::string receive_until_eof(std::chrono::milliseconds timeout = 10s);

  /// Sends `data` while receiving, so neither side's buffers fill up and
  /// deadlock; returns once `expected_reply_size` bytes came back.
  std::string exchange(std::string_view data, std::size_t expected_reply_size,
                       std::chrono::milliseconds timeout = 20s);


 private:
  // receive_some(), taking at most `limit` bytes (1 to 65536).
  std::string receive_at_most(std::size_t limit, std::chrono::milliseconds timeout);

  int fd_ = -1;
};

}  // namespace sandbox::testing
