/// \file
/// \brief How a transport works: the read loop that calls the protocol, the
/// read buffer that adapts to the traffic, write coalescing
/// (`schedule_write()`), read back-pressure.
#include "sandbox/transport.hpp"

#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>

namespace sandbox {

transport::transport(tcp::socket socket, std::shared_ptr<protocol> protocol,
                     connection_slot slot, std::optional<tcp::endpoint> peer)
    : socket_{std::move(socket)}, protocol_{std::move(protocol)}, slot_{std::move(slot)} {
  std::error_code ignored;
  // Asked of the socket, the peer may already have gone; an empty endpoint
  // is the honest answer then.
  peer_ = peer ? *peer : socket_.remote_endpoint(ignored);
  local_ = socket_.local_endpoint(ignored);
  // TCP_NODELAY, as asyncio sets on every TCP transport. Without it, Nagle's
  // algorithm holds back a small segment while an earlier one is unacknowledged,
  // and the peer delays its acknowledgement hoping to piggyback it on a reply:
  // a 100 KiB echo sent in pieces then stalls for 40 ms a time (chapter 04
  // measured 663 requests/s instead of 7,000). We already gather each turn's
  // writes into one send, which is what Nagle was for.
  socket_.set_option(tcp::no_delay{true}, ignored);
}

transport::~transport() = default;

void transport::start() {
  // The server's close_clients() and abort_clients() come from any thread,
  // and find us only while we live (a weak pointer): hop to our executor.
  slot_.on_close_request([weak = weak_from_this()](connection_slot::request how) {
    if (auto self = weak.lock()) {
      asio::dispatch(self->get_executor(), [self, how] {
        how == connection_slot::request::close ? self->close() : self->abort();
      });
    }
  });
  // Non-blocking mode for our own read_some() calls (see on_readable()):
  // with nothing to read they fail with would_block instead of waiting.
  // Asio's asynchronous operations are unaffected.
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
  protocol_->connection_made(*this);
  start_read();
}

// --- Reading ---------------------------------------------------------------
//
// The obvious way to read, and the one the Asio examples show, is
// `async_read_some(buffer, handler)`: the buffer must exist, and stay
// untouched, from the moment the read starts until it completes, which on
// an idle connection is forever. With a 64 KiB buffer per connection,
// 10,000 idle clients would pin 640 MiB of memory that holds nothing.
//
// So a connection reads in two steps, as libuv (under Node.js and uvloop)
// and Netty do:
//
//   1. async_wait(wait_read): ask the reactor (epoll) to say when the
//      socket has bytes, end of file or an error. No buffer is needed yet.
//   2. read_some() on the non-blocking socket, into a buffer that belongs to
//      the thread, not to the connection, and deliver what it brought before
//      returning. The next connection this thread serves reuses the buffer.
//      While reading is paused nothing is read: the bytes wait in the kernel.
//
// Cost: each wait re-arms epoll (one epoll_ctl call), where async_read_some
// first tried a recv() that failed whenever the next request had not come
// yet. Chapter 04's benchmark (docs/performance.md has the figures) measured
// the same CPU per echo both ways for chapter 01 and for 100 KiB messages,
// and about 6% more for chapter 02's 1 KiB echoes; 10,000 idle connections
// to chapter 09 went from 667 MiB to 40 MiB.

namespace {

// The thread's read buffer, made on the thread's first read. Its pages are
// not written until a read needs them (make_unique_for_overwrite leaves
// them uninitialised), so a thread that only ever reads short lines keeps
// only the first few KiB of it resident.
//
// Sharing it is safe because it is used only from a read to the return of
// data_received() on the same thread, with no other handler in between:
// protocols copy what they keep (`data` is valid only during the call).
//
// It starts half a page into its allocation. glibc maps an allocation this
// large on its own pages, at the same offset into a page as every other
// large one, such as a 100 KiB write buffer. Chapter 01 copies the bytes
// read into its write buffer after "echo:", so source and destination then
// differ by 5 bytes modulo 4 KiB, and x86 runs such a copy several times
// slower ("4K aliasing"): chapter 01 spent 23-32 us of user time per
// 100 KiB echo instead of 7-12, until this offset.
char* thread_read_buffer(std::size_t size) {
  constexpr std::size_t offset = 2048;
  thread_local std::unique_ptr<char[]> buffer =
      std::make_unique_for_overwrite<char[]>(offset + size);
  return buffer.get() + offset;
}

}  // namespace

void transport::start_read() {
  if (state_ != state::open || read_in_flight_ || reading_held() || eof_delivered_ ||
      held_eof_) {
    return;
  }
  read_in_flight_ = true;
  // The handler holds a shared_ptr to this transport: as long as the wait
  // is pending, the transport cannot be destroyed under it.
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](std::error_code error) {
                       self->on_readable(error);
                     });
}

void transport::on_readable(std::error_code error) {
  read_in_flight_ = false;
  if (state_ != state::open) {
    return;  // close() stopped reading: like asyncio, drop late data.
  }
  if (error) {
    fatal_error(error);
    return;
  }
  if (reading_held()) {
    // Paused while we waited. The bytes stay in the kernel, which is where
    // a paused connection's bytes belong: when its buffer fills, TCP makes
    // the peer wait. resume_reading() waits again, and that wait completes
    // at once. (Copying them out to keep them would cost a copy and an
    // allocation per pause; at 100 KiB the write buffer's high-water mark
    // pauses reading for nearly every message.)
    return;
  }
  char* const buffer = thread_read_buffer(max_read_size);
  // A read that brings a lot means a large transfer is under way: the rest
  // is probably in the kernel already, so read again at once rather than
  // ask epoll (a 100 KiB message often arrives in two parts). A few times
  // at most, so that one busy peer cannot keep the thread from the others;
  // libuv does the same. Short messages take one read per wake-up.
  constexpr std::size_t large_read = min_read_size / 4;
  constexpr int max_reads_per_wake_up = 4;
  for (int reads = 0; reads < max_reads_per_wake_up; ++reads) {
    const std::size_t size = socket_.read_some(asio::buffer(buffer, read_size_), error);
    if (error == asio::error::would_block) {
      break;  // Nothing (more) to read now: wait.
    }
    if (error == asio::error::eof) {
      held_eof_ = true;  // Not an error: the peer finished sending.
      deliver({});
      return;
    }
    if (error) {
      fatal_error(error);  // Reset by peer, and the like.
      return;
    }
    if (!hand_over({buffer, size})) {
      return;  // Closing, or paused by the callback.
    }
    if (size < large_read) {
      break;
    }
  }
  start_read();
}

void transport::adapt_read_size(std::size_t last_read) {
  if (last_read == read_size_ && read_size_ < max_read_size) {
    read_size_ *= 2;
  } else if (last_read < read_size_ / 4 && read_size_ > min_read_size) {
    read_size_ /= 2;
  }
}

bool transport::hand_over(std::string_view data) {
  delivering_ = true;
  protocol_->data_received(data);
  delivering_ = false;
  adapt_read_size(data.size());
  // What the callback wrote leaves now, in one send, before we read again.
  flush_scheduled();
  return state_ == state::open && !reading_held();
}

void transport::deliver(std::string_view data) {
  if (!data.empty() && !hand_over(data)) {
    return;
  }
  if (held_eof_) {
    held_eof_ = false;
    eof_delivered_ = true;
    const bool keep_open = protocol_->eof_received();
    if (!keep_open) {
      close();
    }
    return;
  }
  start_read();
}

void transport::deliver_held() {
  if (state_ != state::open || reading_held()) {
    return;  // Keep it: resume_reading() delivers it later.
  }
  deliver({});  // The end of file, if it came; else the next read.
}

void transport::pause_reading() { reading_paused_ = true; }

void transport::deliver_later() {
  // From the event loop, not from inside the caller (which may be a
  // protocol callback itself): callbacks never nest.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->deliver_held(); });
}

void transport::set_read_backpressure(bool on) {
  read_backpressure_ = on;
  if (!on && std::exchange(held_for_writes_, false)) {
    deliver_later();
  }
}

void transport::resume_reading() {
  if (!reading_paused_) {
    return;
  }
  reading_paused_ = false;
  if (held_for_writes_) {
    return;  // The write buffer is still full: maybe_resume_protocol() reads on.
  }
  deliver_later();
}

// --- Writing ---------------------------------------------------------------

namespace {

// async_write's completion condition: how much to offer the kernel in the
// next send, 0 meaning "done". The default, transfer_all, offers at most
// 64 KiB per call, so a 100 KiB echo took two sendto() calls (strace counted
// two per echo in chapter 04's benchmark; asyncio and uvloop make one).
// Offering the whole rest lets the kernel take all it can in one call.
std::size_t whole_buffer_each_call(const std::error_code& error, std::size_t /*sent*/) {
  return error ? 0 : std::numeric_limits<std::size_t>::max() / 2;
}

}  // namespace

std::size_t transport::get_write_buffer_size() const noexcept {
  return pending_.size() + (write_in_flight_ ? writing_.size() : 0);
}

void transport::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) {
    throw std::invalid_argument{"low-water mark must not exceed the high-water mark"};
  }
  high_water_ = high;
  low_water_ = low;
  maybe_pause_protocol();
}

void transport::write(std::string_view data) {
  if (eof_requested_) {
    throw std::logic_error{"transport::write() after write_eof()"};
  }
  if (state_ != state::open || data.empty()) {
    return;
  }
  pending_ += data;
  schedule_write();
  maybe_pause_protocol();
}

void transport::schedule_write() {
  if (write_in_flight_ || write_scheduled_) {
    return;
  }
  // Do not send yet: every write() made before control returns to the
  // event loop joins pending_ and leaves in one send. Inside data_received()
  // deliver() sends when the callback returns; anywhere else (a coroutine,
  // a timer) a posted handler does it.
  write_scheduled_ = true;
  if (!delivering_) {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush_scheduled(); });
  }
}

void transport::flush_scheduled() {
  if (write_scheduled_) {
    write_scheduled_ = false;
    start_write();
  }
}

void transport::start_write() {
  if (state_ == state::closed || write_in_flight_) {
    return;
  }
  if (pending_.empty()) {
    after_drained();
    return;
  }
  writing_.swap(pending_);
  write_in_flight_ = true;
  // async_write, unlike async_write_some, keeps going until every byte is
  // sent or an error occurs; writing_ must stay untouched until then.
  asio::async_write(socket_, asio::buffer(writing_), whole_buffer_each_call,
                    [self = shared_from_this()](std::error_code error, std::size_t /*sent*/) {
                      self->on_write(error);
                    });
}

void transport::on_write(std::error_code error) {
  write_in_flight_ = false;
  writing_.clear();
  if (state_ == state::closed) {
    return;
  }
  if (error) {
    fatal_error(error);
    return;
  }
  maybe_resume_protocol();
  if (!pending_.empty()) {
    start_write();
  } else {
    after_drained();
  }
}

void transport::after_drained() {
  if (eof_requested_ && !eof_sent_) {
    eof_sent_ = true;
    std::error_code ignored;  // Fails only if the peer is gone; reading will tell.
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  if (state_ == state::closing) {
    connection_lost({});
  }
}

void transport::write_eof() {
  if (state_ != state::open || eof_requested_) {
    return;
  }
  eof_requested_ = true;
  if (!write_in_flight_ && !write_scheduled_) {
    after_drained();  // Nothing buffered: send FIN now.
  }
}

void transport::maybe_pause_protocol() {
  if (state_ == state::closed) {
    return;  // protocol_ is gone.
  }
  if (!protocol_paused_ && get_write_buffer_size() > high_water_) {
    protocol_paused_ = true;
    // Read back-pressure: nothing more is read until the peer takes its
    // bytes. Set before the callback, which may change it or close.
    held_for_writes_ = read_backpressure_;
    protocol_->pause_writing();
  }
}

void transport::maybe_resume_protocol() {
  if (state_ == state::closed) {
    return;
  }
  if (protocol_paused_ && get_write_buffer_size() <= low_water_) {
    protocol_paused_ = false;
    protocol_->resume_writing();
    if (std::exchange(held_for_writes_, false) && state_ == state::open && !reading_paused_) {
      deliver_later();
    }
  }
}

// --- Ending ----------------------------------------------------------------

void transport::close() {
  if (state_ != state::open) {
    return;
  }
  state_ = state::closing;
  if (!write_in_flight_ && !write_scheduled_) {
    post_connection_lost({});
  }
  // Otherwise after_drained() finishes the job once the buffer is sent.
}

void transport::abort() {
  if (state_ == state::closed) {
    return;
  }
  state_ = state::closing;
  pending_.clear();
  post_connection_lost({});
}

void transport::fatal_error(std::error_code error) {
  state_ = state::closing;
  pending_.clear();
  // Kept for connection_lost(): a write that completes after this (its
  // bytes left before the reset came) finds the transport closing and ends
  // it from after_drained(), which must not report a clean end. (It did:
  // a client's reset then read as end of file, 1 in 3 on a thread pool.)
  lost_error_ = error;
  post_connection_lost(error);
}

void transport::post_connection_lost(std::error_code error) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), error] { self->connection_lost(error); });
}

void transport::connection_lost(std::error_code error) {
  if (state_ == state::closed) {
    return;
  }
  state_ = state::closed;
  if (!error) {
    error = lost_error_;  // Empty unless a fatal error began the end.
  }
  // Closing the socket cancels a read or write still in flight; their
  // handlers see state::closed and return, dropping the last references.
  std::error_code ignored;
  socket_.close(ignored);
  protocol_->connection_lost(error);
  // Break the protocol's hold on us (if it keeps a pointer to its
  // transport) and give the server's slot back now rather than at destruction.
  protocol_.reset();
  slot_.release();
}

}  // namespace sandbox
