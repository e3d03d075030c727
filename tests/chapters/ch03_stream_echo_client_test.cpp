// Chapter 03, the stream echo client, against chapter 02 (each of them in
// C++ and as the Python reference, all four ways round), against a server
// that hangs up early, and against nobody at all.
#include "programs.hpp"

#include "sandbox/bytes_repr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace sandbox::testing {
namespace {

const std::vector<std::string> client_transcript = {
    "Lines received", R"(b'First line.\n')", R"(b'Second line.\n')", R"(b'Third line.\n')",
    R"(b'Last line.\n')"};

// A listening socket on a free loopback port, for tests that need a peer
// which is not one of our programs.
class raw_listener {
 public:
  raw_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 1);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  raw_listener(const raw_listener&) = delete;
  raw_listener& operator=(const raw_listener&) = delete;
  ~raw_listener() { close(); }

  unsigned short port() const { return port_; }
  int accept() { return ::accept(fd_, nullptr, nullptr); }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

class StreamEchoClient : public ::testing::TestWithParam<std::tuple<program, program>> {
 protected:
  const program& client() const { return std::get<0>(GetParam()); }
  const program& server() const { return std::get<1>(GetParam()); }
  void SetUp() override {
    SANDBOX_REQUIRE_AVAILABLE(client());
    SANDBOX_REQUIRE_AVAILABLE(server());
  }
};

TEST_P(StreamEchoClient, ShowsTheLessonsTranscriptOnBothConsoles) {
  auto echo_server = launch_server(server());
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(client(), {"--host", "127.0.0.1", "--port", std::to_string(echo_server.port)},
                       &lines, &errors),
            0)
      << errors;
  EXPECT_EQ(lines, client_transcript);

  EXPECT_EQ(echo_server.process->read_line(), "Connection received!");
  // The four lines arrive as one chunk when the client writes them in one
  // send, which the C++ transport guarantees; asyncio's sends each write at
  // once, so its reads may split them. Either way the bytes are the lesson's.
  std::string shown;
  while (shown != R"(b'First line.\nSecond line.\nThird line.\nLast line.\n')") {
    const auto line = echo_server.process->read_line(5s);
    ASSERT_TRUE(line) << "server showed only " << shown;
    ASSERT_TRUE(line->starts_with("b'") && line->ends_with("'")) << *line;
    shown = shown.empty() ? *line : shown.substr(0, shown.size() - 1) + line->substr(2);
    if (client().label == "Cpp") {
      EXPECT_EQ(shown, R"(b'First line.\nSecond line.\nThird line.\nLast line.\n')")
          << "the C++ client's four writes should leave in one send";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Chapter03, StreamEchoClient,
    ::testing::Combine(::testing::Values(cpp_program(executables::ch03_stream_echo_client),
                                         python_program(references::ch03_stream_echo_client)),
                       ::testing::Values(cpp_program(executables::ch02_stream_echo_server),
                                         python_program(references::ch02_stream_echo_server))),
    [](const auto& param_info) {
      return std::get<0>(param_info.param).label + "Client" + std::get<1>(param_info.param).label +
             "Server";
    });

class StreamEchoClientAlone : public ::testing::TestWithParam<program> {
 protected:
  void SetUp() override { SANDBOX_REQUIRE_AVAILABLE(GetParam()); }
};

TEST_P(StreamEchoClientAlone, StopsAtEndOfFileWhenTheServerHangsUpEarly) {
  raw_listener listener;
  std::thread early_quitter{[&] {
    const int connection = listener.accept();
    char buffer[256];
    (void)::recv(connection, buffer, sizeof buffer, 0);
    const std::string_view reply = "First line.\nSecond";  // ...and hang up mid-line.
    (void)::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::shutdown(connection, SHUT_WR);
    ::sleep(1);  // Let the client read before the socket goes.
    ::close(connection);
  }};
  std::vector<std::string> lines;
  EXPECT_EQ(run_to_end(GetParam(), {"--host", "127.0.0.1", "--port", std::to_string(listener.port())},
                       &lines),
            0);
  early_quitter.join();
  EXPECT_EQ(lines, (std::vector<std::string>{"Lines received", R"(b'First line.\n')",
                                             "b'Second'", "b''"}));
}

TEST_P(StreamEchoClientAlone, ARefusedConnectionIsOneLineAndAFailure) {
  unsigned short closed_port = 0;
  {
    raw_listener listener;  // Find a free port, then free it again.
    closed_port = listener.port();
  }
  std::vector<std::string> lines;
  std::string errors;
  const auto status = run_to_end(
      GetParam(), {"--host", "127.0.0.1", "--port", std::to_string(closed_port)}, &lines, &errors);
  EXPECT_NE(status, 0);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(errors, "error: cannot connect to 127.0.0.1:" + std::to_string(closed_port) +
                        ": Connection refused\n");
}

TEST_P(StreamEchoClientAlone, ABadOptionExitsWithStatusTwo) {
  EXPECT_EQ(run_to_end(GetParam(), {"--quiet"}), 2) << "the client has no --quiet";
}

INSTANTIATE_TEST_SUITE_P(Chapter03, StreamEchoClientAlone,
                         ::testing::Values(cpp_program(executables::ch03_stream_echo_client),
                                           python_program(references::ch03_stream_echo_client)),
                         program_name);

}  // namespace
}  // namespace sandbox::testing
