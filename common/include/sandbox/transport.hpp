/// \file
/// \brief `asyncio.Transport` over a TCP socket: buffered writes, flow control,
/// and an orderly end.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/connection_slot.hpp"
#include "sandbox/protocol.hpp"

#include <chrono>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

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
/// **Writes.** write() never blocks: it appends to a buffer, and a send that
/// fails ends the connection (connection_lost() with the error), not the call.
/// Everything written during one turn of the event loop goes out in a single
/// send, after the current callback returns: `write("echo:")` then
/// `write(data)` leave in one `send()` call. That is one TCP segment only
/// while the bytes fit in one (the MSS: about 1,460 bytes on Ethernet, 64 KiB
/// on loopback); a larger send leaves as several segments, back to back.
///
/// **State.** A connection is four small state machines, one variable each
/// (plus the set of reasons reading is held).
/// Each event (a read completes, write(), close(), ...) is handled by one
/// function, which switches on the state it finds and makes the transition;
/// the private section says how each state is entered and left.
///
///     connection  open ──close(), abort(), error──▶ closing ──connection_lost()──▶ closed
///
///     reading     held ──start(), or last hold released──▶ waiting ──readable──▶ delivering
///                  ▲ ▲                                        │                   │  │
///                  │ └────────────held meanwhile──────────────┘                   │  │
///                  └──────────held by the callback (or by what it wrote)──────────┘  │
///                                                waiting ◀──read all for now────────┤
///                                                   done ◀──end of file, or an error─┘
///                 (and from any state to done when the connection starts closing)
///
///     writing     idle ──write()──▶ scheduled ──flush──▶ sending ──all sent──▶ idle
///                                   (scheduled ──flush, abort() emptied it──▶ idle)
///                  │                  │ write_eof()       │ write_eof()
///                  │                  └──────────▶ eof_pending ◀┘
///                  │ write_eof()                      │ all sent
///                  └──────────────────────────▶ eof_sent ◀┘
///
///     flow        flowing ──buffer above the high-water mark──▶ paused ──drained to low──▶ flowing
///                    └──the same, inside a callback──▶ pause_owed ──it returns──▶ paused
///
/// Reading is held for two reasons, which may hold at once: the protocol
/// called pause_reading(), or the write buffer is above its high-water mark
/// (see set_read_backpressure()). It goes on when neither holds.
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

  /// The same for a string the caller gives away (`write(std::move(s))`):
  /// when nothing else is buffered the string becomes the buffer, and its
  /// bytes are sent without a copy. (A template only so that it takes
  /// nothing but a `std::string` rvalue: `write("text")` stays unambiguous.)
  template <std::same_as<std::string> String>
  void write(String&& data) {
    write_owned(std::move(data));
  }

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

  /// Bytes written but not yet handed to the kernel. It shrinks while a
  /// large write is under way, as the kernel takes each part of it, so a
  /// caller can see a slow reader's progress.
  [[nodiscard]] std::size_t get_write_buffer_size() const noexcept;

  /// When the kernel last took bytes written here (a default time_point if
  /// it never has): a client's last sign of life as a reader. An idle
  /// timeout that looked only at what a client sends would close one that
  /// is still taking a long reply (chapter 13).
  [[nodiscard]] std::chrono::steady_clock::time_point last_sent() const noexcept {
    return last_sent_;
  }

  /// When the write buffer grows above `high`, protocol::pause_writing() is
  /// called; when it drains to `low` or below, protocol::resume_writing().
  /// asyncio's defaults are 64 KiB and a quarter of that.
  void set_write_buffer_limits(std::size_t high, std::size_t low);

  /// The marks set_write_buffer_limits() set, as asyncio's
  /// `get_write_buffer_limits()`: `{low, high}`.
  [[nodiscard]] std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept {
    return {low_water_, high_water_};
  }

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

  /// False between pause_reading() and resume_reading(), once end of file
  /// was delivered, and once closing.
  /// (Reading held by a full write buffer, see set_read_backpressure(), is
  /// not counted: that is the transport's own business, not the protocol's.)
  [[nodiscard]] bool is_reading() const noexcept {
    return state_ == state::open && read_state_ != read_state::done && (holds_ & by_protocol) == 0;
  }

  /// The executor every callback of this connection runs on.
  [[nodiscard]] tcp::socket::executor_type get_executor() noexcept {
    return socket_.get_executor();
  }

 private:
  // --- The state: one variable per machine (see the diagrams above) --------

  /// The connection as a whole.
  enum class state {
    open,     // From construction. Left for closing by close(), abort() or an
              // error (enter_closing()).
    closing,  // Nothing more is read or accepted for writing. close() stays
              // here until the buffer is sent; abort() and errors until the
              // posted connection_lost() runs, or until a write in flight
              // completes first (drained() then ends it). Left for closed by
              // connection_lost().
    closed,   // The socket is closed, protocol::connection_lost() has run and
              // the protocol is released. Final: late handlers see it and return.
  };

  /// What the read side is doing. Handled in start_read(), on_readable(),
  /// deliver(), deliver_eof() and enter_closing(): nowhere else.
  enum class read_state {
    held,        // Not reading and no wait armed: from construction to
                 // start(), and while a hold (below) stops reading. Left for
                 // waiting by start_read(): from start(), or posted by
                 // release_reading() once the last hold goes.
    waiting,     // A wait for readability is armed (start_read()). Left when
                 // it completes: for delivering; for held, reading nothing,
                 // if a hold came meanwhile; for done if it failed (an error
                 // closes). Left at once for done when the connection starts
                 // closing (enter_closing()): the wait's late completion
                 // finds done and returns.
    delivering,  // Inside on_readable(): reading into the thread's buffer and
                 // handing the bytes to data_received(). Left for waiting
                 // after a short read (under 16 KiB), after four reads, or
                 // when the socket has nothing more; for held when the
                 // callback (or what it wrote) held reading; for done at end
                 // of file (deliver_eof()), on a read error, or when the
                 // callback closed the connection.
    done,        // Nothing more will be read: end of file was read (entered
                 // just before eof_received()), or the connection is closing.
                 // Final.
  };

  /// Why reading is held: a set, since both may hold at once. Reading goes
  /// on when neither does. Set by hold_reading(), cleared by release_reading().
  enum hold : unsigned char {
    by_protocol = 1,      // pause_reading(), until resume_reading().
    by_write_buffer = 2,  // The write buffer passed its high-water mark, with
                          // read back-pressure on: until it drains to the
                          // low-water mark, or set_read_backpressure(false).
  };

  /// What the write side is doing. Handled in queue_written(), flush(),
  /// write_eof(), send_eof(), on_write(), drained() and close(): nowhere
  /// else. A failed send leaves it where it was: the connection is closing
  /// (fatal_error()), and nothing is sent again.
  enum class write_state {
    idle,         // Nothing buffered, nothing being sent. Left by write(), for
                  // scheduled; by write_eof(), which sends FIN at once, for eof_sent.
    scheduled,    // This turn's writes wait in pending_ for one flush, which
                  // comes when data_received() returns (inside the read loop)
                  // or posted (from anywhere else). Left by flush() for
                  // sending (for idle if abort() emptied the buffer
                  // meanwhile); by write_eof() for eof_pending (no more writes
                  // can join the turn's, so they leave at once).
    sending,      // An async_write of writing_ is in flight; writes meanwhile
                  // join pending_ and leave when it completes. Left when all
                  // is sent (drained()) for idle; by write_eof() for eof_pending.
    eof_pending,  // As sending, after write_eof(): write() throws, and FIN
                  // follows the last byte. Left when all is sent for eof_sent.
    eof_sent,     // FIN sent (shutdown of our sending side). Final.
  };

  /// Whether the protocol was told to stop writing. Handled in
  /// maybe_pause_protocol(), maybe_resume_protocol() and call_protocol().
  enum class flow {
    flowing,     // From construction, and after resume_writing().
    pause_owed,  // The write buffer passed the high-water mark during a
                 // callback: pause_writing() is called as soon as that
                 // callback returns (call_protocol()), so that it does not
                 // run inside it. Left for paused then.
    paused,      // pause_writing() was called. Left for flowing, calling
                 // resume_writing(), when the buffer drains to the low-water mark.
  };

  // Every call into the protocol goes through here: it marks the callback
  // as running (so that what it causes waits until it returns) and then
  // delivers a pause_writing() it made owed.
  template <typename Call>
  void call_protocol(Call call);

  // Reading.
  void start_read();
  void on_readable(std::error_code error);
  bool deliver(std::string_view data);  // data_received(); false: stop reading
  void deliver_eof();
  void adapt_read_size(std::size_t last_read);
  void hold_reading(hold reason) noexcept { holds_ = static_cast<unsigned char>(holds_ | reason); }
  void release_reading(hold reason);

  // Writing.
  [[nodiscard]] bool accepts_write(std::size_t size) const;  // Throws after write_eof().
  void write_owned(std::string data);
  void queue_written();  // After bytes joined pending_: schedules the flush.
  void flush();
  void send_pending();
  void on_write(std::error_code error);
  void drained();
  void send_eof();
  void maybe_pause_protocol();
  void maybe_resume_protocol();

  // Ending.
  void enter_closing();
  void fatal_error(std::error_code error);
  void post_connection_lost(std::error_code error);
  void connection_lost(std::error_code error);

  tcp::socket socket_;
  std::shared_ptr<protocol> protocol_;
  connection_slot slot_;  // Held until connection_lost(): counts us active.
  tcp::endpoint peer_;
  tcp::endpoint local_;
  state state_ = state::open;
  read_state read_state_ = read_state::held;
  unsigned char holds_ = 0;  // A set of hold values.
  write_state write_state_ = write_state::idle;
  flow flow_ = flow::flowing;
  bool in_callback_ = false;    // A protocol callback is running (call_protocol()).
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

  // Writing. pending_ collects write() calls; writing_ is what the kernel is
  // sending now (empty unless a write is in flight). Swapping the two keeps
  // one write in flight and no copies.
  std::string pending_;
  std::string writing_;
  std::size_t writing_sent_ = 0;  // Of writing_, what the kernel has taken so far.
  std::chrono::steady_clock::time_point last_sent_;  // When it last took some.

  // Settings, not state.
  bool read_backpressure_ = true;
  std::size_t high_water_ = default_high_water;
  std::size_t low_water_ = default_high_water / 4;
};

}  // namespace sandbox
