// Chapter 03, the stream echo client, against chapter 02 (the client in C++,
// in plain Asio and as the Python reference, each against the C++ and the
// Python server), against a server that hangs up early, one that never
// answers (--timeout), and against nobody at all.
#include "programs.hpp"

#include "sandbox/bytes_repr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sstream>
#include <string_view>
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
  // The next connection, or -1 if none comes within 20 s (a client that
  // failed to start must not hang the test).
  int accept() {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 20'000) != 1) {
      return -1;
    }
    return ::accept(fd_, nullptr, nullptr);
  }
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

// The three ways to run the client: ours, plain Asio's and asyncio's.
const auto every_client = ::testing::Values(
    cpp_program(executables::ch03_stream_echo_client),
    plain_asio_program(executables::ch03_plain_asio_echo_client),
    python_program(references::ch03_stream_echo_client));

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

// A timeout that is never reached changes nothing.
TEST_P(StreamEchoClient, ATimeoutNotReachedLeavesTheTranscriptAsItWas) {
  auto echo_server = launch_server(server());
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(client(),
                       {"--host", "127.0.0.1", "--port", std::to_string(echo_server.port),
                        "--timeout", "15"},
                       &lines, &errors),
            0)
      << errors;
  EXPECT_EQ(lines, client_transcript);
  EXPECT_EQ(errors, "");
}

INSTANTIATE_TEST_SUITE_P(
    Chapter03, StreamEchoClient,
    ::testing::Combine(every_client,
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

// A server that answers the request with `reply` (and then, with
// `then_end`, its end of file), then waits for the client to hang up
// (bounded by the client's own end: run_to_end() kills it after 20 s at
// most, which closes the connection).
void answer_once(raw_listener& listener, const std::string& reply, bool then_end = false) {
  const int connection = listener.accept();
  char buffer[256];
  (void)::recv(connection, buffer, sizeof buffer, 0);
  for (std::size_t sent = 0; sent < reply.size();) {
    const auto n = ::send(connection, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;  // The client has gone.
    }
    sent += static_cast<std::size_t>(n);
  }
  if (then_end) {
    ::shutdown(connection, SHUT_WR);
  }
  while (::recv(connection, buffer, sizeof buffer, 0) > 0) {
  }
  ::close(connection);
}

// asyncio's limit (64 KiB) bounds a line without its '\n': a line of exactly
// 65,536 bytes is read (readuntil() fails only when the separator is found
// past the limit, or more than the limit has come without one). The twin
// once gave its buffer the limit itself, '\n' included, and failed here.
TEST_P(StreamEchoClientAlone, ALineAsLongAsTheLimitIsRead) {
  raw_listener listener;
  const std::string longest(64 * 1024, 'x');
  std::thread server{[&] { answer_once(listener, longest + "\nLast line.\n"); }};
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(GetParam(), {"--host", "127.0.0.1", "--port", std::to_string(listener.port())},
                       &lines, &errors),
            0)
      << errors;
  server.join();
  // Compared line by line: a failure must not print 64 KiB of x.
  ASSERT_EQ(lines.size(), 3U) << (lines.empty() ? "no output" : lines.back().substr(0, 80));
  EXPECT_EQ(lines[0], "Lines received");
  EXPECT_TRUE(lines[1] == "b'" + longest + "\\n'") << lines[1].substr(0, 80) << "...";
  EXPECT_EQ(lines[2], R"(b'Last line.\n')");
}

// One byte more is an error, with status 1, and no line printed. (The
// wording differs: asyncio and the library say "Separator is found, but
// chunk is longer than limit" when the '\n' had already arrived; the twin,
// which never reads past the limit, says it is not found.) The server then
// hangs up: main.cpp, having printed its error, still waits for that.
TEST_P(StreamEchoClientAlone, ALineOneByteOverTheLimitIsAFailure) {
  raw_listener listener;
  const std::string too_long(64 * 1024 + 1, 'x');
  std::thread server{[&] { answer_once(listener, too_long + "\nLast line.\n", true); }};
  std::vector<std::string> lines;
  EXPECT_EQ(run_to_end(GetParam(), {"--host", "127.0.0.1", "--port", std::to_string(listener.port())},
                       &lines),
            1);
  server.join();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front(), "Lines received");
  EXPECT_EQ(lines.size(), 1U) << lines.back().substr(0, 80);
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

// A server that accepts and never answers. The kernel completes the
// connection for a listening socket (its backlog) and takes the client's
// bytes, so this listener, which never calls accept(), is exactly that
// server as the client sees it.
TEST_P(StreamEchoClientAlone, WithATimeoutASilentServerEndsItWithOneLineAndStatusOne) {
  raw_listener silent;
  const std::string where = "127.0.0.1:" + std::to_string(silent.port());
  std::vector<std::string> lines;
  std::string errors;
  // run_to_end() waits up to 20 s for the end: a bound, not a speed check.
  EXPECT_EQ(run_to_end(GetParam(),
                       {"--host", "127.0.0.1", "--port", std::to_string(silent.port()),
                        "--timeout", "0.5"},
                       &lines, &errors),
            1)
      << errors;
  EXPECT_EQ(lines, std::vector<std::string>{"Lines received"});
  EXPECT_EQ(errors, "error: no line from " + where + " within 0.5 s\n");
}

// Without --timeout the client waits for the silent server as the lesson's
// does: still there a while later, having said nothing on stderr.
TEST_P(StreamEchoClientAlone, WithoutATimeoutItWaitsForASilentServer) {
  raw_listener silent;
  std::vector<std::string> argv = GetParam().command;
  argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", std::to_string(silent.port())});
  child_process client{argv};
  EXPECT_EQ(client.read_line(), "Lines received");
  EXPECT_FALSE(client.wait(1500ms)) << "ended against a server that only stayed silent";
  EXPECT_EQ(client.stderr_text(), "");
}  // The child is killed here.

// `||` waits for the first operation to succeed: a refusal must still end
// the race at once and be reported as a refusal, not as a timeout 20 s on.
TEST_P(StreamEchoClientAlone, WithATimeoutARefusedConnectionIsStillReportedAsRefused) {
  unsigned short closed_port = 0;
  {
    raw_listener listener;
    closed_port = listener.port();
  }
  std::string errors;
  EXPECT_EQ(run_to_end(GetParam(),
                       {"--host", "127.0.0.1", "--port", std::to_string(closed_port),
                        "--timeout", "20"},
                       nullptr, &errors),
            1);
  EXPECT_EQ(errors, "error: cannot connect to 127.0.0.1:" + std::to_string(closed_port) +
                        ": Connection refused\n");
}

TEST_P(StreamEchoClientAlone, ABadTimeoutExitsWithStatusTwoAndSaysWhy) {
  for (const char* bad : {"0", "-1", "nan", "inf", "soon", "100000"}) {
    std::string errors;
    EXPECT_EQ(run_to_end(GetParam(), {"--timeout", bad}, nullptr, &errors), 2) << bad;
    // One error line names the option (argparse adds its usage, CLI11 a hint).
    std::istringstream said{errors};
    int naming = 0;
    for (std::string line; std::getline(said, line);) {
      if (line.find("--timeout") != std::string::npos && line.find("error") != std::string::npos) {
        ++naming;
      }
    }
    EXPECT_EQ(naming, 1) << bad << ": " << errors;
  }
}

INSTANTIATE_TEST_SUITE_P(Chapter03, StreamEchoClientAlone, every_client, program_name);

}  // namespace
}  // namespace sandbox::testing
