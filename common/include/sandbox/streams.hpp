/// \file
/// \brief asyncio streams as C++20 coroutines over a transport: `StreamWriter`,
/// `start_server()` and `open_connection()`, with the `StreamReader` of
/// stream_reader.hpp.
///
/// As in asyncio, streams are a layer over the protocol/transport one: a
/// stream protocol collects what its transport receives into the reader's
/// buffer, and the writer forwards to the transport. The chapters that use
/// streams never see that machinery, but it is all in streams.cpp; the
/// reader itself, which needs no network, is in stream_reader.cpp.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/server.hpp"
#include "sandbox/stream_reader.hpp"
#include "sandbox/transport.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace sandbox {

namespace detail {
class stream_protocol;
}

/// The counterpart of `asyncio.StreamWriter`: writes go to the transport's
/// buffer at once; drain() waits, once that buffer has passed its high-water
/// mark, until it is back down to the low-water mark.
class stream_writer {
 public:
  /// Buffers `data` for sending (does not wait; see drain()).
  void write(std::string_view data);

  /// The same for a string the caller gives away (`write(std::move(data))`,
  /// as an echo does): when nothing else waits to be sent, its bytes are
  /// sent from where they are, without a copy. (A template only so that it
  /// takes nothing but a `std::string` rvalue: `write("text")` would
  /// otherwise be ambiguous between the two.)
  template <std::same_as<std::string> String>
  void write(String&& data) {
    write_owned(std::move(data));
  }

  /// Returns at once unless the write buffer has risen above its high-water
  /// mark (the transport paused writing, see protocol::pause_writing());
  /// then waits until the buffer has drained to its low-water mark or below.
  /// asyncio's drain() does the same. Call it after writing a lot, so that a
  /// peer that does not read cannot make us buffer without bound. Throws
  /// std::system_error if the connection is lost.
  asio::awaitable<void> drain();

  /// Half-closes: the peer reads end of file once the buffer is sent.
  void write_eof();

  /// True: TCP streams can half-close.
  [[nodiscard]] bool can_write_eof() const noexcept { return true; }

  /// Sends what is buffered, then closes the connection.
  void close();

  /// True once close() was called or the connection was lost.
  [[nodiscard]] bool is_closing() const noexcept;

  /// Waits until the connection is closed. Throws std::system_error if it
  /// ended with an error.
  asio::awaitable<void> wait_closed();

  /// The peer's address (`get_extra_info('peername')`).
  [[nodiscard]] tcp::endpoint get_peername() const;

  /// The transport underneath, as `writer.transport` in asyncio.
  [[nodiscard]] transport& get_transport() const noexcept { return *transport_; }

  /// A handle to no stream, to be assigned later; using it is an error.
  stream_writer() = default;

  /// Made by start_server() and open_connection().
  stream_writer(std::shared_ptr<transport> transport,
                std::shared_ptr<detail::stream_protocol> stream);

 private:
  void write_owned(std::string data);

  std::shared_ptr<transport> transport_;
  std::shared_ptr<detail::stream_protocol> stream_;
};

/// The coroutine start_server() runs for each client, like asyncio's
/// `client_connected_cb(reader, writer)`.
using client_connected_callback =
    std::function<asio::awaitable<void>(stream_reader reader, stream_writer writer)>;

/// The counterpart of `asyncio.start_server(client_connected_cb, host, port)`.
///
/// Each client's coroutine runs on the connection's own strand (or where
/// `pick` says: see server::executor_picker). When it returns (or throws:
/// the exception is printed to stderr, as asyncio logs it), the writer is
/// closed. asyncio 3.11 leaves that to the garbage collector; C++ has none,
/// so the rule is explicit.
asio::awaitable<std::shared_ptr<server>> start_server(
    client_connected_callback client_connected, std::string host, std::uint16_t port,
    std::size_t limit = default_stream_limit, server::executor_picker pick = {});

/// The counterpart of `asyncio.open_connection(host, port)`: tries each
/// address `host` resolves to until one accepts. Throws std::system_error,
/// saying which host and port, when none does.
asio::awaitable<std::pair<stream_reader, stream_writer>> open_connection(
    std::string host, std::uint16_t port, std::size_t limit = default_stream_limit);

}  // namespace sandbox
