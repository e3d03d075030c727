/// \file
/// \brief The polite goodbye: a line, a half-close, a linger.
#include "sandbox/goodbye.hpp"

#include <memory>
#include <system_error>

namespace sandbox {

//! [goodbye]
// Ends a connection with a line that says why, without losing that line.
// Closing a socket that still holds unread bytes makes the kernel send a
// reset, which may destroy the line before the client reads it. So: the
// line, then a half-close (the client reads it, then end of file); the
// transport goes on reading, and its protocol drops whatever the client
// still sends, until the client closes too, or for a second at most.
void say_goodbye(transport& connection, std::string_view line,
                 std::chrono::steady_clock::duration linger) {
  connection.write(line);
  connection.write_eof();
  // The timer keeps itself alive through its own handler, and holds the
  // transport only weakly: a client that closes in time lets the transport
  // go at once; the timer then finds nothing left to abort.
  auto timer = std::make_shared<asio::steady_timer>(connection.get_executor(), linger);
  timer->async_wait([timer, weak = connection.weak_from_this()](std::error_code) {
    if (auto lingering = weak.lock()) {
      lingering->abort();  // Does nothing if the connection has ended.
    }
  });
}
//! [goodbye]

}  // namespace sandbox
