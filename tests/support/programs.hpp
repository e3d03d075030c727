// The programs under test: each chapter's C++ executable, its reference.py,
// and for the lesson's chapters (01-03) their plain-Asio twin (plain_asio.cpp).
// The same behavioural tests run against all of them, so the C++ chapters,
// Asio without our library, and the asyncio lesson provably agree. The paths
// come from the generated registered_programs.hpp (see tests/CMakeLists.txt).
#pragma once

#include "client.hpp"
#include "process.hpp"
#include "registered_programs.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace sandbox::testing {

/// One way to run a chapter.
struct program {
  std::string label;                 ///< "Cpp", "PlainAsio" or "Python": the test name's suffix.
  std::vector<std::string> command;  ///< argv before the options.

  /// The reference programs need python3; the tests skip them without it.
  [[nodiscard]] bool available() const { return !command.front().empty(); }
};

/// Names the program in test output instead of dumping its bytes.
inline void PrintTo(const program& prog, std::ostream* out) { *out << prog.label; }

/// The C++ executable at `executable` (one of executables::NAME).
program cpp_program(const char* executable);
/// A chapter's plain-Asio twin at `executable` (one of executables::NAME).
program plain_asio_program(const char* executable);
/// The reference.py at `script` (one of references::NAME), run by python3.
program python_program(const char* script);

/// A parameterised test's name suffix: the program's label.
std::string program_name(const ::testing::TestParamInfo<program>& info);

/// A server chapter, started on a free port of 127.0.0.1.
struct running_server {
  std::unique_ptr<child_process> process;
  unsigned short port = 0;
  std::string first_line;
};

/// Starts `server` with `options`; fails the test unless its first line is
/// "Serving on HOST:PORT". (Not sandbox::start_server, the library's
/// coroutine that serves a protocol in this process: this one starts a
/// program in another process.)
running_server launch_server(const program& server, std::vector<std::string> options = {});

/// Runs `prog` with `options` to completion and returns its exit status
/// (nullopt when it had to be killed).
std::optional<int> run_to_end(const program& prog, std::vector<std::string> options,
                              std::vector<std::string>* stdout_lines = nullptr,
                              std::string* stderr_text = nullptr);

/// The server contract for a port already taken: `server`, started on the
/// port a first instance holds, exits with status 1 and one line on stderr
/// that names the cause.
void expect_a_port_in_use_fails_with_one_line(const program& server);

/// The contract for clients that reset their connection (issue: 2200 error
/// lines in a churn run): with `--quiet` a server logs none of them and
/// prints "Clients that reset their connection: N" at exit; without it,
/// each one is an error line naming the client. `options` are the server's
/// own (e.g. --threads).
void expect_resets_are_counted_when_quiet(const program& server,
                                          std::vector<std::string> options = {});

/// A server with a connection limit learns that a slot is free only once it
/// has read the end of that connection, a moment after the client closed it.
/// So, as a real client would: connect, send `line`, and if the echo is not
/// what comes back (the server's busy line is), try again, for up to 10 s.
/// Returns how many attempts it took, or 0 if the line never came back.
int echoed_after_retries(unsigned short port, const std::string& line);

}  // namespace sandbox::testing

/// Skips a reference-program case where python3 is missing.
#define SANDBOX_REQUIRE_AVAILABLE(prog) \
  if (!(prog).available()) GTEST_SKIP() << "python3 not found"
