// What every exercise's test shares. The tests are written for the learner
// who reads their failures: each check says what was expected and what the
// program did ("expected ..., the program ..."), and every wait is short and
// bounded, so an unfinished exercise fails in seconds instead of hanging.
//
// The program under test is the first argument of the test binary, or
// SANDBOX_EXERCISE_PROGRAM: the same tests run against the starter, the
// learner's work and the solution (exercises/CMakeLists.txt).
#pragma once

#include "client.hpp"
#include "process.hpp"
#include "programs.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sandbox::exercise {

using namespace std::chrono_literals;
using namespace std::string_literals;
using sandbox::testing::child_process;
using sandbox::testing::test_client;

/// The executable under test.
const std::string& program_path();

/// Starts the program as a server on a free port of 127.0.0.1 with
/// `options`; fails the test unless its first line is "Serving on HOST:PORT".
sandbox::testing::running_server start_server(std::vector<std::string> options = {});

/// Starts the program with exactly `options` (a client, say).
std::unique_ptr<child_process> start(std::vector<std::string> options);

/// What the client received within `timeout`, up to and including the first
/// '\n' (or `count` bytes when `count` is given), or what had arrived when
/// the time ran out or the connection ended. Never throws: a test compares
/// the result with what it expected and says what came instead.
std::string receive_line(test_client& client, std::chrono::milliseconds timeout = 2s);
std::string receive_bytes(test_client& client, std::size_t count,
                          std::chrono::milliseconds timeout = 2s);

/// True if the server closed the connection (end of file or a reset) within
/// `timeout`; bytes still arriving before the end are skipped.
bool closed_within(test_client& client, std::chrono::milliseconds timeout);

/// `text` quoted, with control characters and line ends shown as escapes,
/// so "expected "HELLO\n"" reads as it was sent. "nothing" when empty.
std::string shown(const std::string& text);

/// A one-connection TCP server on 127.0.0.1 for the client exercises: the
/// test plays the server, with every wait bounded.
class fake_server {
 public:
  fake_server();
  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;
  ~fake_server();

  /// The port the client is to connect to.
  [[nodiscard]] unsigned short port() const noexcept { return port_; }
  /// Waits for the client to connect; false if it did not within `timeout`.
  bool accept(std::chrono::milliseconds timeout = 2s);
  /// The next line the client sent (with its '\n'), or what came before the
  /// time ran out or the client closed ("" at once at end of file).
  std::string receive_line(std::chrono::milliseconds timeout = 2s);
  /// True if the client closed its side (end of file) within `timeout`.
  bool client_closed_within(std::chrono::milliseconds timeout);
  /// Sends `data` to the client, all of it.
  void send(const std::string& data);
  /// Closes the connection: the client reads end of file.
  void close();

 private:
  int listener_ = -1;
  int connection_ = -1;
  unsigned short port_ = 0;
  std::string pending_;
};

}  // namespace sandbox::exercise
