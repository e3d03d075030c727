/// \file
/// \brief What a server keeps for each listening socket's accept loop
/// (private to the library).
#pragma once

#include "sandbox/asio.hpp"

#include <cstddef>
#include <system_error>
#include <utility>

namespace sandbox::detail {

/// One listening socket and what its accept loop keeps. Touched only on the
/// server's strand.
struct listening_socket {
  listening_socket(tcp::acceptor socket, const asio::any_io_executor& strand)
      : acceptor{std::move(socket)}, back_off{strand}, log_timer{strand} {}

  tcp::acceptor acceptor;
  tcp::endpoint peer;           // filled in by the pending async_accept
  bool accepting = false;       // an async_accept is pending
  asio::steady_timer back_off;  // waits after an accept error
  // The accept-failure log: one line at the first failure, then at most one
  // a second, with the number of failures since the last line.
  asio::steady_timer log_timer;
  bool log_window_open = false;  // a failure was logged less than a second ago
  std::size_t unlogged_failures = 0;
  std::error_code last_failure;
};

}  // namespace sandbox::detail
