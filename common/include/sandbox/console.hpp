/// \file
/// \brief `print()` for many threads: whole lines, flushed as they are written.
#pragma once

#include <sstream>
#include <string_view>

namespace sandbox {

namespace detail {
/// Writes `line` and a newline to stdout (`to_stderr == false`) or stderr
/// under one process-wide lock, then flushes.
void write_line(bool to_stderr, std::string_view line);
}  // namespace detail

/// Python's `print(*args, sep='')` with `flush=True`, safe from any thread.
///
/// The arguments are formatted with `operator<<` into one string first, and
/// the finished line is written under a lock, so lines printed by several
/// threads never interleave mid-line. Each line is flushed at once: when
/// stdout is a pipe (a test, `| tee`), the reader sees it as it happens rather
/// than when a 4 KiB buffer fills up.
template <typename... Args>
void println(const Args&... args) {
  std::ostringstream line;
  (line << ... << args);
  detail::write_line(false, line.view());
}

/// println() for stderr: diagnostics that must not mix with the program's
/// output, which tests compare line by line.
template <typename... Args>
void eprintln(const Args&... args) {
  std::ostringstream line;
  (line << ... << args);
  detail::write_line(true, line.view());
}

}  // namespace sandbox
