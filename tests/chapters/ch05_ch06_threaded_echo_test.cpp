// Chapters 05 and 06, the echo server on several threads: a pool of threads
// sharing one io_context (05), and an io_context per thread (06). Both must
// behave exactly alike from outside, so one suite runs against both: every
// client gets its own bytes back, in order, with hundreds at once; the
// shared counters are exact; a signal ends them cleanly with clients still
// connected.
#include "client.hpp"
#include "programs.hpp"

#include <csignal>
#include <numeric>
#include <regex>
#include <thread>

namespace sandbox::testing {
namespace {

class ThreadedEchoServer : public ::testing::TestWithParam<program> {};

// "[thread 2] connection 17 closed" -> 2; 0 if the line has no such prefix.
int thread_of(const std::string& line) {
  std::smatch match;
  static const std::regex prefix{R"(^\[thread (\d+)\] )"};
  return std::regex_search(line, match, prefix) ? std::stoi(match[1]) : 0;
}

// Reads lines until `count` of them end with `suffix`; returns every line read.
std::vector<std::string> read_until_count(child_process& process, const std::string& suffix,
                                          int count) {
  std::vector<std::string> lines;
  int seen = 0;
  while (seen < count) {
    const auto line = process.read_line(30s);
    if (!line) {
      ADD_FAILURE() << "only " << seen << " of " << count << " lines ending in '" << suffix
                    << "'";
      break;
    }
    lines.push_back(*line);
    if (line->ends_with(suffix)) {
      ++seen;
    }
  }
  return lines;
}

// A payload that differs for every client and every offset, so a byte that
// went to the wrong client, or out of order, is caught.
std::string payload_for(std::size_t client, std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    payload[i] = static_cast<char>((client * 131 + i * 7) % 251);
  }
  return payload;
}

TEST_P(ThreadedEchoServer, SaysWhereItServesThenHowManyThreads) {
  auto server = launch_server(GetParam(), {"--threads", "3"});
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  EXPECT_EQ(server.process->read_line(), "Running on 3 threads");
}

TEST_P(ThreadedEchoServer, HundredsOfClientsAtOnceEachGetTheirOwnBytesInOrder) {
  constexpr std::size_t clients = 300;
  constexpr std::size_t rounds = 8;
  constexpr std::size_t chunk = 1024;
  auto server = launch_server(GetParam(), {"--quiet", "--threads", "4"});
  std::vector<test_client> connections;
  for (std::size_t i = 0; i < clients; ++i) {
    connections.emplace_back("127.0.0.1", server.port);
  }
  // Four test threads, each driving a quarter of the clients round by
  // round: every connection is open and active at the same time.
  std::vector<std::string> failures(4);
  {
    std::vector<std::jthread> drivers;
    for (std::size_t t = 0; t < 4; ++t) {
      drivers.emplace_back([&, t] {
        try {
          for (std::size_t round = 0; round < rounds; ++round) {
            for (std::size_t i = t; i < clients; i += 4) {
              connections[i].send(payload_for(i, rounds * chunk).substr(round * chunk, chunk));
            }
            for (std::size_t i = t; i < clients; i += 4) {
              if (connections[i].receive_exactly(chunk, 30s) !=
                  payload_for(i, rounds * chunk).substr(round * chunk, chunk)) {
                failures[t] = "client " + std::to_string(i) + " got other bytes in round " +
                              std::to_string(round);
                return;
              }
            }
          }
        } catch (const std::exception& error) {
          failures[t] = error.what();
        }
      });
    }
  }
  for (const auto& failure : failures) {
    EXPECT_EQ(failure, "");
  }
}

TEST_P(ThreadedEchoServer, CountersAreExactAfterAKnownLoad) {
  constexpr std::size_t clients = 200;
  auto server = launch_server(GetParam(), {"--threads", "4"});
  EXPECT_EQ(server.process->read_line(), "Running on 4 threads");
  std::vector<test_client> connections;
  std::size_t sent = 0;
  for (std::size_t i = 0; i < clients; ++i) {
    connections.emplace_back("127.0.0.1", server.port);
  }
  // Short printable messages of different lengths: the server prints each
  // one, and all its lines must fit in the pipe until the test reads them.
  const auto message = [](std::size_t i) { return std::string(1 + i % 37, static_cast<char>('a' + i % 26)); };
  for (std::size_t i = 0; i < clients; ++i) {
    connections[i].send(message(i));
    sent += message(i).size();
  }
  for (std::size_t i = 0; i < clients; ++i) {
    EXPECT_EQ(connections[i].receive_exactly(message(i).size()), message(i));
    connections[i].shutdown_write();
    EXPECT_EQ(connections[i].receive_until_eof(), "");
  }
  // The server has closed every connection once it printed each "closed".
  const auto lines = read_until_count(*server.process, " closed", static_cast<int>(clients));
  for (const auto& line : lines) {
    EXPECT_GE(thread_of(line), 1) << line;
    EXPECT_LE(thread_of(line), 4) << line;
  }
  server.process->send_signal(SIGTERM);
  const auto rest = server.process->read_remaining_lines();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back(), "Connections: 200 total, 0 open; bytes echoed: " + std::to_string(sent));
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ThreadedEchoServer, ShowsEachConnectionsHandlersOnPoolThreadsInOrder) {
  auto server = launch_server(GetParam(), {"--threads", "2"});
  EXPECT_EQ(server.process->read_line(), "Running on 2 threads");
  test_client client{"127.0.0.1", server.port};
  for (const char* key : {"a", "b", "c", "d"}) {
    client.send(key);
    EXPECT_EQ(client.receive_exactly(1), key);
  }
  client.shutdown_write();
  EXPECT_EQ(client.receive_until_eof(), "");
  const auto lines = read_until_count(*server.process, " closed", 1);
  const std::vector<std::string> expected{"connection 1 opened", "connection 1: b'a'",
                                          "connection 1: b'b'", "connection 1: b'c'",
                                          "connection 1: b'd'", "connection 1 closed"};
  ASSERT_EQ(lines.size(), expected.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const int thread = thread_of(lines[i]);
    EXPECT_TRUE(thread == 1 || thread == 2) << lines[i];
    EXPECT_EQ(lines[i], "[thread " + std::to_string(thread) + "] " + expected[i]);
  }
}

TEST_P(ThreadedEchoServer, ASignalEndsItWithClientsStillConnected) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = launch_server(GetParam(), {"--quiet", "--threads", "2"});
    std::vector<test_client> connections;
    for (int i = 0; i < 5; ++i) {
      connections.emplace_back("127.0.0.1", server.port);
      connections.back().send("hello");
      EXPECT_EQ(connections.back().receive_exactly(5), "hello");
    }
    server.process->send_signal(signal_number);
    const auto rest = server.process->read_remaining_lines();
    EXPECT_EQ(server.process->wait(), 0) << "signal " << signal_number;
    ASSERT_GE(rest.size(), 2U);
    // With --quiet the resets' count follows the counters.
    EXPECT_EQ(rest[rest.size() - 2], "Connections: 5 total, 5 open; bytes echoed: 25");
    EXPECT_EQ(rest.back(), "Clients that reset their connection: 0");
    for (auto& connection : connections) {
      // Closed by the server's exit: end of file (or a reset), never a hang.
      try {
        EXPECT_EQ(connection.receive_until_eof(5s), "");
      } catch (const std::exception& error) {
        EXPECT_NE(std::string{error.what()}.find("reset"), std::string::npos) << error.what();
      }
    }
    EXPECT_EQ(server.process->stderr_text(), "");
  }
}

TEST_P(ThreadedEchoServer, ABadThreadCountExitsWithStatusTwo) {
  for (const char* threads : {"0", "-1", "many", "257"}) {
    std::string errors;
    EXPECT_EQ(run_to_end(GetParam(), {"--threads", threads}, nullptr, &errors), 2) << threads;
    EXPECT_NE(errors.find("--threads"), std::string::npos) << errors;
  }
}

TEST_P(ThreadedEchoServer, APortInUseFailsWithOneLine) {
  expect_a_port_in_use_fails_with_one_line(GetParam());
}

TEST_P(ThreadedEchoServer, WithQuietAResetIsCountedNotLogged) {
  expect_resets_are_counted_when_quiet(GetParam(), {"--threads", "2"});
}

INSTANTIATE_TEST_SUITE_P(
    Chapters05And06, ThreadedEchoServer,
    ::testing::Values(program{"ThreadPool", {executables::ch05_thread_pool_server}},
                      program{"ContextPerThread", {executables::ch06_context_per_thread_server}}),
    program_name);

// The deliberate races of chapter 05's race_demo.cpp: the control run is
// exact (the TSan build proves it clean; the report itself is a CTest test
// of the tsan build, see tests/CMakeLists.txt).
TEST(RaceDemo, TheControlRunCountsEveryByte) {
  std::vector<std::string> lines;
  EXPECT_EQ(run_to_end(program{"Cpp", {executables::ch05_race_demo}},
                       {"--mistake", "none", "--clients", "16", "--messages", "200"}, &lines),
            0);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "16 clients sent 320000 bytes; the server counted 320000");
}

TEST(RaceDemo, AnUnknownMistakeIsABadOption) {
  std::string errors;
  EXPECT_EQ(run_to_end(program{"Cpp", {executables::ch05_race_demo}}, {"--mistake", "oops"},
                       nullptr, &errors),
            2);
  EXPECT_NE(errors.find("--mistake"), std::string::npos) << errors;
}

}  // namespace
}  // namespace sandbox::testing
