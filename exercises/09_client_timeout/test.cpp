// Exercise 09's tests: a client with a timeout (README.md says what each one
// checks). The test is the server: it listens on a free port, starts the
// client with --port, and replies, or does not.
#include "exercise.hpp"

#include <gtest/gtest.h>

namespace sandbox::exercise {
namespace {

std::vector<std::string> client_options(const fake_server& server) {
  return {"--host", "127.0.0.1", "--port", std::to_string(server.port()),
          "--message", "ping", "--timeout", "0.5"};
}

std::string status_text(const std::optional<int>& status) {
  return status ? "ended with status " + std::to_string(*status) : "was still running after 2 s";
}

TEST(ClientTimeout, PrintsTheReply) {
  fake_server server;
  auto client = start(client_options(server));
  ASSERT_TRUE(server.accept()) << "expected the program to connect, it did not within 2 s";
  const auto line = server.receive_line();
  ASSERT_TRUE(line == "ping\n")
      << "expected the program to send " << shown("ping\n") << ", it sent "
                            << shown(line);
  server.send("pong\n");
  const auto printed = client->read_line(2s).value_or("");
  EXPECT_TRUE(printed == "Reply: pong") << "expected the program to print " << shown("Reply: pong")
                                        << ", it printed " << shown(printed);
  const auto status = client->wait(2s);
  EXPECT_TRUE(status == 0) << "expected exit status 0, the program " << status_text(status);
}

TEST(ClientTimeout, GivesUpWithStatusOneWhenNoReplyComes) {
  fake_server server;
  const auto start_time = std::chrono::steady_clock::now();
  auto client = start(client_options(server));
  ASSERT_TRUE(server.accept()) << "expected the program to connect, it did not within 2 s";
  server.receive_line();
  // No reply, and the connection stays open: only the timeout can end it.
  const auto status = client->wait(2s);
  const auto waited = std::chrono::steady_clock::now() - start_time;
  ASSERT_TRUE(status == 1) << "expected exit status 1 within 2 s of a server that never replies "
                          "(--timeout 0.5), the program "
                       << status_text(status);
  EXPECT_TRUE(waited >= 400ms) << "expected the program to wait 0.5 s for the reply first";
  const auto errors = client->stderr_text();
  EXPECT_TRUE(errors.find("error: no reply within 0.5 s") != std::string::npos)
      << "expected " << shown("error: no reply within 0.5 s") << " on stderr, the program wrote "
      << shown(errors);
}

TEST(ClientTimeout, ReportsARefusedConnectionAsARefusal) {
  unsigned short port = 0;
  {
    fake_server closed;  // A port that was free a moment ago: nothing listens there now.
    port = closed.port();
  }
  auto client = start({"--host", "127.0.0.1", "--port", std::to_string(port), "--timeout", "0.5"});
  const auto status = client->wait(2s);
  EXPECT_TRUE(status == 1) << "expected exit status 1, the program " << status_text(status);
  const auto errors = client->stderr_text();
  EXPECT_TRUE(errors.find("refused") != std::string::npos)
      << "expected an error line saying the connection was refused, the program wrote "
      << shown(errors);
}

}  // namespace
}  // namespace sandbox::exercise
