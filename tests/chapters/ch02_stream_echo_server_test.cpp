// Chapter 02, the stream echo server: read(8192), echo, until end of file;
// many clients at once; only a signal stops it.
#include "client.hpp"
#include "programs.hpp"

#include <csignal>
#include <thread>

namespace sandbox::testing {
namespace {

class StreamEchoServer : public ::testing::TestWithParam<program> {
 protected:
  void SetUp() override { SANDBOX_REQUIRE_AVAILABLE(GetParam()); }
};

TEST_P(StreamEchoServer, EchoesByteAtATimeAndShowsEachRead) {
  auto server = launch_server(GetParam());
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  test_client client{"127.0.0.1", server.port};
  EXPECT_EQ(server.process->read_line(), "Connection received!");
  for (const char* key : {"a", "b", "\n"}) {
    client.send(key);
    EXPECT_EQ(client.receive_exactly(1), key);  // No prefix: streams echo plainly.
  }
  EXPECT_EQ(server.process->read_line(), "b'a'");
  EXPECT_EQ(server.process->read_line(), "b'b'");
  EXPECT_EQ(server.process->read_line(), R"(b'\n')");
}

TEST_P(StreamEchoServer, ReadsAtMost8192BytesAtATime) {
  auto server = launch_server(GetParam());
  test_client client{"127.0.0.1", server.port};
  const std::string payload(20000, 'z');
  client.send(payload);
  EXPECT_EQ(client.receive_exactly(payload.size()), payload);
  EXPECT_EQ(server.process->read_line(), "Connection received!");
  std::size_t shown = 0;
  while (shown < payload.size()) {
    const auto line = server.process->read_line();
    ASSERT_TRUE(line) << "only " << shown << " bytes shown";
    ASSERT_GE(line->size(), 3U);
    const std::size_t bytes = line->size() - 3;  // b'zzz...'
    EXPECT_LE(bytes, 8192U);
    shown += bytes;
  }
  EXPECT_EQ(shown, payload.size());
}

TEST_P(StreamEchoServer, EchoesAPayloadFarLargerThan8192Bytes) {
  auto server = launch_server(GetParam(), {"--quiet"});
  test_client client{"127.0.0.1", server.port};
  std::string payload(4 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 7919) % 251);  // Every offset checked.
  }
  std::thread sender{[&] {
    client.send(payload, 30s);
    client.shutdown_write();
  }};
  const std::string reply = client.receive_until_eof(30s);
  sender.join();
  EXPECT_EQ(reply.size(), payload.size());
  EXPECT_TRUE(reply == payload) << "the echo differs from what was sent";
}

TEST_P(StreamEchoServer, HalfCloseGetsTheEchoThenEndOfFile) {
  auto server = launch_server(GetParam());
  test_client client{"127.0.0.1", server.port};
  client.send("last words");
  client.shutdown_write();  // read() returns b'': the handler ends, the writer closes.
  EXPECT_EQ(client.receive_until_eof(), "last words");
  EXPECT_TRUE(server.process->running()) << "the server outlives its clients";
}

TEST_P(StreamEchoServer, ServesDozensOfClientsAtOnce) {
  constexpr int clients = 50;
  auto server = launch_server(GetParam(), {"--quiet"});
  std::vector<test_client> connections;
  for (int i = 0; i < clients; ++i) {
    connections.emplace_back("127.0.0.1", server.port);
  }
  // Everyone is connected before anyone speaks: all 50 handlers are
  // suspended in read() at the same time.
  for (int i = 0; i < clients; ++i) {
    connections[static_cast<std::size_t>(i)].send("client " + std::to_string(i) + "\n");
  }
  for (int i = clients - 1; i >= 0; --i) {
    const std::string expected = "client " + std::to_string(i) + "\n";
    EXPECT_EQ(connections[static_cast<std::size_t>(i)].receive_exactly(expected.size()), expected);
  }
  int received = 0;
  while (received < clients) {
    const auto line = server.process->read_line();
    ASSERT_TRUE(line);
    EXPECT_EQ(*line, "Connection received!");
    ++received;
  }
}

TEST_P(StreamEchoServer, AClientResetDoesNotDisturbTheOthers) {
  auto server = launch_server(GetParam(), {"--quiet"});
  test_client steady{"127.0.0.1", server.port};
  {
    test_client crashing{"127.0.0.1", server.port};
    crashing.send("boom");
    EXPECT_EQ(crashing.receive_exactly(4), "boom");
    crashing.reset();
  }
  steady.send("still here");
  EXPECT_EQ(steady.receive_exactly(10), "still here");
  test_client later{"127.0.0.1", server.port};
  later.send("new");
  EXPECT_EQ(later.receive_exactly(3), "new");
}

// C++ only: asyncio logs every reset (as our chapter does without --quiet).
TEST(StreamEchoServerCpp, WithQuietAResetIsCountedNotLogged) {
  expect_resets_are_counted_when_quiet(cpp_program(executables::ch02_stream_echo_server));
}

// The plain-Asio twin counts them the same way.
TEST(StreamEchoServerPlainAsio, WithQuietAResetIsCountedNotLogged) {
  expect_resets_are_counted_when_quiet(plain_asio_program(executables::ch02_plain_asio_echo_server));
}

TEST_P(StreamEchoServer, SigintAndSigtermEndItWithStatusZero) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = launch_server(GetParam());
    test_client client{"127.0.0.1", server.port};
    EXPECT_EQ(server.process->read_line(), "Connection received!");
    server.process->send_signal(signal_number);
    EXPECT_EQ(server.process->wait(), 0) << "signal " << signal_number;
  }
}

TEST_P(StreamEchoServer, ABadOptionExitsWithStatusTwo) {
  std::string errors;
  EXPECT_EQ(run_to_end(GetParam(), {"--bogus"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("error"), std::string::npos) << errors;
}

TEST_P(StreamEchoServer, APortInUseFailsWithOneLine) {
  expect_a_port_in_use_fails_with_one_line(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Chapter02, StreamEchoServer,
                         ::testing::Values(cpp_program(executables::ch02_stream_echo_server),
                                           plain_asio_program(executables::ch02_plain_asio_echo_server),
                                           python_program(references::ch02_stream_echo_server)),
                         program_name);

}  // namespace
}  // namespace sandbox::testing
