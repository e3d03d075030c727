// Exercise 03's tests: a line client (README.md says what each one checks).
// Here the test is the server: it listens on a free port, starts the client
// with --port, and plays its part byte by byte.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sandbox::exercise {
namespace {

// All the client printed, one line each, for a failure message.
std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) {
    text += line + "\n";
  }
  return shown(text);
}

std::vector<std::string> client_options(const fake_server& server,
                                        std::vector<std::string> messages) {
  std::vector<std::string> options = {"--host", "127.0.0.1", "--port",
                                      std::to_string(server.port())};
  for (auto& message : messages) {
    options.insert(options.end(), {"--message", message});
  }
  return options;
}

TEST(LineClient, PrintsEachReplyAndEndsAfterTheServerCloses) {
  fake_server server;
  auto client = start(client_options(server, {"one", "two"}));
  ASSERT_TRUE(server.accept()) << "expected the program to connect, it did not within 2 s";
  for (const std::string message : {"one", "two"}) {
    const auto line = server.receive_line();
    ASSERT_TRUE(line == message + "\n") << "expected the program to send " << shown(message + "\n")
                                        << ", it sent " << shown(line);
    server.send("echo: " + message + "\n");
  }
  EXPECT_TRUE(server.client_closed_within(2s))
      << "expected the program to half-close (end of file) after its last reply, it did not";
  server.close();
  const auto lines = client->read_remaining_lines(2s);
  const std::vector<std::string> expected = {"Received: echo: one", "Received: echo: two", "Done"};
  EXPECT_TRUE(lines == expected) << "expected the program to print " << joined(expected)
                                 << ", it printed " << joined(lines);
  const auto status = client->wait(2s);
  EXPECT_TRUE(status == 0) << "expected exit status 0, the program "
                           << (status ? "ended with " + std::to_string(*status) : "kept running");
}

TEST(LineClient, WaitsForTheWholeReplyLine) {
  fake_server server;
  auto client = start(client_options(server, {"slow"}));
  ASSERT_TRUE(server.accept()) << "expected the program to connect, it did not within 2 s";
  ASSERT_TRUE(server.receive_line() == "slow\n") << "expected the program to send \"slow\\n\"";
  // The reply in three pieces: TCP does not keep a writer's boundaries.
  for (const std::string piece : {"par", "tial rep", "ly\n"}) {
    server.send(piece);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(server.client_closed_within(2s))
      << "expected the program to half-close after its reply, it did not";
  server.close();
  const auto lines = client->read_remaining_lines(2s);
  const std::vector<std::string> expected = {"Received: partial reply", "Done"};
  EXPECT_TRUE(lines == expected) << "expected the program to print " << joined(expected)
                                 << ", it printed " << joined(lines);
}

TEST(LineClient, FailsWithStatusOneWhenTheServerHangsUpBeforeReplying) {
  fake_server server;
  auto client = start(client_options(server, {"hello"}));
  ASSERT_TRUE(server.accept()) << "expected the program to connect, it did not within 2 s";
  server.receive_line();
  server.send("half a rep");
  server.close();
  const auto lines = client->read_remaining_lines(2s);
  const auto status = client->wait(2s);
  EXPECT_TRUE(status == 1) << "expected exit status 1 when the reply is cut off, the program "
                           << (status ? "ended with " + std::to_string(*status) : "kept running")
                           << " after printing " << joined(lines);
  const auto errors = client->stderr_text();
  EXPECT_TRUE(errors.find("error: ") != std::string::npos)
      << "expected an \"error: ...\" line on stderr, the program wrote " << shown(errors);
}

}  // namespace
}  // namespace sandbox::exercise
