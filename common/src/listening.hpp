/// \file
/// \brief Resolving a host and binding a listening socket on each of its
/// addresses (private to the library; server::listen() uses it).
#pragma once

#include "sandbox/asio.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sandbox::detail {

/// Listening sockets, one per address, and the addresses they are bound to
/// (with the real port), in the same order.
struct bound_addresses {
  std::vector<tcp::acceptor> acceptors;
  std::vector<tcp::endpoint> endpoints;
};

/// Resolves `host` (every address, as asyncio does) and binds each address
/// to `port`, one port for all; the sockets belong to `executor`. Throws
/// std::system_error when the host cannot be resolved or nothing can be bound.
asio::awaitable<bound_addresses> bind_every_address(std::string host, std::uint16_t port,
                                                   asio::any_io_executor executor);

}  // namespace sandbox::detail
