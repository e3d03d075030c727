/// \file
/// \brief The polite goodbye: ending a connection with a line that says why,
/// without losing that line. Chapter 09 says it to idle and over-long
/// clients; a server says it to the clients it refuses.
#pragma once

#include "sandbox/transport.hpp"

#include <chrono>
#include <string_view>

namespace sandbox {

/// How long a goodbye waits for the client to close its side before the
/// connection is aborted.
inline constexpr std::chrono::seconds goodbye_linger{1};

/// Writes `line`, then half-closes: the client reads the line, then end of
/// file. The connection stays open for reading, so that the client's last
/// bytes are read (and dropped by the protocol) rather than left unread in
/// the socket; when the client closes too, the connection ends as usual.
/// A client that has not closed after `linger` is aborted.
///
/// Call it on the connection's executor, like every transport method; the
/// transport must be owned by a std::shared_ptr (they all are).
void say_goodbye(transport& connection, std::string_view line,
                 std::chrono::steady_clock::duration linger = goodbye_linger);

}  // namespace sandbox
