// Exercise 05's tests: a chat room that survives a member who never reads
// (README.md says what each one checks).
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sandbox::exercise {
namespace {

// A member who has read the server's greeting, so is in the room.
std::unique_ptr<test_client> joined(unsigned short port) {
  auto client = std::make_unique<test_client>("127.0.0.1", port);
  const auto greeting = receive_line(*client);
  EXPECT_TRUE(greeting == "welcome\n") << "expected each new member to read " << shown("welcome\n")
                                       << ", the program sent " << shown(greeting);
  return client;
}

TEST(ChatRoom, SendsEachLineToEveryOtherMember) {
  auto server = start_server();
  auto alice = joined(server.port);
  auto bob = joined(server.port);
  auto carol = joined(server.port);
  alice->send("hello from alice\n");
  for (auto* other : {bob.get(), carol.get()}) {
    const auto line = receive_line(*other);
    EXPECT_TRUE(line == "hello from alice\n") << "expected the other members to read "
                                              << shown("hello from alice\n")
                                              << ", one read " << shown(line);
  }
  const auto echo = receive_line(*alice, 300ms);
  EXPECT_TRUE(echo == "") << "expected the sender not to get its own line, it read " << shown(echo);
}

TEST(ChatRoom, KeepsChattingWhileAMemberNeverReads) {
  auto server = start_server();
  // The sleeper joins and reads nothing, not even its greeting.
  test_client sleeper{"127.0.0.1", server.port};
  auto talker = joined(server.port);
  auto listener = joined(server.port);
  // 12,000 lines of 1000 bytes, 12 MB: more than the sleeper's socket
  // buffers and the server's limit of 4 MiB hold. Sent in 80 batches 25 ms
  // apart (a busy chat, not a flood no reader could keep up with), from a
  // thread, while the listener reads.
  constexpr std::size_t batches = 80;
  constexpr std::size_t lines_per_batch = 150;
  const std::string line = std::string(999, 'x') + "\n";
  std::string batch;
  for (std::size_t i = 0; i < lines_per_batch; ++i) {
    batch += line;
  }
  std::thread sending{[&] {
    for (std::size_t i = 0; i < batches; ++i) {
      if (talker->send_until_stalled(batch, 1s) < batch.size()) {
        return;  // The server stopped reading the talker.
      }
      std::this_thread::sleep_for(25ms);
    }
  }};
  const std::size_t total = batches * batch.size();
  const auto received = receive_bytes(*listener, total, 6s);
  sending.join();
  ASSERT_TRUE(received.size() == total)
      << "expected the listener to read all " << batches * lines_per_batch
      << " lines within 6 s while another member reads nothing, it read "
      << received.size() / line.size() << ": the room waited for the member who never reads";
  EXPECT_TRUE(closed_within(sleeper, 5s))
      << "expected the program to drop the member who never reads, it kept it";
}

}  // namespace
}  // namespace sandbox::exercise
