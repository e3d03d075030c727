/// \file
/// \brief How sandbox/address.hpp prints and resolves addresses.
#include "sandbox/address.hpp"

namespace sandbox {

std::string host_port(std::string_view host, std::uint16_t port) {
  const bool ipv6_literal = host.find(':') != std::string_view::npos;
  std::string out;
  if (ipv6_literal) {
    out += '[';
  }
  out += host;
  if (ipv6_literal) {
    out += ']';
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string to_string(const tcp::endpoint& endpoint) {
  return host_port(endpoint.address().to_string(), endpoint.port());
}

}  // namespace sandbox
