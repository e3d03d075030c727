#include "client.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace sandbox::testing {
namespace {

using clock = std::chrono::steady_clock;

int remaining_ms(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

void wait_for(int fd, short events, clock::time_point deadline, const char* what) {
  pollfd p{fd, events, 0};
  if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
    throw std::runtime_error{std::string{"timed out waiting to "} + what};
  }
}

}  // namespace

test_client::test_client(const std::string& host, unsigned short port) {
  sockaddr_storage address{};
  socklen_t length = 0;
  if (host.find(':') != std::string::npos) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr);
    length = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &v4->sin_addr);
    length = sizeof(sockaddr_in);
  }
  fd_ = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    const std::string reason = std::strerror(errno);
    if (fd_ >= 0) {
      ::close(fd_);
    }
    throw std::runtime_error{"connect to " + host + ":" + std::to_string(port) + ": " + reason};
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

test_client::test_client(test_client&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}

test_client::~test_client() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void test_client::send(std::string_view data, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  while (!data.empty()) {
    const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      data.remove_prefix(static_cast<std::size_t>(sent));
    } else if (errno == EAGAIN) {
      wait_for(fd_, POLLOUT, deadline, "send");
    } else {
      throw std::runtime_error{std::string{"send: "} + std::strerror(errno)};
    }
  }
}

std::size_t test_client::send_until_stalled(std::string_view data,
                                           std::chrono::milliseconds stall) {
  std::size_t total = 0;
  while (total < data.size()) {
    const ssize_t sent = ::send(fd_, data.data() + total, data.size() - total, MSG_NOSIGNAL);
    if (sent > 0) {
      total += static_cast<std::size_t>(sent);
      continue;
    }
    if (errno != EAGAIN) {
      throw std::runtime_error{std::string{"send: "} + std::strerror(errno)};
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(stall.count())) <= 0) {
      break;  // Nothing moved for `stall`: the peer has stopped reading.
    }
  }
  return total;
}

void test_client::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

void test_client::no_delay() {
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void test_client::reset() {
  const linger abortive{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::close(std::exchange(fd_, -1));
}

std::string test_client::receive_some(std::chrono::milliseconds timeout) {
  return receive_at_most(65536, timeout);
}

std::string test_client::receive_at_most(std::size_t limit, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::recv(fd_, buffer, std::min(limit, sizeof buffer), 0);
    if (got >= 0) {
      return std::string(buffer, static_cast<std::size_t>(got));
    }
    if (errno != EAGAIN) {
      throw std::runtime_error{std::string{"recv: "} + std::strerror(errno)};
    }
    wait_for(fd_, POLLIN, deadline, "receive");
  }
}

std::string test_client::receive_exactly(std::size_t count, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::string data;
  while (data.size() < count) {
    // No more than is missing: what follows stays in the socket for the
    // next receive.
    const std::string chunk =
        receive_at_most(count - data.size(), std::chrono::milliseconds{remaining_ms(deadline)});
    if (chunk.empty()) {
      throw std::runtime_error{"end of file after " + std::to_string(data.size()) + " of " +
                               std::to_string(count) + " bytes"};
    }
    data += chunk;
  }
  return data;
}

std::string test_client::receive_until_eof(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::string data;
  for (;;) {
    const std::string chunk = receive_some(std::chrono::milliseconds{remaining_ms(deadline)});
    if (chunk.empty()) {
      return data;
    }
    data += chunk;
  }
}

std::string test_client::exchange(std::string_view data, std::size_t expected_reply_size,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::string reply;
  char buffer[65536];
  while (reply.size() < expected_reply_size) {
    pollfd p{fd_, static_cast<short>(POLLIN | (data.empty() ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
      throw std::runtime_error{"exchange timed out with " + std::to_string(reply.size()) + " of " +
                               std::to_string(expected_reply_size) + " bytes back"};
    }
    if ((p.revents & POLLOUT) != 0 && !data.empty()) {
      const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent > 0) {
        data.remove_prefix(static_cast<std::size_t>(sent));
      }
    }
    if ((p.revents & (POLLIN | POLLHUP)) != 0) {
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got == 0) {
        throw std::runtime_error{"end of file during exchange"};
      }
      if (got > 0) {
        reply.append(buffer, static_cast<std::size_t>(got));
      }
    }
  }
  return reply;
}

}  // namespace sandbox::testing
