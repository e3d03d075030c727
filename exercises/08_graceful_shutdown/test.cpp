// Exercise 08's tests: a graceful shutdown that loses no reply (README.md
// says what each one checks). The server runs with --work-time 0.5: each
// reply comes half a second after its line.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace sandbox::exercise {
namespace {

std::string status_text(const std::optional<int>& status) {
  return status ? "ended with status " + std::to_string(*status) : "was still running";
}

TEST(GracefulShutdown, RepliesAfterTheWork) {
  auto server = start_server({"--work-time", "0.5"});
  test_client client{"127.0.0.1", server.port};
  client.send("job\n");
  const auto reply = receive_line(client);
  EXPECT_TRUE(reply == "done: job\n") << "expected " << shown("done: job\n")
                                      << ", the program sent " << shown(reply);
}

TEST(GracefulShutdown, FinishesTheReplyInProgressOnSigterm) {
  auto server = start_server({"--work-time", "0.5"});
  test_client client{"127.0.0.1", server.port};
  client.send("job\n");
  std::this_thread::sleep_for(100ms);  // The work has begun.
  server.process->send_signal(SIGTERM);
  const auto reply = receive_line(client, 3s);
  EXPECT_TRUE(reply == "done: job\n")
      << "expected the reply being worked on, " << shown("done: job\n")
                                  << ", to arrive after SIGTERM, the program sent " << shown(reply);
  EXPECT_TRUE(closed_within(client, 2s))
      << "expected the program to close the connection once the reply was sent, it did not";
  const auto status = server.process->wait(3s);
  EXPECT_TRUE(status == 0) << "expected exit status 0 after a graceful shutdown, the program "
                           << status_text(status);
}

TEST(GracefulShutdown, RefusesNewConnectionsWhileFinishing) {
  auto server = start_server({"--work-time", "0.5"});
  test_client busy{"127.0.0.1", server.port};
  busy.send("job\n");
  std::this_thread::sleep_for(100ms);
  server.process->send_signal(SIGTERM);
  std::this_thread::sleep_for(100ms);
  bool connected = false;
  try {
    test_client late{"127.0.0.1", server.port};
    connected = true;
  } catch (const std::exception&) {
    // Refused: the program no longer listens.
  }
  EXPECT_FALSE(connected) << "expected a connection attempt after SIGTERM to be refused, "
                             "the program still listened";
  const auto reply = receive_line(busy, 3s);
  EXPECT_TRUE(reply == "done: job\n") << "expected the busy client's reply all the same, "
                                      << "the program sent " << shown(reply);
}

TEST(GracefulShutdown, DoesNotWaitForAnIdleConnection) {
  auto server = start_server({"--work-time", "0.5"});
  test_client idle{"127.0.0.1", server.port};
  std::this_thread::sleep_for(100ms);
  server.process->send_signal(SIGTERM);
  const auto status = server.process->wait(2s);
  EXPECT_TRUE(status == 0)
      << "expected exit status 0 within 2 s of SIGTERM with only an idle client "
                          "connected, the program "
                       << status_text(status);
  EXPECT_TRUE(closed_within(idle, 1s)) << "expected the idle client's connection closed";
}

}  // namespace
}  // namespace sandbox::exercise
