/// \file
/// \brief File descriptors as a budget (private to the library): how many
/// connections fit in the open file limit, what running out looks like, and
/// the reserve descriptor kept for that moment.
#pragma once

#include "sandbox/asio.hpp"

#include <cstddef>
#include <limits>
#include <system_error>

namespace sandbox::detail {

/// What connections_that_fit() found.
struct descriptor_budget {
  std::size_t open_files = 0;  // the soft limit, once raised (0: no limit to speak of)
  std::size_t connections = std::numeric_limits<std::size_t>::max();
};

/// How many connections fit in RLIMIT_NOFILE once `headroom` descriptors are
/// kept for everything else; raises the soft limit to the hard one first.
descriptor_budget connections_that_fit(std::size_t headroom);

/// EMFILE (this process) or ENFILE (the whole system).
bool out_of_descriptors(const std::error_code& error);

/// Opens the reserve: a descriptor held open for nothing (/dev/null), so
/// that one can be given back when the process has run out. -1 on failure.
int open_reserve();

/// Closes `fd` if it is open (>= 0).
void close_descriptor(int fd);

}  // namespace sandbox::detail
