// Exercise 04's tests: a line counter on a pool of threads (README.md says
// what each one checks). In the tsan preset the program runs under
// ThreadSanitizer, which ends it at the first data race it sees.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace sandbox::exercise {
namespace {

constexpr int clients = 4;
constexpr int lines_each = 100;

// Each client sends its lines one at a time, in parallel with the others,
// and keeps the numbers it got back; -1 for a reply that was not a number.
std::vector<long> numbers_from_clients(unsigned short port) {
  std::vector<std::vector<long>> per_client(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto& numbers = per_client[static_cast<std::size_t>(c)];
      // No exception may leave a thread (std::terminate): a program that
      // died (ThreadSanitizer ends it at a race) shows as missing numbers.
      try {
        test_client client{"127.0.0.1", port};
        client.no_delay();
        for (int i = 0; i < lines_each; ++i) {
          client.send("line\n");
          const auto reply = receive_line(client);
          numbers.push_back(reply.empty() ? -1 : std::stol(reply));
        }
      } catch (const std::exception&) {
        numbers.resize(lines_each, -1);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::vector<long> all;
  for (const auto& numbers : per_client) {
    all.insert(all.end(), numbers.begin(), numbers.end());
  }
  std::ranges::sort(all);
  return all;
}

// What the program wrote on stderr, for a failure message: in the tsan
// preset, ThreadSanitizer's report of the race.
std::string its_stderr(const sandbox::testing::running_server& server) {
  const auto text = server.process->stderr_text();
  return text.empty() ? "" : "\nThe program's stderr:\n" + text;
}

TEST(LineCounter, GivesEveryLineItsOwnNumber) {
  auto server = start_server({"--threads", "4"});
  const auto numbers = numbers_from_clients(server.port);
  std::vector<long> expected(clients * lines_each);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    expected[i] = static_cast<long>(i) + 1;
  }
  const auto first_wrong = std::ranges::mismatch(numbers, expected).in1;
  EXPECT_TRUE(numbers == expected)
      << "expected the 400 lines of 4 parallel clients to be numbered 1 to 400, once each; "
      << (first_wrong == numbers.end() ? "the numbers ran out"
                                       : "the program gave " + std::to_string(*first_wrong) +
                                             " where " +
                                             std::to_string(first_wrong - numbers.begin() + 1) +
                                             " belonged")
      << its_stderr(server);
}

TEST(LineCounter, PrintsTheTotalAfterSigterm) {
  auto server = start_server({"--threads", "4"});
  numbers_from_clients(server.port);
  server.process->send_signal(SIGTERM);
  const auto lines = server.process->read_remaining_lines(5s);
  const auto status = server.process->wait(5s);
  const std::string last = lines.empty() ? "" : lines.back();
  EXPECT_TRUE(last == "Lines counted: 400")
      << "expected the last line to be " << shown("Lines counted: 400") << ", the program printed "
      << shown(last) << its_stderr(server);
  EXPECT_TRUE(status == 0) << "expected exit status 0 after SIGTERM, the program "
                           << (status ? "ended with " + std::to_string(*status) : "kept running");
}

}  // namespace
}  // namespace sandbox::exercise
