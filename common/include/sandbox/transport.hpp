/// \file
/// \brief `asyncio.Transport` over a TCP socket: buffered writes, flow control,
/// and an orderly end.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/connection_slot.hpp"
#include "sandbox/protocol.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace sandbox {

/// The counterpart of asyncio's socket transport: it owns one connected TCP
/// socket, reads from it into its protocol's callbacks, and buffers what the
/// protocol writes.
///
/// **Threading.** A transport and its protocol live on the socket's executor
/// (a strand, for accepted connections): call the methods below only from the
/// protocol's callbacks or from code running on that executor, exactly as in
/// asyncio you call them only from the event loop's thread.
///
/// **Lifetime.** Transports are owned by `std::shared_ptr`. Each pending
/// read or write holds a reference, so a transport lives until the
/// connection is lost and nothing else points at it.
///
/// **Writes.** write() never blocks and never fails: it appends to a buffer.
/// Everything written during one turn of the event loop goes out in a single
/// send, after the current callback returns: `write("echo:")` then
/// `write(data)` leave in one `send()` call. That is one TCP segment only
/// while the bytes fit in one (the MSS: about 1,460 bytes on Ethernet, 64 KiB
/// on loopback); a larger send leaves as several segments, back to back.
class transport : public std::enable_shared_from_this<transport> {
 public:
  /// asyncio's default high-water mark of a write buffer: 64 KiB.
  static constexpr std::size_t default_high_water = 64 * 1024;

  /// Wraps a connected `socket` for `protocol`. `slot`, when given, is the
  /// place the accepting server keeps for this connection: the transport
  /// holds it until the connection ends (so that server::wait_closed() can
  /// wait for its connections) and answers close_clients() and
  /// abort_clients() through it. `peer` is the
  /// peer's address if the caller knows it (accept() and connect() do);
  /// otherwise the socket is asked, which fails once the peer has reset.
  /// Call start() next.
  transport(tcp::socket socket, std::shared_ptr<protocol> protocol,
            connection_slot slot = {},
            std::optional<tcp::endpoint> peer = std::nullopt);

  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;
  ~transport();

  /// Calls protocol::connection_made() and starts reading.
  void start();

  /// Queues `data` for sending. Ignored once the transport is closing, as
  /// asyncio does after close(). Throws std::logic_error after write_eof().
  void write(std::string_view data);

  /// Sends FIN once the buffered data is out: the peer reads end of file but
  /// can still send to us (a half-close).
  void write_eof();

  /// TCP can half-close, so always true (asyncio's SSL transport cannot).
  [[nodiscard]] bool can_write_eof() const noexcept { return true; }

  /// Stops reading, sends what is buffered, then closes the socket and calls
  /// protocol::connection_lost() with no error.
  void close();

  /// Closes at once, dropping whatever is still buffered;
  /// protocol::connection_lost() follows from the event loop.
  void abort();

  /// True from close(), abort() or a fatal error on.
  [[nodiscard]] bool is_closing() const noexcept { return state_ != state::open; }

  /// The peer's address (`get_extra_info('peername')`), kept from the start
  /// so it is still there after the socket closes.
  [[nodiscard]] const tcp::endpoint& get_peername() const noexcept { return peer_; }

  /// Our own end of the connection (`get_extra_info('sockname')`).
  [[nodiscard]] const tcp::endpoint& get_sockname() const noexcept { return local_; }

  /// Bytes written but not yet handed to the kernel.
  [[nodiscard]] std::size_t get_write_buffer_size() const noexcept;

  /// When the write buffer grows above `high`, protocol::pause_writing() is
  /// called; when it drains to `low` or below, protocol::resume_writing().
  /// asyncio's defaults are 64 KiB and a quarter of that.
  void set_write_buffer_limits(std::size_t high, std::size_t low);

  /// Whether a full write buffer also stops reading. On (this library's
  /// default, since chapter 08): while the write buffer is above the
  /// high-water mark the transport reads nothing more from this peer, so a
  /// client that sends but never reads cannot make the server buffer without
  /// bound, even if the protocol ignores pause_writing(). Off: only the
  /// protocol's own pause_writing() can push back, as in asyncio, where a
  /// protocol that ignores it (the lesson's) buffers whatever it is sent.
  void set_read_backpressure(bool on);

  /// Stops delivering data_received() until resume_reading(). The kernel's
  /// receive buffer fills up and TCP tells the peer to stop sending: this is
  /// how a slow reader pushes back on a fast writer.
  void pause_reading();

  /// Delivers what arrived meanwhile, then goes on reading.
  void resume_reading();

  /// False between pause_reading() and resume_reading(), and once closing.
  /// (Reading held by a full write buffer, see set_read_backpressure(), is
  /// not counted: that is the transport's own business, not the protocol's.)
  [[nodiscard]] bool is_reading() const noexcept {
    return state_ == state::open && !reading_paused_ && !eof_delivered_;
  }

  /// The executor every callback of this connection runs on.
  [[nodiscard]] tcp::socket::executor_type get_executor() noexcept {
    return socket_.get_executor();
  }

 private:
  enum class state { open, closing, closed };

  void start_read();
  void on_readable(std::error_code error);
  bool hand_over(std::string_view data);  // data_received(); false: stop reading
  void deliver(std::string_view data);
  void deliver_held();   // What waits on resume: end of file, or the next read.
  void deliver_later();  // deliver_held(), posted to the loop
  void adapt_read_size(std::size_t last_read);
  void schedule_write();
  void flush_scheduled();
  void start_write();
  void on_write(std::error_code error);
  void after_drained();
  void fatal_error(std::error_code error);
  void post_connection_lost(std::error_code error);
  void connection_lost(std::error_code error);
  void maybe_pause_protocol();
  void maybe_resume_protocol();
  [[nodiscard]] bool reading_held() const noexcept { return reading_paused_ || held_for_writes_; }

  tcp::socket socket_;
  std::shared_ptr<protocol> protocol_;
  connection_slot slot_;  // Held until connection_lost(): counts us active.
  tcp::endpoint peer_;
  tcp::endpoint local_;
  state state_ = state::open;
  std::error_code lost_error_;  // Set by fatal_error(): why the connection ends.

  // Reading. A connection owns no read buffer: it waits until its socket is
  // readable, then reads into its thread's buffer (see transport.cpp) and
  // hands the bytes to data_received() at once. While reading is held it
  // reads nothing: the bytes wait in the kernel. An idle (or paused)
  // connection therefore holds no read memory at all; it used to hold a
  // 64 KiB buffer of its own, which made 3,000 idle connections cost
  // chapter 09's server 205 MiB.
  //
  // How much one read may take adapts to the traffic, as Netty's and
  // libuv's read sizes do: 64 KiB to start, doubled (up to 256 KiB,
  // asyncio's read size) after a read that filled it, halved after one that
  // used under a quarter of it. A 100 KiB message then takes one read and
  // one send instead of two of each, while a connection trading short lines
  // takes at most 64 KiB from the kernel at a time.
  static constexpr std::size_t min_read_size = 64 * 1024;
  static constexpr std::size_t max_read_size = 256 * 1024;
  std::size_t read_size_ = min_read_size;
  bool held_eof_ = false;  // End of file read, not yet delivered.
  bool read_in_flight_ = false;  // A wait for readability is pending.
  bool reading_paused_ = false;
  bool eof_delivered_ = false;

  // Writing. pending_ collects write() calls; writing_ is what the kernel is
  // sending now. Swapping the two keeps one write in flight and no copies.
  std::string pending_;
  std::string writing_;
  bool write_in_flight_ = false;
  bool write_scheduled_ = false;  // A flush will come: posted, or when data_received() returns.
  bool delivering_ = false;       // Inside protocol_->data_received().
  bool eof_requested_ = false;
  bool eof_sent_ = false;
  bool protocol_paused_ = false;
  bool read_backpressure_ = true;
  bool held_for_writes_ = false;  // Reading stopped by a full write buffer (read back-pressure).
  std::size_t high_water_ = default_high_water;
  std::size_t low_water_ = default_high_water / 4;
};

}  // namespace sandbox
