/// \file
/// \brief How sandbox/connect.hpp resolves a name and connects.
#include "sandbox/connect.hpp"

#include "sandbox/address.hpp"

#include <system_error>

namespace sandbox {

asio::awaitable<tcp::socket> connect(std::string host, std::uint16_t port) {
  const auto executor = co_await asio::this_coro::executor;
  // Every failure names what it tried: "Host not found" alone does not say
  // which of a script's hosts was wrong. host_port() brackets an IPv6
  // literal, so "[::1]:9000" cannot be read as the address "::1:9000".
  const auto where = host_port(host, port);
  tcp::resolver resolver{executor};
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), as_tuple_awaitable);
  if (resolve_error) {
    throw std::system_error{resolve_error, "cannot resolve " + where};
  }
  tcp::socket socket{executor};
  // async_connect tries each address in turn: ::1, then 127.0.0.1, ... and
  // reports the last failure if none accepts.
  auto [connect_error, endpoint] =
      co_await asio::async_connect(socket, endpoints, as_tuple_awaitable);
  if (connect_error) {
    throw std::system_error{connect_error, "cannot connect to " + where};
  }
  co_return socket;
}

}  // namespace sandbox
