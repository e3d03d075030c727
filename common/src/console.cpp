/// \file
/// \brief How sandbox/console.hpp keeps lines from many threads whole.
#include "sandbox/console.hpp"

#include <cstdio>
#include <mutex>

namespace sandbox::detail {

void write_line(bool to_stderr, std::string_view line) {
  // One lock for both streams: a console shows them interleaved, and a line
  // must never be cut by another thread's line.
  static std::mutex console_mutex;
  std::FILE* stream = to_stderr ? stderr : stdout;
  const std::lock_guard lock(console_mutex);
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
}

}  // namespace sandbox::detail
