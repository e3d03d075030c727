// Exercise 01's tests: the echo server that uppercases (README.md says what
// each one checks). They start the program and talk to it over loopback.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace sandbox::exercise {
namespace {

TEST(UppercaseEcho, RepliesWithTheLineInUppercase) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  client.send("hello, world 42\n");
  const auto reply = receive_bytes(client, 16);
  EXPECT_TRUE(reply == "HELLO, WORLD 42\n")
      << "expected " << shown("HELLO, WORLD 42\n") << ", the program sent " << shown(reply);
}

TEST(UppercaseEcho, LeavesEveryOtherByteUnchanged) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  // "é" in UTF-8 is two bytes above 127: they must come back as they were.
  const std::string request = "Caf\xc3\xa9 {x|y} ~[]\0\n"s;
  const std::string expected = "CAF\xc3\xa9 {X|Y} ~[]\0\n"s;
  client.send(request);
  const auto reply = receive_bytes(client, expected.size());
  EXPECT_TRUE(reply == expected) << "expected " << shown(expected) << ", the program sent "
                                 << shown(reply);
}

TEST(UppercaseEcho, EchoesEveryChunkOfALongStream) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  std::string request;
  for (int i = 0; i < 20000; ++i) {
    request += "abcdefghijklmnopqrstuvwxyz"[i % 26];
  }
  std::string expected = request;
  for (char& c : expected) {
    c = static_cast<char>(c - 'a' + 'A');
  }
  const auto reply = client.exchange(request, expected.size(), 5s);
  EXPECT_TRUE(reply == expected) << "expected 20000 uppercase letters back, the program sent "
                                 << shown(reply.substr(0, 40)) << "...";
}

TEST(UppercaseEcho, EndsWithStatusZeroOnSigterm) {
  auto server = start_server();
  server.process->send_signal(SIGTERM);
  const auto status = server.process->wait(5s);
  EXPECT_TRUE(status == 0) << "expected exit status 0 after SIGTERM, the program "
                           << (status ? "ended with " + std::to_string(*status) : "kept running");
}

}  // namespace
}  // namespace sandbox::exercise
