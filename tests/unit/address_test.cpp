// Addresses as the chapters print them, and connecting by name: what a
// message says must name the server unambiguously, IPv6 literals included.
#include "sandbox/address.hpp"
#include "sandbox/connect.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <system_error>

namespace {

using sandbox::tcp;

TEST(HostPort, BracketsAnIpv6LiteralOnly) {
  EXPECT_EQ(sandbox::host_port("localhost", 2222), "localhost:2222");
  EXPECT_EQ(sandbox::host_port("127.0.0.1", 9000), "127.0.0.1:9000");
  // "::1:9000" could be the address ::1:9000 on the default port.
  EXPECT_EQ(sandbox::host_port("::1", 9000), "[::1]:9000");
  EXPECT_EQ(sandbox::to_string(tcp::endpoint{asio::ip::make_address("::1"), 9000}),
            "[::1]:9000");
}

// Runs sandbox::connect() to completion; returns the socket's peer port, or
// the message of what it threw.
struct connect_outcome {
  std::uint16_t peer_port = 0;
  std::string error;
};

connect_outcome run_connect(asio::io_context& loop, const std::string& host, std::uint16_t port) {
  connect_outcome outcome;
  asio::co_spawn(
      loop,
      [&]() -> asio::awaitable<void> {
        try {
          const auto socket = co_await sandbox::connect(host, port);
          outcome.peer_port = socket.remote_endpoint().port();
        } catch (const std::system_error& error) {
          outcome.error = error.what();
        }
      },
      asio::detached);
  loop.run();
  loop.restart();
  return outcome;
}

// A port on which nothing listens: one the kernel just gave out and took back.
std::uint16_t closed_port(asio::io_context& loop, const asio::ip::address& address) {
  tcp::acceptor acceptor{loop, tcp::endpoint{address, 0}};
  return acceptor.local_endpoint().port();
}

TEST(Connect, ConnectsToAListeningServer) {
  asio::io_context loop;
  tcp::acceptor acceptor{loop, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  const auto port = acceptor.local_endpoint().port();
  const auto outcome = run_connect(loop, "127.0.0.1", port);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.peer_port, port);
}

// "localhost" may resolve to ::1 first: connect() goes on to 127.0.0.1,
// where the server listens, as asyncio's open_connection() does.
TEST(Connect, TriesEveryAddressTheNameResolvesTo) {
  asio::io_context loop;
  tcp::acceptor acceptor{loop, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  const auto port = acceptor.local_endpoint().port();
  const auto outcome = run_connect(loop, "localhost", port);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.peer_port, port);
}

TEST(Connect, AFailureNamesTheServerItTried) {
  asio::io_context loop;
  const auto port = closed_port(loop, asio::ip::make_address("127.0.0.1"));
  const auto outcome = run_connect(loop, "127.0.0.1", port);
  EXPECT_EQ(outcome.error.rfind("cannot connect to 127.0.0.1:" + std::to_string(port) + ": ", 0),
            0U)
      << outcome.error;
}

TEST(Connect, AFailureOnIpv6BracketsTheAddress) {
  asio::io_context loop;
  std::uint16_t port = 0;
  try {
    port = closed_port(loop, asio::ip::make_address("::1"));
  } catch (const std::system_error&) {
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  const auto outcome = run_connect(loop, "::1", port);
  EXPECT_EQ(outcome.error.rfind("cannot connect to [::1]:" + std::to_string(port) + ": ", 0), 0U)
      << outcome.error;
}

TEST(Connect, AnUnknownNameSaysItCannotResolve) {
  asio::io_context loop;
  // .invalid never resolves (RFC 2606).
  const auto outcome = run_connect(loop, "nowhere.invalid", 2222);
  EXPECT_EQ(outcome.error.rfind("cannot resolve nowhere.invalid:2222: ", 0), 0U) << outcome.error;
}

}  // namespace
