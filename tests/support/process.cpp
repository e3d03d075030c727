#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <regex>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace sandbox::testing {
namespace {

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

child_process::child_process(const std::vector<std::string>& argv) {
  char stderr_template[] = "/tmp/sandbox-test-stderr-XXXXXX";
  const int stderr_fd = ::mkstemp(stderr_template);
  if (stderr_fd < 0) {
    throw std::runtime_error{"mkstemp failed"};
  }
  stderr_path_ = stderr_template;

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error{"pipe failed"};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);

  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  const int error = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(stderr_fd);
  if (error != 0) {
    ::close(out[0]);
    throw std::runtime_error{"cannot start " + argv[0]};
  }
  stdout_fd_ = out[0];
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
  }
  ::unlink(stderr_path_.c_str());
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0) {
      return std::nullopt;
    }
    pollfd fd{stdout_fd_, POLLIN, 0};
    if (::poll(&fd, 1, remaining_ms(deadline)) <= 0) {
      return std::nullopt;  // Timed out.
    }
    char buffer[4096];
    const ssize_t got = ::read(stdout_fd_, buffer, sizeof buffer);
    if (got <= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      if (!pending_.empty()) {
        return std::exchange(pending_, {});  // A last line without '\n'.
      }
      return std::nullopt;
    }
    pending_.append(buffer, static_cast<std::size_t>(got));
  }
}

std::vector<std::string> child_process::read_remaining_lines(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> lines;
  while (auto line = read_line(std::chrono::milliseconds{remaining_ms(deadline)})) {
    lines.push_back(std::move(*line));
  }
  return lines;
}

void child_process::send_signal(int signal_number) {
  if (running()) {
    ::kill(pid_, signal_number);
  }
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_) {
    int raw = 0;
    const pid_t done = ::waitpid(pid_, &raw, WNOHANG);
    if (done == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
  return status_;
}

bool child_process::running() { return !status_ && !wait(0ms); }

long child_process::resident_kib() const {
  std::ifstream status{"/proc/" + std::to_string(pid_) + "/status"};
  for (std::string key; status >> key;) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
  }
  return -1;
}

std::string child_process::stderr_text() const {
  std::ifstream file{stderr_path_};
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

unsigned short parse_serving_port(const std::string& line) {
  static const std::regex serving{R"(^Serving on (.+):([0-9]+)$)"};
  std::smatch match;
  if (!std::regex_match(line, match, serving)) {
    return 0;
  }
  return static_cast<unsigned short>(std::stoi(match[2].str()));
}

}  // namespace sandbox::testing
