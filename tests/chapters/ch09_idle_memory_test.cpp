// Chapter 09, memory: an idle connection costs the server at most 8 KiB of
// resident memory. It once cost 68-83 KiB, nearly all of it the transport's
// 64 KiB read buffer, zero-filled when the connection opened; the transport
// now reads into one buffer per thread (common/src/transport.cpp).
// bench/idle_memory.py measures the same at 10,000 connections.
#include "client.hpp"
#include "programs.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <iostream>
#include <thread>

namespace sandbox::testing {
namespace {

const program robust_server{"Cpp", {executables::ch09_robust_server}};

constexpr std::size_t idle_clients = 2000;
constexpr double max_kib_per_connection = 8;

// Raises this process's soft limit on descriptors to `wanted` if the hard
// limit allows; the server, started afterwards, inherits it.
bool raise_descriptor_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return false;
  }
  if (limit.rlim_cur >= wanted) {
    return true;
  }
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
    return false;
  }
  limit.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

std::size_t open_descriptors(pid_t pid) {
  std::size_t count = 0;
  if (DIR* folder = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (const dirent* entry = ::readdir(folder)) {
      count += entry->d_name[0] != '.';
    }
    ::closedir(folder);
  }
  return count;
}

// VmRSS once two readings 200 ms apart agree: the server has finished
// setting up what it accepted. A loaded machine just takes longer.
long settled_resident_kib(const child_process& process) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  long last = process.resident_kib();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    const long now = process.resident_kib();
    if (now == last) {
      break;
    }
    last = now;
  }
  return last;
}

TEST(IdleMemory, AnIdleConnectionCostsTheServerAtMost8KiB) {
  if (!raise_descriptor_limit(idle_clients + 256)) {
    GTEST_SKIP() << "the descriptor limit is below " << idle_clients + 256;
  }
  auto server = launch_server(robust_server, {"--quiet", "--max-connections", "4000",
                                             "--idle-timeout", "600"});
  ASSERT_GT(server.port, 0);
  const pid_t pid = server.process->pid();
  {
    // One-time costs (the loop thread's read buffer, Asio's pools) are not
    // the idle connections' to pay: a first client sets them up and leaves.
    test_client warm_up{"127.0.0.1", server.port};
    ASSERT_EQ(warm_up.exchange("warm-up\n", 8), "warm-up\n");
  }
  std::this_thread::sleep_for(200ms);
  const std::size_t descriptors = open_descriptors(pid);
  const long before = settled_resident_kib(*server.process);

  std::vector<test_client> clients;
  clients.reserve(idle_clients);
  for (std::size_t i = 1; i <= idle_clients; ++i) {
    clients.emplace_back("127.0.0.1", server.port);
    if (i % 250 == 0 || i == idle_clients) {
      // In batches, so that the listen backlog never overflows.
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      while (open_descriptors(pid) < descriptors + i &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
      }
      ASSERT_GE(open_descriptors(pid), descriptors + i) << "the server did not accept them all";
    }
  }
  const long after = settled_resident_kib(*server.process);
  const double per_connection = static_cast<double>(after - before) / idle_clients;
  std::cout << "[ figures  ] " << idle_clients << " idle connections: server RSS " << before
            << " -> " << after << " KiB, " << per_connection << " KiB per connection\n";
  // Still served: the newest one gets its echo.
  EXPECT_EQ(clients.back().exchange("still there?\n", 13), "still there?\n");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Shadow memory (and ASan's redzones around every allocation) multiply
  // what each allocation costs: the figure above means little there.
  GTEST_SKIP() << "RSS under a sanitizer is not the program's: bound checked in normal builds";
#else
  EXPECT_LE(per_connection, max_kib_per_connection) << "KiB of server memory per idle connection";
#endif
}

}  // namespace
}  // namespace sandbox::testing
