/// \file
/// \brief `asyncio.StreamReader`: coroutines that wait for lines, separated
/// chunks or a number of bytes, fed from outside.
///
/// Network-free on purpose: a reader knows nothing of sockets or transports.
/// Whatever feeds it calls feed_data() and feed_eof(); in a program that is
/// the stream protocol of streams.hpp, in the unit tests and the fuzz target
/// it is the test itself. Flow control goes through reading_control, which
/// the stream protocol implements by pausing its transport.
#pragma once

#include "sandbox/asio.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

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

/// What a reader asks of whatever feeds it, for flow control: to stop
/// feeding while its buffer is full, and to start again. (asyncio's
/// StreamReader calls its transport's methods of the same names.)
class reading_control {
 public:
  /// Stop calling feed_data() until resume_reading().
  virtual void pause_reading() = 0;
  /// Feed again.
  virtual void resume_reading() = 0;

 protected:
  ~reading_control() = default;
};

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
  /// more than twice limit(), the source (see set_transport()) is paused
  /// until reads bring it back under limit().
  ///
  /// Called on the executor the waiting read runs on (the connection's
  /// strand), the read resumes inside this call, before it returns: the
  /// bytes are taken, and whatever the coroutine writes joins this turn's
  /// send, with no trip through the event loop's queue. From anywhere else
  /// the read is queued on its executor.
  void feed_data(std::string_view data);

  /// Marks end of file and wakes a waiting read.
  void feed_eof();

  /// Makes every later read throw std::system_error with `error`.
  void set_exception(std::error_code error);

  /// What to pause once the buffer holds more than twice limit(), and to
  /// resume once reads bring it back under limit() (asyncio's
  /// set_transport()). Without one, the buffer grows as data is fed.
  void set_transport(std::weak_ptr<reading_control> source);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace sandbox
