// What code in this process writes to stdout or stderr, captured for a test.
// The file descriptor itself is redirected (dup and dup2 onto a temporary
// file), so whatever writes to it is caught: std::cout, printf, write(2).
// GoogleTest has such a helper too, but in ::testing::internal, which is
// not its public interface and may change under us.
//
// GoogleTest prints a failed assertion to stdout at once: keep assertions
// out of `code` (return what it computed, check it after), or their
// messages end up in the capture instead of the test's output.
#pragma once

#include <functional>
#include <string>

namespace sandbox::testing {

/// Runs `code` with stdout redirected and returns what it printed.
std::string captured_stdout(const std::function<void()>& code);

/// Runs `code` with stderr redirected and returns what it printed.
std::string captured_stderr(const std::function<void()>& code);

}  // namespace sandbox::testing
