/// \file
/// \brief How sandbox/cpu_time.hpp reads a process's CPU time from `/proc`.
#include "sandbox/cpu_time.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace sandbox {

namespace {

std::optional<cpu_time> parse_stat(const std::string& path) {
  std::ifstream file{path};
  std::string line;
  if (!std::getline(file, line)) {
    return std::nullopt;
  }
  // "PID (COMM) STATE PPID ...": COMM may itself hold spaces and brackets,
  // so the fields are counted from the last ')'. utime and stime are fields
  // 14 and 15 of proc(5), the 12th and 13th after the closing bracket.
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields{line.substr(close + 1)};
  std::string skipped;
  for (int i = 0; i < 11; ++i) {
    fields >> skipped;
  }
  long long user_ticks = 0;
  long long system_ticks = 0;
  if (!(fields >> user_ticks >> system_ticks)) {
    return std::nullopt;
  }
  static const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const auto to_ns = [](long long ticks) {
    return std::chrono::nanoseconds{ticks * 1'000'000'000LL / ticks_per_second};
  };
  return cpu_time{to_ns(user_ticks), to_ns(system_ticks)};
}

}  // namespace

std::optional<cpu_time> read_cpu_time(pid_t pid) {
  return parse_stat("/proc/" + std::to_string(pid) + "/stat");
}

std::optional<cpu_time> read_own_cpu_time() { return parse_stat("/proc/self/stat"); }

}  // namespace sandbox
