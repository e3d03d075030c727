// Chapter 10, the troublemaker: each mode misbehaves as described and
// reports what it saw, against the servers of chapters 02 and 08.
#include "client.hpp"
#include "programs.hpp"

#include <algorithm>
#include <regex>

namespace sandbox::testing {
namespace {

const program troublemaker{"cpp", {SANDBOX_CH10_EXE}};

// Runs the troublemaker against `port`; returns its lines without the
// "[  1.23 s] " time stamps.
std::vector<std::string> make_trouble(unsigned short port, std::vector<std::string> options) {
  options.insert(options.begin(), {"--host", "127.0.0.1", "--port", std::to_string(port)});
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(troublemaker, options, &lines, &errors), 0) << errors;
  static const std::regex stamp{R"(^\[ *\d+\.\d\d s\] )"};
  for (auto& line : lines) {
    EXPECT_TRUE(std::regex_search(line, stamp)) << line;
    line = std::regex_replace(line, stamp, "");
  }
  return lines;
}

TEST(Troublemaker, NeverReadsIsPushedBackByFlowControlAndGetsEveryByteBack) {
  auto server = start_server(program{"cpp", {SANDBOX_CH08_EXE}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "never-reads", "--then-read", "--bytes", "33554432"});
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0], "connected; sending 32.0 MiB and reading nothing");
  EXPECT_TRUE(lines[1].starts_with("stalled after ")) << lines[1];
  EXPECT_EQ(lines[2], "now reading, while sending the rest");
  EXPECT_EQ(lines[3], "read back 32.0 MiB, every byte in order");
}

TEST(Troublemaker, NeverReadsIsNotPushedBackWithoutFlowControl) {
  auto server = start_server(program{"cpp", {SANDBOX_CH08_EXE}}, {"--quiet", "--no-flow-control"});
  const auto lines = make_trouble(server.port, {"--mode", "never-reads", "--bytes", "16777216"});
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[1], "sent all 16.0 MiB: nothing pushed back");
}

TEST(Troublemaker, ASlowReaderStillGetsEveryByte) {
  auto server = start_server(program{"cpp", {SANDBOX_CH08_EXE}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "slow-reader", "--bytes", "2000", "--rate", "1000"});
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[1], "read back 2000 bytes, every byte in order");
}

TEST(Troublemaker, AResetMidWriteLeavesTheServerServingOthers) {
  auto server = start_server(program{"cpp", {SANDBOX_CH08_EXE}});
  ASSERT_TRUE(server.process->read_line());  // "Flow control on: ..."
  const auto lines = make_trouble(server.port, {"--mode", "reset", "--bytes", "8388608"});
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(lines[0].starts_with("reset the connection after sending ")) << lines[0];
  test_client after{"127.0.0.1", server.port};
  after.send("still there?");
  EXPECT_EQ(after.receive_exactly(12), "still there?");
  EXPECT_EQ(server.process->read_line(), "connection 1: opened");
}

TEST(Troublemaker, IdleAndTrickleSeeTheLessonServerKeepThemForever) {
  auto server = start_server(program{"cpp", {SANDBOX_CH02_EXE}}, {"--quiet"});
  EXPECT_EQ(make_trouble(server.port, {"--mode", "idle", "--duration", "0.5"}).back(),
            "still open after 0.5 s; the server sent 0 bytes");
  const auto trickle = make_trouble(server.port, {"--mode", "trickle", "--duration", "1.5"});
  EXPECT_TRUE(trickle.back().starts_with("still open after 1.5 s; the server sent "))
      << trickle.back();
}

TEST(Troublemaker, AFloodOfConnectionsIsHeld) {
  auto server = start_server(program{"cpp", {SANDBOX_CH02_EXE}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "flood", "--connections", "50", "--duration", "0.2"});
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], "50 connections open, 0 refused; holding them 0.2 s");
  EXPECT_EQ(lines[1], "0 of them were closed by the server");
}

TEST(Troublemaker, ALongLineIsEchoedByTheLessonServer) {
  auto server = start_server(program{"cpp", {SANDBOX_CH08_EXE}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "long-line", "--bytes", "100000", "--duration", "0.5"});
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[1], "sent the whole line: 100001 bytes");
  EXPECT_EQ(lines[3], "still open after 0.5 s; the server sent 100001 bytes");
}

TEST(Troublemaker, NoServerOrABadModeIsAClearError) {
  std::string errors;
  // Port 1 (tcpmux) is privileged and served by nothing here: refused.
  EXPECT_EQ(run_to_end(troublemaker, {"--host", "127.0.0.1", "--port", "1", "--mode", "idle"},
                       nullptr, &errors),
            1);
  EXPECT_NE(errors.find("cannot connect to 127.0.0.1:1"), std::string::npos) << errors;
  EXPECT_EQ(run_to_end(troublemaker, {"--mode", "bogus"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("--mode"), std::string::npos) << errors;
  EXPECT_EQ(run_to_end(troublemaker, {}, nullptr, &errors), 2);
}

}  // namespace
}  // namespace sandbox::testing
