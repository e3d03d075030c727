// Chapter 01 behaves as the lesson says: telnet types a, b, c; the client
// sees "echo:a" "echo:b" "echo:c"; the console shows the bytes as Python
// prints them; the server ends once its first connection is lost.
#include "client.hpp"
#include "programs.hpp"

#include <csignal>
#include <thread>

namespace sandbox::testing {
namespace {

class ProtocolEchoServer : public ::testing::TestWithParam<program> {
 protected:
  void SetUp() override { SANDBOX_REQUIRE_AVAILABLE(GetParam()); }
};

// Sends `text` and expects the lesson's answer to it: "echo:" + text.
void expect_echo(test_client& client, const std::string& text) {
  client.send(text);
  EXPECT_EQ(client.receive_exactly(5 + text.size()), "echo:" + text);
}

TEST_P(ProtocolEchoServer, TheLessonsTelnetSessionByteAtATime) {
  auto server = launch_server(GetParam());
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  {
    test_client telnet{"127.0.0.1", server.port};
    for (const char* key : {"a", "b", "c"}) {
      expect_echo(telnet, key);
    }
  }  // Quitting telnet closes the connection.
  EXPECT_EQ(server.process->read_remaining_lines(),
            (std::vector<std::string>{"Connection received!", "b'a'", "b'b'", "b'c'",
                                      "Connection lost! Closing server..."}));
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ProtocolEchoServer, PrintsReceivedBytesExactlyAsPythonDoes) {
  auto server = launch_server(GetParam());
  test_client client{"127.0.0.1", server.port};
  const std::string tricky{"\x00\xff'\"\\\t\r\n", 8};
  expect_echo(client, tricky);
  EXPECT_EQ(server.process->read_line(), "Connection received!");
  EXPECT_EQ(server.process->read_line(), R"(b'\x00\xff\'"\\\t\r\n')");
}

TEST_P(ProtocolEchoServer, EchoesAPayloadFarLargerThanOneRead) {
  auto server = launch_server(GetParam(), {"--quiet"});
  test_client client{"127.0.0.1", server.port};
  const std::string payload(1024 * 1024, 'x');
  // Send and receive at once: the server echoes as it reads, so a client
  // that only sent would fill both directions' buffers and stall.
  std::thread sender{[&] {
    client.send(payload);
    client.shutdown_write();
  }};
  const std::string reply = client.receive_until_eof(30s);
  sender.join();
  // Each data_received() answered "echo:" + what it got, however TCP split it.
  std::string echoed;
  std::size_t prefixes = 0;
  for (std::size_t at = 0; at < reply.size();) {
    ASSERT_EQ(reply.compare(at, 5, "echo:"), 0) << "no echo: prefix at byte " << at;
    const auto next = reply.find("echo:", at + 5);
    echoed += reply.substr(at + 5, next == std::string::npos ? next : next - at - 5);
    at = next == std::string::npos ? reply.size() : next;
    ++prefixes;
  }
  EXPECT_EQ(echoed, payload);
  EXPECT_GT(prefixes, 1U) << "1 MiB cannot arrive in one read";
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ProtocolEchoServer, HalfCloseFlushesTheEchoThenCloses) {
  auto server = launch_server(GetParam());
  test_client client{"127.0.0.1", server.port};
  expect_echo(client, "bye");
  client.shutdown_write();  // eof_received() returns false: the server closes.
  EXPECT_EQ(client.receive_until_eof(), "");
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ProtocolEchoServer, AResetConnectionIsLostToo) {
  auto server = launch_server(GetParam());
  test_client client{"127.0.0.1", server.port};
  expect_echo(client, "x");
  client.reset();
  const auto lines = server.process->read_remaining_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "Connection lost! Closing server...");
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ProtocolEchoServer, ForeverServesOneClientAfterAnother) {
  auto server = launch_server(GetParam(), {"--forever"});
  for (int round = 0; round < 3; ++round) {
    test_client client{"127.0.0.1", server.port};
    expect_echo(client, "hi");
    client.shutdown_write();
    EXPECT_EQ(client.receive_until_eof(), "");
    EXPECT_EQ(server.process->read_line(), "Connection received!");
    EXPECT_EQ(server.process->read_line(), "b'hi'");
    EXPECT_EQ(server.process->read_line(), "Connection lost!");
  }
  EXPECT_TRUE(server.process->running());
  server.process->send_signal(SIGTERM);
  EXPECT_EQ(server.process->wait(), 0);
}

TEST_P(ProtocolEchoServer, QuietDropsThePerMessageLines) {
  auto server = launch_server(GetParam(), {"--quiet"});
  {
    test_client client{"127.0.0.1", server.port};
    expect_echo(client, "hush");
  }
  EXPECT_EQ(server.process->read_remaining_lines(),
            (std::vector<std::string>{"Connection received!", "Connection lost! Closing server..."}));
}

TEST_P(ProtocolEchoServer, SigintAndSigtermEndItWithStatusZero) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = launch_server(GetParam());
    test_client client{"127.0.0.1", server.port};  // Even mid-connection.
    EXPECT_EQ(server.process->read_line(), "Connection received!");
    server.process->send_signal(signal_number);
    EXPECT_EQ(server.process->wait(), 0) << "signal " << signal_number;
  }
}

TEST_P(ProtocolEchoServer, ABadOptionExitsWithStatusTwo) {
  std::string errors;
  EXPECT_EQ(run_to_end(GetParam(), {"--port", "not-a-port"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("error"), std::string::npos) << errors;
}

INSTANTIATE_TEST_SUITE_P(Chapter01, ProtocolEchoServer,
                         ::testing::Values(cpp_program(executables::ch01_protocol_echo_server),
                                           plain_asio_program(executables::ch01_plain_asio_echo_server),
                                           python_program(references::ch01_protocol_echo_server)),
                         program_name);

}  // namespace
}  // namespace sandbox::testing
