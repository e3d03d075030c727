/// \file
/// \brief Connecting to a server by name: asyncio's `open_connection()`
/// without the streams, for programs that want the plain socket.
#pragma once

#include "sandbox/asio.hpp"

#include <cstdint>
#include <string>

namespace sandbox {

/// Resolves `host` and connects to the first of its addresses that accepts,
/// trying them in the resolver's order (`localhost` may give `::1`, then
/// `127.0.0.1`), as asyncio's `open_connection()` does. A failure throws a
/// `std::system_error` that names what it tried, formatted by host_port():
/// "cannot resolve nowhere.invalid:2222: ..." or
/// "cannot connect to [::1]:9000: Connection refused".
///
/// open_connection() (sandbox/streams.hpp) connects with it, then wires the
/// socket into streams; chapter 10's troublemaker uses the socket as it is.
[[nodiscard]] asio::awaitable<tcp::socket> connect(std::string host, std::uint16_t port);

}  // namespace sandbox
