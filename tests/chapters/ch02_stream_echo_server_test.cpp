// Chapter 02, the stream echo server: read(8192), echo, until end of file;
// many clients at once; only a signal stops it.
#include "client.hpp"
#include "programs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace sandbox::testing {
namespace {

// Whether this machine has ::1 (a container may have no IPv6 at all).
bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return bound;
}

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


// What the C++ programs do alike and asyncio otherwise: the twin listens
// and words its errors as main.cpp (the library's listening.cpp and accept
// loop) does. Python words a bind error as asyncio's OSError does ("error:
// address already in use") and logs a failed handler as a traceback.
class StreamEchoServerInCpp : public ::testing::TestWithParam<program> {};

// --host '' listens on every address, as asyncio's host='' (or None) does:
// one socket for IPv4 and one for IPv6. The IPv6 one needs IPV6_V6ONLY, or
// [::] takes IPv4 too and collides with 0.0.0.0 on the same port: the twin
// failed with "bind: Address already in use" here. (C++ only: with port 0,
// asyncio binds each address on a port of its own, and names only one.)
TEST_P(StreamEchoServerInCpp, AnEmptyHostServesEveryAddress) {
  std::vector<std::string> argv = GetParam().command;
  argv.insert(argv.end(), {"--host", "", "--port", "0"});
  child_process server{argv};
  const std::string first_line = server.read_line(20s).value_or("<no output>");
  ASSERT_TRUE(first_line.starts_with("Serving on :"))
      << first_line << "\n" << server.stderr_text();
  const auto port = static_cast<unsigned short>(std::stoi(first_line.substr(12)));
  std::vector<std::string> hosts{"127.0.0.1"};
  if (has_ipv6_loopback()) {
    hosts.emplace_back("::1");
  }
  for (const auto& host : hosts) {
    test_client client{host, port};
    client.send("hi");
    EXPECT_EQ(client.receive_exactly(2), "hi") << host;
  }
  server.send_signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  EXPECT_EQ(server.stderr_text(), "");
}

TEST_P(StreamEchoServerInCpp, APortInUseNamesTheAddress) {
  auto first = launch_server(GetParam());
  std::string errors;
  EXPECT_EQ(run_to_end(GetParam(), {"--host", "127.0.0.1", "--port", std::to_string(first.port)},
                       nullptr, &errors),
            1);
  EXPECT_EQ(errors, "error: cannot listen on 127.0.0.1:" + std::to_string(first.port) +
                        ": Address already in use\n");
}

TEST_P(StreamEchoServerInCpp, AHostThatDoesNotResolveIsNamed) {
  std::string errors;
  // .invalid never resolves (RFC 6761); the reason depends on the resolver.
  EXPECT_EQ(run_to_end(GetParam(), {"--host", "no-such-host.invalid", "--port", "0"}, nullptr,
                       &errors),
            1);
  EXPECT_TRUE(errors.starts_with("error: cannot resolve no-such-host.invalid:0: ")) << errors;
  EXPECT_EQ(std::ranges::count(errors, '\n'), 1) << errors;
}

// A client that resets before the server has even accepted it is still
// named by its address: accept() reports the peer, while asking the socket
// afterwards (getpeername()) fails once it is reset, and the twin logged
// "0.0.0.0:0". The order is made certain: the server is stopped (SIGSTOP)
// while the client connects and resets.
TEST_P(StreamEchoServerInCpp, AClientResetBeforeItIsAcceptedIsNamedByItsAddress) {
  auto server = launch_server(GetParam());
  server.process->send_signal(SIGSTOP);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(server.port);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string client = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  const linger reset{1, 0};  // Close with RST: a crashed client.
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
  server.process->send_signal(SIGCONT);
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (server.process->stderr_text().find('\n') == std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server.process->stderr_text(),
            "error in client handler for " + client + ": connection lost: Connection reset by peer\n");
}

INSTANTIATE_TEST_SUITE_P(Chapter02, StreamEchoServerInCpp,
                         ::testing::Values(cpp_program(executables::ch02_stream_echo_server),
                                           plain_asio_program(executables::ch02_plain_asio_echo_server)),
                         program_name);

INSTANTIATE_TEST_SUITE_P(Chapter02, StreamEchoServer,
                         ::testing::Values(cpp_program(executables::ch02_stream_echo_server),
                                           plain_asio_program(executables::ch02_plain_asio_echo_server),
                                           python_program(references::ch02_stream_echo_server)),
                         program_name);

}  // namespace
}  // namespace sandbox::testing
