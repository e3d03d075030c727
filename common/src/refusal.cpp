/// \file
/// \brief Refusing a connection past the limit: one line, then a close that
/// does not lose it; or, out of descriptors, all at once.
#include "refusal.hpp"

#include "sandbox/goodbye.hpp"
#include "sandbox/protocol.hpp"
#include "sandbox/transport.hpp"

#include <array>
#include <memory>
#include <utility>

namespace sandbox::detail {
namespace {

// What a refused client that has sent something meets: the goodbye's slow
// dance. Everything it still sends is dropped; its end of file closes.
class leaving final : public protocol {
 public:
  explicit leaving(std::string rest_of_line) noexcept : rest_{std::move(rest_of_line)} {}

  void connection_made(transport& connection) override { say_goodbye(connection, rest_); }
  void data_received(std::string_view /*data*/) override {}
  bool eof_received() override { return false; }  // The client closed too: close.

 private:
  std::string rest_;  // What the first send did not take (usually nothing).
};

}  // namespace

//! [refusal]
// A connection over the limit: it gets one line saying why, then a close
// that does not lose that line. Closing a socket while the client's bytes
// sit unread in it makes the kernel send a reset instead of FIN, and a reset
// can destroy our line before the client reads it. A client that has sent
// nothing (a flood of them, typically) is closed as soon as the line is
// written: with nothing unread the close sends FIN, the line arrives, and
// the descriptor is free at once. A client with unread bytes gets the slow
// dance, say_goodbye(): a half-close, then reading (discarding) until it
// closes too, or for a second at most, holding a descriptor meanwhile.
void refuse_politely(tcp::socket socket, std::string line) {
  std::error_code error;
  socket.non_blocking(true, error);
  // A new socket's send buffer is empty: the line goes at once, whole.
  std::size_t sent = error ? 0 : socket.send(asio::buffer(line), 0, error);
  if (error == asio::error::would_block) {
    sent = 0;  // Not even a byte: the transport below will send it.
    error.clear();
  }
  // available() is FIONREAD: bytes received and not yet read.
  const std::size_t unread = error ? 0 : socket.available(error);
  if (error || (sent == line.size() && unread == 0)) {
    socket.close(error);
    return;
  }
  line.erase(0, sent);
  // The transport runs on the socket's executor (a strand, on a pool of
  // threads), from the start.
  const auto executor = socket.get_executor();
  asio::dispatch(executor, [line = std::move(line), socket = std::move(socket)]() mutable {
    auto goodbye = std::make_shared<leaving>(std::move(line));
    std::make_shared<transport>(std::move(socket), std::move(goodbye))->start();
  });
}
//! [refusal]

// Say the line if the socket takes it now (a new socket's send buffer is
// empty, so it does), read what the client has already sent, so that
// closing sends FIN and not a reset, and close. Whatever the client sends
// after that meets a reset.
void refuse_at_once(tcp::socket& socket, const std::string& line) {
  std::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.send(asio::buffer(line), 0, ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 1024> sink{};
  while (socket.receive(asio::buffer(sink), 0, ignored) > 0) {
  }
  socket.close(ignored);
}

}  // namespace sandbox::detail
