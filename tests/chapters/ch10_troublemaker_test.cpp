// Chapter 10, the troublemaker: each mode misbehaves as described and
// reports what it saw, against the lesson's server (chapter 02), flow
// control (chapter 08) and the robust server (chapter 09).
#include "client.hpp"
#include "programs.hpp"

#include "sandbox/asio.hpp"

#include <algorithm>
#include <iostream>
#include <regex>
#include <thread>

namespace sandbox::testing {
namespace {

const program troublemaker{"Cpp", {executables::ch10_troublemaker}};

// Runs the troublemaker against `port`; returns its lines without the
// "[  1.23 s] " time stamps, which go to `times` if given.
std::vector<std::string> make_trouble(unsigned short port, std::vector<std::string> options,
                                      std::vector<double>* times = nullptr) {
  options.insert(options.begin(), {"--host", "127.0.0.1", "--port", std::to_string(port)});
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(troublemaker, options, &lines, &errors), 0) << errors;
  static const std::regex stamp{R"(^\[ *(\d+\.\d\d) s\] )"};
  for (auto& line : lines) {
    std::smatch match;
    EXPECT_TRUE(std::regex_search(line, match, stamp)) << line;
    if (times != nullptr && !match.empty()) {
      times->push_back(std::stod(match[1].str()));
    }
    line = std::regex_replace(line, stamp, "");
  }
  return lines;
}

TEST(Troublemaker, NeverReadsIsPushedBackByFlowControlAndGetsEveryByteBack) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "never-reads", "--then-read", "--bytes", "33554432"});
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0], "connected; sending 32.0 MiB and reading nothing");
  EXPECT_TRUE(lines[1].starts_with("stalled after ")) << lines[1];
  EXPECT_EQ(lines[2], "now reading, while sending the rest");
  EXPECT_EQ(lines[3], "read back 32.0 MiB, every byte in order");
}

TEST(Troublemaker, NeverReadsIsNotPushedBackWithoutFlowControl) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}},
                              {"--quiet", "--no-flow-control"});
  const auto lines = make_trouble(server.port, {"--mode", "never-reads", "--bytes", "16777216"});
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[1], "sent all 16.0 MiB: nothing pushed back");
}

TEST(Troublemaker, ASlowReaderStillGetsEveryByteAndSaysHowFarItGot) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}}, {"--quiet"});
  std::vector<double> times;
  const auto lines = make_trouble(
      server.port, {"--mode", "slow-reader", "--bytes", "2000", "--rate", "1000"}, &times);
  ASSERT_GE(lines.size(), 3U);
  EXPECT_EQ(lines.front(), "connected; sending 2000 bytes, reading 1000 bytes a second");
  // 2000 bytes at 1000 a second: the last byte is due 2 s after the start.
  EXPECT_EQ(lines[1], "read 1000 bytes so far; sent 2000 bytes");
  EXPECT_EQ(lines.back(), "read back 2000 bytes, every byte in order");
  EXPECT_GE(times.back(), 1.95);
}

// The defaults finish in seconds (they used to read 64 MiB at 1 KiB a
// second: 18 hours), and a line a second shows the run is alive.
TEST(Troublemaker, ASlowReaderWithItsDefaultsFinishesInSecondsWithProgressLines) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}}, {"--quiet"});
  std::vector<double> times;
  const auto lines = make_trouble(server.port, {"--mode", "slow-reader"}, &times);
  ASSERT_GE(lines.size(), 3U);
  EXPECT_EQ(lines.front(), "connected; sending 64.0 MiB, reading 32.0 MiB a second");
  EXPECT_TRUE(lines[1].starts_with("read ") && lines[1].find(" so far; sent ") != std::string::npos)
      << lines[1];
  EXPECT_EQ(lines.back(), "read back 64.0 MiB, every byte in order");
  std::cout << "[ figures  ] slow-reader defaults: done at " << times.back() << " s, "
            << lines.size() - 2 << " progress lines\n";
}

// A peer that echoes everything back but doubles a block of 251 bytes (and
// so leaves out the last 251): the same length, in a different order. A
// pattern that repeats every 251 bytes would take it for a good echo.
TEST(Troublemaker, AnEchoWithABlockDoubledIsCaught) {
  asio::io_context context;
  asio::ip::tcp::acceptor acceptor{context, {asio::ip::address_v4::loopback(), 0}};
  std::thread doubler{[&] {
    std::error_code error;
    auto socket = acceptor.accept(error);
    std::string received;
    asio::read(socket, asio::dynamic_buffer(received), error);  // Until end of file.
    const std::string echo = received.substr(0, 1251) + received.substr(1000, received.size() - 1251);
    asio::write(socket, asio::buffer(echo), error);
    socket.shutdown(asio::ip::tcp::socket::shutdown_send, error);
  }};
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(troublemaker,
                       {"--host", "127.0.0.1", "--port", std::to_string(acceptor.local_endpoint().port()),
                        "--mode", "never-reads", "--then-read", "--bytes", "4000"},
                       &lines, &errors),
            1);
  doubler.join();
  EXPECT_NE(errors.find("the echo differs from what was sent at byte 1251"), std::string::npos)
      << errors;
}

TEST(Troublemaker, AResetMidWriteLeavesTheServerServingOthers) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}});
  ASSERT_TRUE(server.process->read_line());  // "Flow control on: ..."
  const auto lines = make_trouble(server.port, {"--mode", "reset", "--bytes", "8388608"});
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(lines[0].starts_with("reset the connection after sending ")) << lines[0];
  test_client after{"127.0.0.1", server.port};
  after.send("still there?");
  EXPECT_EQ(after.receive_exactly(12), "still there?");
  EXPECT_EQ(server.process->read_line(), "connection 1: opened");
}

// Neither the lesson's server nor flow control limits time or connections:
// chapter 09's job.
TEST(Troublemaker, IdleAndTrickleAreKeptForeverByChapters02And08) {
  for (const char* exe :
       {executables::ch02_stream_echo_server, executables::ch08_flow_control_server}) {
    auto server = launch_server(program{"Cpp", {exe}}, {"--quiet"});
    EXPECT_EQ(make_trouble(server.port, {"--mode", "idle", "--duration", "0.5"}).back(),
              "still open after 0.5 s; the server sent 0 bytes") << exe;
    const auto trickle = make_trouble(server.port, {"--mode", "trickle", "--duration", "1.5"});
    EXPECT_TRUE(trickle.back().starts_with("still open after 1.5 s; the server sent "))
        << exe << ": " << trickle.back();
  }
}

TEST(Troublemaker, AFloodOfConnectionsIsHeldByChapters02And08) {
  for (const char* exe :
       {executables::ch02_stream_echo_server, executables::ch08_flow_control_server}) {
    auto server = launch_server(program{"Cpp", {exe}}, {"--quiet"});
    const auto lines =
        make_trouble(server.port, {"--mode", "flood", "--connections", "50", "--duration", "0.2"});
    ASSERT_EQ(lines.size(), 2U) << exe;
    EXPECT_EQ(lines[0], "50 connections open, 0 refused; holding them 0.2 s");
    EXPECT_EQ(lines[1], "0 of them were closed by the server");
  }
}

TEST(Troublemaker, ALongLineIsEchoedByTheLessonServer) {
  auto server = launch_server(program{"Cpp", {executables::ch08_flow_control_server}}, {"--quiet"});
  const auto lines =
      make_trouble(server.port, {"--mode", "long-line", "--bytes", "100000", "--duration", "0.5"});
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[1], "sent the whole line: 100001 bytes");
  EXPECT_EQ(lines[3], "still open after 0.5 s; the server sent 100001 bytes");
}

// Chapter 09 against every mode: the fixes, observed from outside.
const program robust{"Cpp", {executables::ch09_robust_server}};

TEST(TroublemakerAgainstChapter09, IdleAndTrickleAreClosedOnTime) {
  auto server = launch_server(robust, {"--quiet", "--idle-timeout", "1"});
  std::vector<double> times;
  const auto idle = make_trouble(server.port, {"--mode", "idle", "--duration", "10"}, &times);
  ASSERT_EQ(idle.size(), 3U);
  EXPECT_EQ(idle[1], "the server says: error: no line for 1 s; closing");
  EXPECT_EQ(idle[2], "closed by the server (end of file) after it sent 32 bytes");
  std::cout << "[ figures  ] idle timeout 1 s: idle client closed at " << times.back() << " s\n";
  EXPECT_GE(times.back(), 0.95);
  EXPECT_LT(times.back(), 5.0);
  // One byte a second arrives, but never a whole line: the timeout is on
  // the line, so the trickle is closed as if it said nothing.
  times.clear();
  const auto trickle = make_trouble(server.port, {"--mode", "trickle", "--duration", "10"}, &times);
  ASSERT_EQ(trickle.size(), 2U);
  EXPECT_EQ(trickle[1], "closed by the server (end of file) after it sent 32 bytes");
  std::cout << "[ figures  ] trickle: closed at " << times.back() << " s\n";
  EXPECT_LT(times.back(), 5.0);
}

TEST(TroublemakerAgainstChapter09, ALongLineIsRefusedWithAnErrorWhileOthersAreServed) {
  auto server = launch_server(robust, {"--quiet", "--max-line", "4096"});
  test_client other{"127.0.0.1", server.port};
  EXPECT_EQ(other.exchange("before\n", 7), "before\n");
  const auto lines =
      make_trouble(server.port, {"--mode", "long-line", "--bytes", "1048576", "--duration", "10"});
  ASSERT_GE(lines.size(), 3U);
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "the server says: error: line longer than 4096 bytes; closing"),
            lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "closed by the server (end of file) after it sent 44 bytes"),
            lines.end());
  EXPECT_EQ(other.exchange("after\n", 6), "after\n");
}

TEST(TroublemakerAgainstChapter09, AFloodMeetsTheLimitAndPoliteRefusals) {
  auto server = launch_server(robust, {"--quiet", "--max-connections", "10"});
  const auto lines =
      make_trouble(server.port, {"--mode", "flood", "--connections", "50", "--duration", "0.5"});
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(lines[0], "50 connections open, 0 refused; holding them 0.5 s");
  EXPECT_EQ(lines[1], "the server said something to 40 of them, first: "
                      "error: server busy (10 connections); try again later");
  EXPECT_EQ(lines[2], "40 of them were closed by the server");
  // The flood is gone: its ten slots are free again.
  EXPECT_GT(echoed_after_retries(server.port, "served\n"), 0);
}

TEST(TroublemakerAgainstChapter09, NeverReadsIsPushedBackAndGetsEveryLineBack) {
  auto server = launch_server(robust, {"--quiet"});
  const long before = server.process->resident_kib() / 1024;
  const auto lines =
      make_trouble(server.port, {"--mode", "never-reads", "--then-read", "--bytes", "33554432"});
  const long after = server.process->resident_kib() / 1024;
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_TRUE(lines[1].starts_with("stalled after ")) << lines[1];
  EXPECT_EQ(lines[3], "read back 32.0 MiB, every byte in order");
  std::cout << "[ figures  ] chapter 09, " << lines[1].substr(0, lines[1].find(':'))
            << "; server RSS " << before << " -> " << after << " MiB\n";
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine holds freed memory.
  EXPECT_LE(after - before, 12) << "MiB grown while the client did not read";
#endif
}

TEST(TroublemakerAgainstChapter09, ASlowReaderAndAResetAreServedThenDropped) {
  auto server = launch_server(robust, {"--quiet"});
  const auto slow =
      make_trouble(server.port, {"--mode", "slow-reader", "--bytes", "2000", "--rate", "1000"});
  ASSERT_GE(slow.size(), 2U);
  EXPECT_EQ(slow.back(), "read back 2000 bytes, every byte in order");
  const auto reset = make_trouble(server.port, {"--mode", "reset", "--bytes", "8388608"});
  ASSERT_EQ(reset.size(), 1U);
  test_client after{"127.0.0.1", server.port};
  EXPECT_EQ(after.exchange("still there?\n", 13), "still there?\n");
}

TEST(Troublemaker, NoServerOrABadModeIsAClearError) {
  std::string errors;
  // Port 1 (tcpmux) is privileged and served by nothing here: refused.
  EXPECT_EQ(run_to_end(troublemaker, {"--host", "127.0.0.1", "--port", "1", "--mode", "idle"},
                       nullptr, &errors),
            1);
  EXPECT_NE(errors.find("cannot connect to 127.0.0.1:1"), std::string::npos) << errors;
  // ".invalid" never resolves (RFC 2606): the line names what was looked up.
  EXPECT_EQ(run_to_end(troublemaker, {"--host", "nosuchhost.invalid", "--mode", "idle"}, nullptr,
                       &errors),
            1);
  EXPECT_NE(errors.find("cannot resolve nosuchhost.invalid:2222: "), std::string::npos) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_EQ(run_to_end(troublemaker, {"--mode", "bogus"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("--mode"), std::string::npos) << errors;
  EXPECT_EQ(run_to_end(troublemaker, {}, nullptr, &errors), 2);
}

}  // namespace
}  // namespace sandbox::testing
