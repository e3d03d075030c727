/// \file
/// \brief Moving an accepted socket from one io_context to another.
#include "hand_over.hpp"

#include <unistd.h>

namespace sandbox::detail {

//! [hand_over]
// Moves an accepted connection's descriptor into a socket of `executor`'s
// io_context: it leaves this loop's epoll set and joins the other one's.
tcp::socket hand_over(tcp::socket socket, const asio::any_io_executor& executor,
                      std::error_code& error) {
  tcp::socket moved{executor};
  const auto protocol = socket.local_endpoint(error).protocol();
  if (error) {
    return moved;
  }
  const auto handle = socket.release(error);
  if (error) {
    return moved;
  }
  moved.assign(protocol, handle, error);
  if (error) {
    ::close(handle);  // Nobody owns it any more.
  }
  return moved;
}
//! [hand_over]

}  // namespace sandbox::detail
