// Chapter 08, flow control: a client that sends and never reads cannot make
// the server's memory grow (measured), and once it reads it gets back every
// byte it sent, in order. --no-flow-control shows the growth the lesson's
// server would have.
#include "client.hpp"
#include "programs.hpp"

#include <csignal>
#include <thread>

namespace sandbox::testing {
namespace {

const program flow_server{"Cpp", {executables::ch08_flow_control_server}};

std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>((i * 7919) % 251);  // Every offset checked.
  }
  return bytes;
}

// Sends what the stalled client had not sent while reading everything back.
std::string finish_exchange(test_client& client, std::string_view rest, std::size_t total) {
  std::string echoed;
  std::jthread sender{[&] {
    client.send(rest, 60s);
    client.shutdown_write();
  }};
  echoed = client.receive_until_eof(60s);
  sender.join();
  EXPECT_EQ(echoed.size(), total);
  return echoed;
}

TEST(FlowControl, SaysWhereItServesAndItsMarks) {
  auto server = launch_server(flow_server);
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  EXPECT_EQ(server.process->read_line(),
            "Flow control on: high-water mark 65536 bytes, low-water mark 16384 bytes");
  auto custom = launch_server(flow_server, {"--high-water", "1000", "--low-water", "10"});
  EXPECT_EQ(custom.process->read_line(),
            "Flow control on: high-water mark 1000 bytes, low-water mark 10 bytes");
  auto off = launch_server(flow_server, {"--no-flow-control"});
  EXPECT_EQ(off.process->read_line(), "Flow control off");
}

TEST(FlowControl, EchoesBytesUnchanged) {
  auto server = launch_server(flow_server, {"--quiet"});
  test_client client{"127.0.0.1", server.port};
  const std::string bytes = pattern(300000);
  EXPECT_TRUE(client.exchange(bytes, bytes.size()) == bytes);
}

TEST(FlowControl, ANonReadingClientCannotGrowTheServerAndLosesNothing) {
  auto server = launch_server(flow_server);
  EXPECT_TRUE(server.process->read_line().has_value());
  test_client client{"127.0.0.1", server.port};
  EXPECT_EQ(server.process->read_line(), "connection 1: opened");
  const long before = server.process->resident_kib() / 1024;
  const std::string bytes = pattern(64 * 1024 * 1024);
  const std::size_t sent = client.send_until_stalled(bytes);
  const long stalled = server.process->resident_kib() / 1024;
  std::cout << "[ figures  ] the client stalled after " << sent / 1024 << " KiB; server RSS "
            << before << " -> " << stalled << " MiB\n";
  EXPECT_LT(sent, bytes.size()) << "the server never pushed back";
  const auto paused = server.process->read_line();
  ASSERT_TRUE(paused);
  EXPECT_TRUE(paused->starts_with("connection 1: paused reading: ")) << *paused;
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine holds freed memory.
  // The echo held is at most 256 KiB (the high-water mark plus one read);
  // the allocator, and ThreadSanitizer's shadow memory, add a few MiB (1
  // here in a normal build, 5 under TSan). Without flow control the server
  // would take all 64 MiB.
  EXPECT_LE(stalled - before, 12) << "MiB grown while the client did not read";
#endif
  const std::string echoed = finish_exchange(client, std::string_view{bytes}.substr(sent), bytes.size());
  EXPECT_TRUE(echoed == bytes) << "the echo differs from what was sent";
}

TEST(FlowControl, WithoutItTheServerHoldsWhatTheClientDoesNotRead) {
  auto server = launch_server(flow_server, {"--no-flow-control"});
  EXPECT_EQ(server.process->read_line(), "Flow control off");
  test_client client{"127.0.0.1", server.port};
  const long before = server.process->resident_kib() / 1024;
  const std::string bytes = pattern(48 * 1024 * 1024);
  const std::size_t sent = client.send_until_stalled(bytes);
  const long after = server.process->resident_kib() / 1024;
  std::cout << "[ figures  ] without flow control: " << sent / 1024 << " KiB sent, server RSS "
            << before << " -> " << after << " MiB\n";
  EXPECT_EQ(sent, bytes.size()) << "nothing pushed back, so everything was taken";
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_GE(after - before, 24) << "the unread echo should sit in the server's memory";
#endif
  const std::string echoed = finish_exchange(client, "", bytes.size());
  EXPECT_TRUE(echoed == bytes);
}

TEST(FlowControl, ASignalEndsItWithStatusZero) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = launch_server(flow_server, {"--quiet"});
    test_client client{"127.0.0.1", server.port};
    client.send("hi");
    EXPECT_EQ(client.receive_exactly(2), "hi");
    server.process->send_signal(signal_number);
    EXPECT_EQ(server.process->wait(), 0);
  }
}

TEST(FlowControl, BadMarksExitWithStatusTwo) {
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"--high-water", "0"},
        {"--high-water", "lots"},
        {"--low-water", "-1"},
        {"--high-water", "100", "--low-water", "200"}}) {
    std::string errors;
    EXPECT_EQ(run_to_end(flow_server, options, nullptr, &errors), 2) << options[1];
    EXPECT_NE(errors.find("error"), std::string::npos) << errors;
  }
}

TEST(FlowControl, APortInUseFailsWithOneLine) {
  expect_a_port_in_use_fails_with_one_line(flow_server);
}

}  // namespace
}  // namespace sandbox::testing
