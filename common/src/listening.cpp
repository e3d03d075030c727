/// \file
/// \brief Resolving a host and binding a listening socket on each of its
/// addresses: the socket options a server needs, and the addresses a machine
/// may lack.
#include "listening.hpp"

#include "sandbox/address.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

namespace sandbox::detail {
namespace {

// Binding one address can fail because the machine simply lacks it (a
// container without IPv6 still resolves "localhost" to ::1). Such an
// address is skipped, as long as another one works.
bool address_missing_here(const std::error_code& error) {
  // Asio reports socket errors in its own "asio.system" category, which
  // does not compare equal to std::errc values: compare with Asio's codes.
  return error == asio::error::address_family_not_supported ||
         error == std::error_code{EADDRNOTAVAIL, asio::system_category()};
}

tcp::acceptor open_acceptor(const asio::any_io_executor& executor, const tcp::endpoint& endpoint,
                            std::error_code& error) {
  tcp::acceptor acceptor{executor};
  acceptor.open(endpoint.protocol(), error);
  if (error) {
    return acceptor;
  }
  // SO_REUSEADDR, as asyncio sets on POSIX: a restarted server can bind its
  // port while old connections still sit in TIME_WAIT.
  acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (endpoint.address().is_v6()) {
    // Without IPV6_V6ONLY an IPv6 socket on [::] would also take IPv4 and
    // collide with our own IPv4 socket on the same port.
    acceptor.set_option(asio::ip::v6_only(true), error);
  }
  if (!error) {
    acceptor.bind(endpoint, error);
  }
  if (!error) {
    // The backlog: connections the kernel completes for us before we accept
    // them (the accept queue). The system's maximum copes with bursts of
    // clients.
    acceptor.listen(asio::socket_base::max_listen_connections, error);
  }
  if (!error) {
    // Only our synchronous accept() calls see this flag (async_accept always
    // waits for readiness): they return would_block when the accept queue is
    // empty instead of waiting for a client. close() and the reserve
    // descriptor (accept_loop.cpp) use them to empty the queue.
    acceptor.non_blocking(true, error);
  }
  return acceptor;
}

}  // namespace

asio::awaitable<bound_addresses> bind_every_address(std::string host, std::uint16_t port,
                                                   asio::any_io_executor executor) {
  // getaddrinfo() with AI_PASSIVE, and without AI_ADDRCONFIG so that a
  // machine with only a loopback interface still gets both loopbacks. Its
  // errors ("Host not found") do not say which host: we do, as
  // open_connection() does.
  tcp::resolver resolver{co_await asio::this_coro::executor};
  auto [resolve_error, results] = co_await resolver.async_resolve(
      host, std::to_string(port), tcp::resolver::passive, as_tuple_awaitable);
  if (resolve_error) {
    throw std::system_error{resolve_error, "cannot resolve " + host_port(host, port)};
  }

  bound_addresses bound;
  std::error_code last_error;
  for (const auto& entry : results) {
    tcp::endpoint endpoint = entry.endpoint();
    if (std::ranges::find(bound.endpoints, endpoint) != bound.endpoints.end()) {
      continue;  // /etc/hosts may list an address twice.
    }
    if (!bound.endpoints.empty()) {
      // One port for every address, even with --port 0.
      endpoint.port(bound.endpoints.front().port());
    }
    std::error_code error;
    auto acceptor = open_acceptor(executor, endpoint, error);
    if (error) {
      if (!address_missing_here(error)) {
        throw std::system_error{error, "cannot listen on " + to_string(endpoint)};
      }
      last_error = error;
      continue;
    }
    bound.endpoints.push_back(acceptor.local_endpoint());
    bound.acceptors.push_back(std::move(acceptor));
  }
  if (bound.acceptors.empty()) {
    throw std::system_error{last_error, "cannot listen on " + host_port(host, port)};
  }
  co_return bound;
}

}  // namespace sandbox::detail
