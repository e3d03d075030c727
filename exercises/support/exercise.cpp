#include "exercise.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace sandbox::exercise {
namespace {

std::string program_under_test;

// Milliseconds left until `deadline`, for poll(); 0 once it has passed.
int left_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

const std::string& program_path() { return program_under_test; }

sandbox::testing::running_server start_server(std::vector<std::string> options) {
  return sandbox::testing::launch_server(sandbox::testing::cpp_program(program_path().c_str()),
                                         std::move(options));
}

std::unique_ptr<child_process> start(std::vector<std::string> options) {
  options.insert(options.begin(), program_path());
  return std::make_unique<child_process>(options);
}

std::string receive_bytes(test_client& client, std::size_t count,
                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string data;
  try {
    while (data.size() < count) {
      const auto left = std::chrono::milliseconds{left_until(deadline)};
      if (left.count() == 0) {
        break;
      }
      // One byte at a time past what we want would steal the next reply:
      // receive_some() may return more, so ask only for what is missing.
      const std::string piece = client.receive_some(left);
      if (piece.empty()) {
        break;  // End of file.
      }
      data += piece;
    }
  } catch (const std::exception&) {
    // A timeout or a reset: report what arrived.
  }
  return data;
}

std::string receive_line(test_client& client, std::chrono::milliseconds timeout) {
  // Byte by byte, so that nothing after the line is consumed: slow, but the
  // lines of these tests are short.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (line.empty() || line.back() != '\n') {
    const auto left = std::chrono::milliseconds{left_until(deadline)};
    if (left.count() == 0) {
      break;
    }
    try {
      const std::string byte = client.receive_exactly(1, left);
      line += byte;
    } catch (const std::exception&) {
      break;
    }
  }
  return line;
}

bool closed_within(test_client& client, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::milliseconds{left_until(deadline)};
    if (left.count() == 0) {
      return false;
    }
    try {
      if (client.receive_some(left).empty()) {
        return true;  // End of file.
      }
    } catch (const std::runtime_error& error) {
      // A reset ends the connection too; a timeout does not.
      return std::string{error.what()}.find("timed out") == std::string::npos;
    }
  }
}

std::string shown(const std::string& text) {
  if (text.empty()) {
    return "nothing";
  }
  std::string out = "\"";
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

fake_server::fake_server() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(listener_, 4) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error{"the test could not listen on 127.0.0.1"};
  }
  port_ = ntohs(address.sin_port);
}

fake_server::~fake_server() {
  if (connection_ >= 0) {
    ::close(connection_);
  }
  if (listener_ >= 0) {
    ::close(listener_);
  }
}

bool fake_server::accept(std::chrono::milliseconds timeout) {
  pollfd ready{listener_, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) {
    return false;
  }
  connection_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  return connection_ >= 0;
}

std::string fake_server::receive_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto end = pending_.find('\n'); end != std::string::npos) {
      std::string line = pending_.substr(0, end + 1);
      pending_.erase(0, end + 1);
      return line;
    }
    pollfd ready{connection_, POLLIN, 0};
    if (connection_ < 0 || ::poll(&ready, 1, left_until(deadline)) != 1) {
      break;
    }
    char buffer[4096];
    const auto got = ::recv(connection_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      break;
    }
    pending_.append(buffer, static_cast<std::size_t>(got));
  }
  return std::exchange(pending_, "");
}

bool fake_server::client_closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd ready{connection_, POLLIN, 0};
    if (connection_ < 0 || ::poll(&ready, 1, left_until(deadline)) != 1) {
      return false;
    }
    char buffer[4096];
    const auto got = ::recv(connection_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      return true;
    }
  }
}

void fake_server::send(const std::string& data) {
  std::size_t sent = 0;
  while (connection_ >= 0 && sent < data.size()) {
    const auto n = ::send(connection_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

void fake_server::close() {
  if (connection_ >= 0) {
    ::close(connection_);
    connection_ = -1;
  }
}

}  // namespace sandbox::exercise

// The test binary's main: GoogleTest takes its own flags (--gtest_...), and
// what is left is the program to test.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc >= 2) {
    sandbox::exercise::program_under_test = argv[1];
  } else if (const char* from_environment = std::getenv("SANDBOX_EXERCISE_PROGRAM")) {
    sandbox::exercise::program_under_test = from_environment;
  } else {
    std::cerr << "usage: " << argv[0]
              << " PROGRAM [--gtest_...]  (or set SANDBOX_EXERCISE_PROGRAM)\n";
    return 2;
  }
  return RUN_ALL_TESTS();
}
