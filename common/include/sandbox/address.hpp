/// \file
/// \brief Printing and resolving TCP addresses the way the chapters show them.
#pragma once

#include "sandbox/asio.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace sandbox {

/// `"localhost:2222"`, `"127.0.0.1:2222"` or `"[::1]:2222"`: an IPv6 literal
/// gets brackets so the port cannot be mistaken for part of the address.
[[nodiscard]] std::string host_port(std::string_view host, std::uint16_t port);

/// host_port() of an endpoint, as Python prints a `peername`.
[[nodiscard]] std::string to_string(const tcp::endpoint& endpoint);

}  // namespace sandbox
