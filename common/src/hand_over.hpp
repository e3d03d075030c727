/// \file
/// \brief Moving an accepted socket from one io_context to another (private
/// to the library; chapter 06's picker needs it).
#pragma once

#include "sandbox/asio.hpp"

#include <system_error>

namespace sandbox::detail {

/// Returns `socket`'s connection as a socket of `executor`'s io_context. On
/// failure `error` is set and the connection is closed.
tcp::socket hand_over(tcp::socket socket, const asio::any_io_executor& executor,
                      std::error_code& error);

}  // namespace sandbox::detail
