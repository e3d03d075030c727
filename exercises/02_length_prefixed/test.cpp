// Exercise 02's tests: a length-prefixed protocol (README.md says what each
// one checks). A frame is a 4-byte big-endian length, then the payload; the
// server replies to each with a frame of the payload reversed.
#include "exercise.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

namespace sandbox::exercise {
namespace {

std::string frame(const std::string& payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  std::string framed;
  for (const int shift : {24, 16, 8, 0}) {
    framed += static_cast<char>((size >> shift) & 0xff);
  }
  return framed + payload;
}

TEST(LengthPrefixed, RepliesWithTheReversedPayloadInAFrame) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  client.send(frame("hello"));
  const auto reply = receive_bytes(client, 9);
  EXPECT_TRUE(reply == frame("olleh")) << "expected the frame " << shown(frame("olleh"))
                                       << ", the program sent " << shown(reply);
}

TEST(LengthPrefixed, WaitsForAFrameThatArrivesByteByByte) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  client.no_delay();
  for (const char byte : frame("split")) {
    client.send(std::string(1, byte));
    std::this_thread::sleep_for(5ms);
  }
  const auto reply = receive_bytes(client, 9);
  EXPECT_TRUE(reply == frame("tilps")) << "expected the frame " << shown(frame("tilps"))
                                       << " once the last byte arrived, the program sent "
                                       << shown(reply);
}

TEST(LengthPrefixed, AnswersTwoFramesSentInOnePiece) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  client.send(frame("abc") + frame("") + frame(std::string(300, 'x') + "y"));
  const std::string expected = frame("cba") + frame("") + frame("y" + std::string(300, 'x'));
  const auto reply = receive_bytes(client, expected.size());
  EXPECT_TRUE(reply == expected) << "expected three frames (\"cba\", an empty one, \"y\" + 300 x), "
                                 << "the program sent " << shown(reply.substr(0, 40));
}

TEST(LengthPrefixed, ClosesWithoutAReplyWhenALengthPassesTheLimit) {
  auto server = start_server();
  test_client client{"127.0.0.1", server.port};
  // 65537 = 0x00010001: one byte more than the limit of 64 KiB.
  client.send("\x00\x01\x00\x01"s + "not worth waiting for");
  const auto reply = receive_bytes(client, 1, 1s);
  EXPECT_TRUE(reply == "") << "expected no reply to a frame of 65537 bytes, the program sent "
                           << shown(reply);
  EXPECT_TRUE(closed_within(client, 2s))
      << "expected the program to close the connection at once, it kept it open";
}

}  // namespace
}  // namespace sandbox::exercise
