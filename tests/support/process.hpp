// A child process for tests: start a real chapter executable (or a Python
// reference program), read its stdout line by line with a deadline, signal
// it, and collect its exit status. Every wait is bounded, so a hung program
// fails a test instead of hanging CTest.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sandbox::testing {

using namespace std::chrono_literals;

class child_process {
 public:
  /// Starts argv[0] with the given arguments; stdout is a pipe, stderr a
  /// temporary file read by stderr_text().
  explicit child_process(const std::vector<std::string>& argv);
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  /// Kills the process if it is still running.
  ~child_process();

  /// The next stdout line (without '\n'), or nullopt at end of output or
  /// when `timeout` passes first.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 10s);

  /// Every stdout line until the process closes its stdout.
  std::vector<std::string> read_remaining_lines(std::chrono::milliseconds timeout = 10s);

  /// Sends `signal_number` (SIGINT, SIGTERM...).
  void send_signal(int signal_number);

  /// Waits for exit; returns the exit status, 128 + signal when killed by a
  /// signal, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = 10s);

  /// True until the process has been seen to exit.
  bool running();

  /// The process id, for tools that watch the process (its CPU time).
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Its resident memory (VmRSS in /proc/PID/status) in KiB, or -1 once it
  /// is gone. Under AddressSanitizer this includes its quarantine of freed
  /// memory, so a bound on it means little there.
  [[nodiscard]] long resident_kib() const;

  /// What the process wrote to stderr so far.
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string pending_;
  std::optional<int> status_;
};

/// The port in a "Serving on HOST:PORT" line, or 0 if the line is not one.
unsigned short parse_serving_port(const std::string& line);

}  // namespace sandbox::testing
