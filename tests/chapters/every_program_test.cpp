// Contracts every program keeps on its command line, checked on each real
// executable: what a script or a tired reader types wrong gets one clear
// line and status 2, never a silently different behaviour.
#include "programs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace sandbox::testing {
namespace {

// Every registered C++ program that takes --port (all but chapter 05's race
// demo; the C baseline reads its own options): a program added to the build
// is checked here with no edit.
std::vector<program> every_program_with_a_port() {
  std::vector<program> programs;
  for (const auto& registered : registered_programs) {
    if (registered.cpp && std::string_view{registered.help_names}.find("--port") !=
                              std::string_view::npos) {
      programs.push_back(cpp_program(registered.path));
    }
  }
  return programs;
}

// `--port ''` (or `--port $UNSET` in a script) used to be read as port 0:
// a server listened on some random port, a client tried port 0.
TEST(EveryProgram, RefusesAnEmptyPortWithOneLineAndStatusTwo) {
  const auto every_program = every_program_with_a_port();
  ASSERT_GE(every_program.size(), 10U) << "chapters 01 to 10 at least";
  for (const auto& prog : every_program) {
    std::string errors;
    std::vector<std::string> options = {"--host", "127.0.0.1", "--port", ""};
    if (prog.command.front() == executables::ch10_troublemaker) {
      options.insert(options.end(), {"--mode", "idle"});
    }
    EXPECT_EQ(run_to_end(prog, options, nullptr, &errors), 2) << prog.command.front();
    // A server may listen on port 0 (any free port); a client may not.
    EXPECT_NE(errors.find("--port: Value '' is not a port number from "), std::string::npos)
        << prog.command.front() << ": " << errors;
  }
}

}  // namespace
}  // namespace sandbox::testing
