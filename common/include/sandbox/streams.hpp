/// \file
/// \brief asyncio streams as C++20 coroutines: `StreamReader`, `StreamWriter`,
/// `start_server()` and `open_connection()`.
///
/// As in asyncio, streams are a layer over the protocol/transport one: a
/// stream protocol collects what its transport receives into the reader's
/// buffer, and the writer forwards to the transport. The chapters that use
/// streams never see that machinery, but it is all in streams.cpp.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace sandbox {

/// asyncio's default stream buffer limit, 64 KiB: the longest line (or
/// readuntil() chunk) a reader accepts.
inline constexpr std::size_t default_stream_limit = 64 * 1024;

/// `asyncio.IncompleteReadError`: the stream ended before a read could be
/// completed. partial() holds what had arrived; it is removed from the stream.
class incomplete_read_error : public std::runtime_error {
 public:
  /// `expected` is the number of bytes wanted, or empty when reading up to a
  /// separator.
  incomplete_read_error(std::string partial, std::optional<std::size_t> expected);

  /// The bytes read before the end of the stream.
  [[nodiscard]] const std::string& partial() const noexcept { return partial_; }
  /// The total wanted by readexactly(); empty for readuntil().
  [[nodiscard]] std::optional<std::size_t> expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::optional<std::size_t> expected_;
};

/// `asyncio.LimitOverrunError`: no separator within the reader's limit.
class limit_overrun_error : public std::runtime_error {
 public:
  /// `consumed` is how many bytes the caller may skip to make progress.
  limit_overrun_error(const std::string& message, std::size_t consumed);

  /// Bytes that can be skipped (asyncio's `consumed`).
  [[nodiscard]] std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

namespace detail {
class stream_protocol;
}

/// The counterpart of `asyncio.StreamReader`: coroutines that wait for the
/// bytes you ask for.
///
/// A reader is a cheap handle: copies share one buffer. Use it from the
/// connection's executor (its coroutine), and let one coroutine at a time
/// wait on it. Every read returns a `std::string` of bytes; an empty string
/// from read() means end of file.
///
/// As in asyncio, a reader is fed from outside: start_server() and
/// open_connection() connect it to a transport, and tests may call
/// feed_data() and feed_eof() themselves.
class stream_reader {
 public:
  /// A handle to no stream, to be assigned later (Asio needs result types
  /// of coroutines to be default-constructible). Using it is an error.
  stream_reader() = default;

  /// An empty reader whose waits run on `executor`, holding at most about
  /// `limit` bytes before it asks its transport to pause.
  explicit stream_reader(const asio::any_io_executor& executor,
                         std::size_t limit = default_stream_limit);

  /// Up to `max_bytes` bytes: what is buffered, or else whatever arrives
  /// next. Returns `""` only at end of file (or when `max_bytes` is 0).
  asio::awaitable<std::string> read(std::size_t max_bytes);

  /// Everything up to end of file (`read()` / `read(-1)` in asyncio).
  asio::awaitable<std::string> read();

  /// One line, with its `\n`. At end of file, returns what is left (maybe
  /// without `\n`, maybe `""`). A line longer than limit() throws
  /// limit_overrun_error, after discarding it (asyncio raises ValueError).
  asio::awaitable<std::string> readline();

  /// Bytes up to and including `separator`. Throws incomplete_read_error at
  /// end of file, and limit_overrun_error when the separator is not within
  /// limit() bytes; the data then stays in the buffer.
  asio::awaitable<std::string> readuntil(std::string_view separator = "\n");

  /// Exactly `count` bytes, or incomplete_read_error at end of file.
  asio::awaitable<std::string> readexactly(std::size_t count);

  /// True once end of file was seen and the buffer is empty.
  [[nodiscard]] bool at_eof() const noexcept;

  /// The buffer limit.
  [[nodiscard]] std::size_t limit() const noexcept;

  /// Appends received bytes and wakes a waiting read. Once the buffer holds
  /// more than twice limit(), the transport (if any) is paused until reads
  /// bring it back under limit().
  void feed_data(std::string_view data);

  /// Marks end of file and wakes a waiting read.
  void feed_eof();

  /// Makes every later read throw std::system_error with `error`.
  void set_exception(std::error_code error);

  /// The transport to pause and resume for flow control.
  void set_transport(std::weak_ptr<transport> transport);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

/// The counterpart of `asyncio.StreamWriter`: writes go to the transport's
/// buffer at once; drain() waits, once that buffer has passed its high-water
/// mark, until it is back down to the low-water mark.
class stream_writer {
 public:
  /// Buffers `data` for sending (does not wait; see drain()).
  void write(std::string_view data);

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
