// Exercise 07's tests: a deadline for every line (README.md says what each
// one checks). The server runs with --line-timeout 0.5.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sandbox::exercise {
namespace {

const std::string timed_out = "error: line timeout\n";

TEST(LineDeadline, EchoesEachLine) {
  auto server = start_server({"--line-timeout", "0.5"});
  test_client client{"127.0.0.1", server.port};
  client.send("hello\n");
  const auto line = receive_line(client);
  EXPECT_TRUE(line == "hello\n") << "expected " << shown("hello\n") << " back, the program sent "
                                 << shown(line);
}

// The checks of a client that sends `sent` and then nothing.
void expect_timed_out_after(const std::string& sent) {
  auto server = start_server({"--line-timeout", "0.5"});
  test_client client{"127.0.0.1", server.port};
  const auto start = std::chrono::steady_clock::now();
  client.send(sent);
  const auto line = receive_line(client, 2s);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(line == timed_out)
      << "expected " << shown(timed_out) << " within 2 s of a client that "
      << (sent.empty() ? "sent nothing" : "sent " + shown(sent) + " and no newline")
      << ", the program sent " << shown(line);
  if (line == timed_out) {
    const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
    EXPECT_TRUE(waited >= 400ms)
        << "expected the program to wait 0.5 s before giving up, it waited " << waited_ms << " ms";
    EXPECT_TRUE(closed_within(client, 1s))
        << "expected the program to close the connection after the line, it kept it open";
  }
}

TEST(LineDeadline, ClosesOnAClientThatSendsNothing) { expect_timed_out_after(""); }

TEST(LineDeadline, ClosesOnALineLeftUnfinished) { expect_timed_out_after("no end in sight"); }

TEST(LineDeadline, GivesEachLineItsOwnDeadline) {
  auto server = start_server({"--line-timeout", "0.5"});
  test_client client{"127.0.0.1", server.port};
  // Six lines 0.25 s apart: 1.5 s in all, three times the timeout, but
  // never more than 0.5 s for one line.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(250ms);
    const std::string sent = "line " + std::to_string(i) + "\n";
    client.send(sent);
    const auto line = receive_line(client);
    ASSERT_TRUE(line == sent) << "expected " << shown(sent) << " back after "
                              << (i + 1) * 250 << " ms on the connection, the program sent "
                              << shown(line);
  }
}

}  // namespace
}  // namespace sandbox::exercise
