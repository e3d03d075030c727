// Contracts every program keeps on its command line, checked on each real
// executable: what a script or a tired reader types wrong gets one clear
// line and status 2, never a silently different behaviour.
#include "programs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sandbox::testing {
namespace {

const std::vector<program> every_program = {
    cpp_program(SANDBOX_CH01_EXE), cpp_program(SANDBOX_CH02_EXE), cpp_program(SANDBOX_CH03_EXE),
    cpp_program(SANDBOX_CH04_EXE), cpp_program(SANDBOX_CH05_EXE), cpp_program(SANDBOX_CH06_EXE),
    cpp_program(SANDBOX_CH07_EXE), cpp_program(SANDBOX_CH08_EXE), cpp_program(SANDBOX_CH09_EXE),
    cpp_program(SANDBOX_CH10_EXE)};

// `--port ''` (or `--port $UNSET` in a script) used to be read as port 0:
// a server listened on some random port, a client tried port 0.
TEST(EveryProgram, RefusesAnEmptyPortWithOneLineAndStatusTwo) {
  for (const auto& prog : every_program) {
    std::string errors;
    std::vector<std::string> options = {"--host", "127.0.0.1", "--port", ""};
    if (prog.command.front() == SANDBOX_CH10_EXE) {
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
