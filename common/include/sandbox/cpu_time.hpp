/// \file
/// \brief How much CPU a process has used, read from Linux's `/proc`.
#pragma once

#include <chrono>
#include <optional>
#include <sys/types.h>

namespace sandbox {

/// CPU time a process has used since it started, all its threads together.
struct cpu_time {
  std::chrono::nanoseconds user{0};    ///< Running the program's own code.
  std::chrono::nanoseconds system{0};  ///< In the kernel on its behalf: syscalls, the TCP stack.

  /// User plus system time.
  [[nodiscard]] std::chrono::nanoseconds total() const noexcept { return user + system; }

  /// The time used between `earlier` and this reading.
  [[nodiscard]] cpu_time operator-(const cpu_time& earlier) const noexcept {
    return {user - earlier.user, system - earlier.system};
  }
};

/// Reads `utime` and `stime` of process `pid` from `/proc/PID/stat`, or
/// `std::nullopt` if there is no such process (or no /proc). The kernel
/// counts in clock ticks, usually 10 ms, so measure over seconds, not
/// milliseconds.
///
/// This is the figure that stays honest when the load generator, not the
/// server, is the bottleneck: requests per second then measure the load
/// generator, but CPU time per request is still the server's own cost.
[[nodiscard]] std::optional<cpu_time> read_cpu_time(pid_t pid);

/// read_cpu_time() of the calling process.
[[nodiscard]] std::optional<cpu_time> read_own_cpu_time();

}  // namespace sandbox
