// The tests' own client (tests/support/client.hpp) checked against a plain
// listening socket: a test that trusts a helper which reads too much would
// pass or fail for the helper's reasons, not the server's.
#include "client.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

using sandbox::testing::test_client;

// A listening socket on 127.0.0.1 and a free port, and the one connection
// accepted on it: the other end of a test_client, with no server program.
class peer {
 public:
  peer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    EXPECT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
  }
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;
  ~peer() {
    if (accepted_ >= 0) {
      ::close(accepted_);
    }
    ::close(listener_);
  }

  [[nodiscard]] unsigned short port() const { return port_; }

  // Accepts the client (connect() has completed: the kernel queued it).
  void accept() { accepted_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC); }

  void send(const std::string& data) const {
    ASSERT_EQ(::send(accepted_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }

 private:
  int listener_ = -1;
  int accepted_ = -1;
  unsigned short port_ = 0;
};

TEST(TestClient, ReceiveExactlyLeavesWhatFollowsForTheNextReceive) {
  peer server;
  test_client client{"127.0.0.1", server.port()};
  server.accept();
  server.send("abcdef");  // One send: the client's first recv can see all six bytes.
  // Wait until all six have arrived, so one recv could take them all.
  usleep(50'000);
  EXPECT_EQ(client.receive_exactly(3), "abc");
  EXPECT_EQ(client.receive_exactly(3), "def");
}

TEST(TestClient, ReceiveExactlyCollectsAcrossSends) {
  peer server;
  test_client client{"127.0.0.1", server.port()};
  server.accept();
  server.send("ab");
  server.send("cd");
  EXPECT_EQ(client.receive_exactly(4), "abcd");
}

}  // namespace
