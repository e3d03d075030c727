// Exercise 10's tests: a heartbeat beside the echo (README.md says what each
// one checks). The server runs with --interval 0.2.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sandbox::exercise {
namespace {

const std::string heartbeat = "heartbeat\n";

// Reads lines for `duration`; returns how many heartbeats came, and puts
// every other line in `others`.
int heartbeats_during(test_client& client, std::chrono::milliseconds duration,
                      std::vector<std::string>* others = nullptr) {
  const auto end = std::chrono::steady_clock::now() + duration;
  int count = 0;
  while (std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    const auto line = receive_line(client, std::max(left, 1ms));
    if (line == heartbeat) {
      ++count;
    } else if (!line.empty() && others != nullptr) {
      others->push_back(line);
    }
  }
  return count;
}

TEST(Heartbeat, EchoesEachLine) {
  auto server = start_server({"--interval", "0.2"});
  test_client client{"127.0.0.1", server.port};
  client.send("hello\n");
  std::vector<std::string> others;
  heartbeats_during(client, 500ms, &others);
  const std::string first = others.empty() ? "" : others.front();
  EXPECT_TRUE(first == "hello\n") << "expected " << shown("hello\n")
                                  << " back among the heartbeats, the program sent "
                                  << shown(first);
}

TEST(Heartbeat, SendsAHeartbeatEveryIntervalToAnIdleClient) {
  auto server = start_server({"--interval", "0.2"});
  test_client client{"127.0.0.1", server.port};
  const int count = heartbeats_during(client, 1100ms);
  EXPECT_TRUE(count >= 3) << "expected about 5 lines " << shown(heartbeat)
                          << " in 1.1 s with --interval 0.2, the program sent " << count;
  EXPECT_TRUE(count <= 6) << "expected about 5 heartbeats in 1.1 s, the program sent " << count;
}

TEST(Heartbeat, KeepsBeatingWhileTheClientTalks) {
  auto server = start_server({"--interval", "0.2"});
  test_client client{"127.0.0.1", server.port};
  int count = 0;
  std::vector<std::string> echoes;
  for (int i = 0; i < 10; ++i) {
    client.send("line " + std::to_string(i) + "\n");
    count += heartbeats_during(client, 110ms, &echoes);
  }
  EXPECT_TRUE(echoes.size() == 10U) << "expected all 10 lines back, the program sent "
                                    << echoes.size();
  EXPECT_TRUE(count >= 3) << "expected about 5 heartbeats in 1.1 s while the client sent a line "
                         "every 0.11 s, the program sent "
                      << count;
}

TEST(Heartbeat, ClosesWhenTheClientCloses) {
  auto server = start_server({"--interval", "0.2"});
  test_client client{"127.0.0.1", server.port};
  client.shutdown_write();
  EXPECT_TRUE(closed_within(client, 1s))
      << "expected the program to close the connection (and stop its heartbeats) once the "
         "client had closed its side, it kept it open";
}

}  // namespace
}  // namespace sandbox::exercise
