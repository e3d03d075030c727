// The programs under test: each chapter's C++ executable and its
// reference.py. The same behavioural tests run against both, so the C++
// chapters and the asyncio lesson provably agree.
#pragma once

#include "client.hpp"
#include "process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sandbox::testing {

/// One way to run a chapter.
struct program {
  std::string label;                 ///< "cpp" or "python": the test name's suffix.
  std::vector<std::string> command;  ///< argv before the options.

  /// The reference programs need python3; the tests skip them without it.
  [[nodiscard]] bool available() const { return !command.front().empty(); }
};

/// Names the program in test output instead of dumping its bytes.
inline void PrintTo(const program& prog, std::ostream* out) { *out << prog.label; }

inline program cpp_program(const char* executable) { return {"cpp", {executable}}; }
inline program python_program(const char* script) { return {"python", {SANDBOX_PYTHON3, script}}; }

inline std::string program_name(const ::testing::TestParamInfo<program>& info) {
  return info.param.label;
}

/// A server chapter, started on a free port of 127.0.0.1.
struct running_server {
  std::unique_ptr<child_process> process;
  unsigned short port = 0;
  std::string first_line;
};

/// Starts `server` with `options`; fails the test unless its first line is
/// "Serving on HOST:PORT".
inline running_server start_server(const program& server, std::vector<std::string> options = {}) {
  std::vector<std::string> argv = server.command;
  argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", "0"});
  argv.insert(argv.end(), options.begin(), options.end());
  running_server started;
  started.process = std::make_unique<child_process>(argv);
  started.first_line = started.process->read_line(20s).value_or("<no output>");
  started.port = parse_serving_port(started.first_line);
  EXPECT_NE(started.port, 0) << "first line: " << started.first_line
                             << "\nstderr: " << started.process->stderr_text();
  return started;
}

/// Runs `prog` with `options` to completion and returns its exit status
/// (nullopt when it had to be killed).
inline std::optional<int> run_to_end(const program& prog, std::vector<std::string> options,
                                     std::vector<std::string>* stdout_lines = nullptr,
                                     std::string* stderr_text = nullptr) {
  std::vector<std::string> argv = prog.command;
  argv.insert(argv.end(), options.begin(), options.end());
  child_process process{argv};
  auto lines = process.read_remaining_lines(20s);
  const auto status = process.wait(20s);
  if (stdout_lines != nullptr) {
    *stdout_lines = std::move(lines);
  }
  if (stderr_text != nullptr) {
    *stderr_text = process.stderr_text();
  }
  return status;
}

/// The server contract for a port already taken: `server`, started on the
/// port a first instance holds, exits with status 1 and one line on stderr
/// that names the cause.
inline void expect_a_port_in_use_fails_with_one_line(const program& server) {
  auto first = start_server(server);
  std::string errors;
  const auto status = run_to_end(server,
                                 {"--host", "127.0.0.1", "--port", std::to_string(first.port)},
                                 nullptr, &errors);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_NE(errors.find("ddress already in use"), std::string::npos) << errors;
}

/// The contract for clients that reset their connection (issue: 2200 error
/// lines in a churn run): with `--quiet` a server logs none of them and
/// prints "Clients that reset their connection: N" at exit; without it,
/// each one is an error line naming the client. `options` are the server's
/// own (e.g. --threads).
inline void expect_resets_are_counted_when_quiet(const program& server,
                                                 std::vector<std::string> options = {}) {
  using namespace std::chrono_literals;
  constexpr int resets = 3;
  for (const bool quiet : {true, false}) {
    auto with = options;
    if (quiet) {
      with.emplace_back("--quiet");
    }
    auto started = start_server(server, with);
    for (int i = 0; i < resets; ++i) {
      test_client crashing{"127.0.0.1", started.port};
      crashing.send("boom");
      EXPECT_EQ(crashing.receive_exactly(4), "boom");
      crashing.reset();  // RST: the server's next read fails with ECONNRESET.
    }
    // The server must have read the resets before the signal, which stops
    // its loop at once. Without --quiet the error lines say when; with it,
    // nothing does, so give it a generous moment (a loaded CI machine).
    if (quiet) {
      std::this_thread::sleep_for(1s);
    } else {
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::ranges::count(started.process->stderr_text(), '\n') < resets &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
      }
    }
    started.process->send_signal(SIGINT);
    const auto lines = started.process->read_remaining_lines();
    EXPECT_EQ(started.process->wait(), 0);
    const std::string errors = started.process->stderr_text();
    const auto logged = std::count(errors.begin(), errors.end(), '\n');
    const std::string count_line = "Clients that reset their connection: " + std::to_string(resets);
    if (quiet) {
      EXPECT_EQ(logged, 0) << errors;
      ASSERT_FALSE(lines.empty());
      EXPECT_EQ(lines.back(), count_line);
    } else {
      EXPECT_EQ(logged, resets) << errors;
      EXPECT_NE(errors.find("Connection reset by peer"), std::string::npos) << errors;
      EXPECT_EQ(std::ranges::find(lines, count_line), lines.end()) << "the count is for --quiet";
    }
  }
}

// A server with a connection limit learns that a slot is free only once it
// has read the end of that connection, a moment after the client closed it.
// So, as a real client would: connect, send `line`, and if the echo is not
// what comes back (the server's busy line is), try again, for up to 10 s.
// Returns how many attempts it took, or 0 if the line never came back.
inline int echoed_after_retries(unsigned short port, const std::string& line) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int attempt = 1; std::chrono::steady_clock::now() < deadline; ++attempt) {
    test_client client{"127.0.0.1", port};
    client.send(line);
    if (client.receive_exactly(line.size()) == line) {
      return attempt;
    }
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

}  // namespace sandbox::testing

/// Skips a reference-program case where python3 is missing.
#define SANDBOX_REQUIRE_AVAILABLE(prog) \
  if (!(prog).available()) GTEST_SKIP() << "python3 not found"
