// Redirecting a file descriptor for the length of a call: the original is
// kept with dup(), a temporary file takes its number with dup2(), and the
// original is put back the same way, even if `code` throws.
#include "capture.hpp"

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <system_error>
#include <unistd.h>

namespace sandbox::testing {
namespace {

// Everything buffered is written out before and after, so no byte lands on
// the wrong side of the switch: C++ streams first (they sit on stdio), then
// stdio.
void flush_everything() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

std::string captured(int fd, const std::function<void()>& code) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::tmpfile(), &std::fclose};
  if (file == nullptr) {
    throw std::system_error{errno, std::generic_category(), "tmpfile"};
  }
  flush_everything();
  const int saved = ::dup(fd);
  if (saved < 0) {
    throw std::system_error{errno, std::generic_category(), "dup"};
  }
  if (::dup2(::fileno(file.get()), fd) < 0) {
    const int error = errno;
    ::close(saved);
    throw std::system_error{error, std::generic_category(), "dup2"};
  }
  struct restore {
    int fd;
    int saved;
    ~restore() {
      flush_everything();
      ::dup2(saved, fd);
      ::close(saved);
    }
  };
  {
    const restore put_back{fd, saved};
    code();
  }
  std::string text;
  std::rewind(file.get());
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    text.append(buffer, n);
  }
  return text;
}

}  // namespace

std::string captured_stdout(const std::function<void()>& code) {
  return captured(STDOUT_FILENO, code);
}

std::string captured_stderr(const std::function<void()>& code) {
  return captured(STDERR_FILENO, code);
}

}  // namespace sandbox::testing
