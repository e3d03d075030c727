// sandbox::read_cpu_time(): real processes, including one whose name would
// trip a naive parser of /proc/PID/stat.
#include "sandbox/cpu_time.hpp"

#include "process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <time.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

TEST(CpuTime, GrowsWhileThisProcessComputes) {
  const auto before = sandbox::read_own_cpu_time();
  ASSERT_TRUE(before);
  // Busy until the kernel's own process clock says 200 ms of CPU were used
  // (a few 10 ms ticks). Counting wall time instead fails on a loaded
  // machine, where 200 ms of wall time may hold far less CPU.
  volatile double sink = 0;
  const auto process_cpu = [] {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return std::chrono::seconds{now.tv_sec} + std::chrono::nanoseconds{now.tv_nsec};
  };
  const auto until = process_cpu() + 200ms;
  while (process_cpu() < until) {
    sink = sink + std::sqrt(static_cast<double>(sink) + 2.0);
  }
  const auto after = sandbox::read_own_cpu_time();
  ASSERT_TRUE(after);
  const auto used = *after - *before;
  EXPECT_GE(used.total(), 100ms);
  EXPECT_LE(used.total(), 2s);
  EXPECT_EQ(used.total(), used.user + used.system);
}

TEST(CpuTime, ReadsAnotherProcessEvenWithBracketsInItsName) {
  // comm, the second field of /proc/PID/stat, is the program's name in
  // brackets, and a name may itself hold ") (" and spaces.
  const auto dir = std::filesystem::temp_directory_path() / ("cpu_time_test_" +
                                                             std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto tricky = dir / "a) (b c";
  std::filesystem::copy_file("/bin/sleep", tricky,
                             std::filesystem::copy_options::overwrite_existing);
  {
    sandbox::testing::child_process sleeper{{tricky.string(), "5"}};
    const auto time = sandbox::read_cpu_time(sleeper.pid());
    ASSERT_TRUE(time);
    EXPECT_GE(time->user.count(), 0);
    EXPECT_LT(time->total(), 1s);  // Sleeping costs next to nothing.
  }
  std::filesystem::remove_all(dir);
}

TEST(CpuTime, IsEmptyForAProcessThatDoesNotExist) {
  EXPECT_FALSE(sandbox::read_cpu_time(-1));
  EXPECT_FALSE(sandbox::read_cpu_time(0x3fffffff));
}

}  // namespace
