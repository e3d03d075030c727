/// \file
/// \brief Refusing a connection past the limit with one line (private to the
/// library; the accept loop uses it).
#pragma once

#include "sandbox/asio.hpp"

#include <string>

namespace sandbox::detail {

/// Sends `line` to a connection the server will not serve, and closes it
/// without losing that line (see say_goodbye()). The socket should belong to
/// a strand (or to a loop run by one thread): a refusal that must wait for
/// its client runs there.
void refuse_politely(tcp::socket socket, std::string line);

/// The refusal of a server out of descriptors, which cannot keep the
/// connection while the client finishes: done before returning.
void refuse_at_once(tcp::socket& socket, const std::string& line);

}  // namespace sandbox::detail
