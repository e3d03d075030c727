/// \file
/// \brief File descriptors as a budget: RLIMIT_NOFILE, EMFILE, the reserve.
#include "descriptors.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sandbox::detail {

//! [descriptors]
// How many connections fit in the process's open file limit (RLIMIT_NOFILE,
// `ulimit -n`), after the headroom the process needs besides. The soft limit
// is first raised to the hard one, which any process may do for itself
// (Go's runtime does it at start-up since Go 1.19); the usual soft limit of
// 1024 is a leftover from select(), which cannot watch a descriptor above
// 1023. Asio uses epoll, which has no such bound.
descriptor_budget connections_that_fit(std::size_t headroom) {
  descriptor_budget budget;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) {
    return budget;
  }
  if (files.rlim_cur < files.rlim_max) {
    const rlimit raised{files.rlim_max, files.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {  // Fails if the hard limit is "unlimited".
      files = raised;
    }
  }
  if (files.rlim_cur == RLIM_INFINITY) {
    return budget;
  }
  budget.open_files = static_cast<std::size_t>(files.rlim_cur);
  budget.connections = budget.open_files > headroom ? budget.open_files - headroom : 1;
  return budget;
}
//! [descriptors]

bool out_of_descriptors(const std::error_code& error) {
  return error == std::error_code{EMFILE, asio::system_category()} ||  // this process
         error == std::error_code{ENFILE, asio::system_category()};   // the whole system
}

int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

void close_descriptor(int fd) {
  if (fd >= 0) {
    ::close(fd);
  }
}

}  // namespace sandbox::detail
