/// \file
/// \brief How a transport works: the read loop that calls the protocol, the
/// read buffer that adapts to the traffic, write coalescing
/// (`queue_written()`), read back-pressure, and callbacks that never nest
/// (`call_protocol()`). Each function that handles an event switches on the
/// state it finds; the states are described in transport.hpp.
#include "sandbox/transport.hpp"

#include <cassert>
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

// --- Calling the protocol ----------------------------------------------------
//
// protocol.hpp promises that no callback runs inside another one. Most of
// what a callback sets off waits for the event loop anyway (a close()'s
// connection_lost(), a resume_reading()'s next read are posted), but one
// thing happens inside the call that causes it: a write() past the
// high-water mark, which asyncio answers with pause_writing() from inside
// write(). Called from a coroutine or a timer, we do the same: the writer's
// next statement (drain()) must already see the pause. Called from inside a
// callback, the pause is owed instead, and paid here as soon as that
// callback returns: before any other callback of this connection, so a
// protocol that writes a lot in one data_received() still hears
// pause_writing() before its next data_received(), and before the turn's
// writes are sent, so it sees the same buffer size it would have seen inside.

namespace {

// Marks a protocol callback as running for as long as it runs, also when it
// throws (the exception leaves the event loop's run(), as it would without us).
class callback_running {
 public:
  explicit callback_running(bool& flag) noexcept : flag_{flag} { flag_ = true; }
  ~callback_running() { flag_ = false; }
  callback_running(const callback_running&) = delete;
  callback_running& operator=(const callback_running&) = delete;

 private:
  bool& flag_;
};

}  // namespace

template <typename Call>
void transport::call_protocol(Call call) {
  assert(!in_callback_ && "a protocol callback would run inside another one");
  {
    const callback_running running{in_callback_};
    call(*protocol_);
  }
  if (flow_ == flow::pause_owed && state_ != state::closed) {
    flow_ = flow::paused;
    const callback_running running{in_callback_};
    protocol_->pause_writing();
  }
}

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
  call_protocol([this](protocol& p) { p.connection_made(*this); });
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

//! [read_loop]
// held or delivering → waiting; held if a hold stops reading.
void transport::start_read() {
  switch (read_state_) {
    case read_state::held:
    case read_state::delivering:
      break;
    case read_state::waiting:  // Already armed: a resume raced with the wait.
    case read_state::done:
      return;
  }
  if (holds_ != 0) {
    read_state_ = read_state::held;
    return;
  }
  read_state_ = read_state::waiting;
  // The handler holds a shared_ptr to this transport: as long as the wait
  // is pending, the transport cannot be destroyed under it.
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](std::error_code error) {
                       self->on_readable(error);
                     });
}

// The wait armed in waiting completed: → delivering, or held, or (done) nothing.
void transport::on_readable(std::error_code error) {
  switch (read_state_) {
    case read_state::waiting:
      break;
    case read_state::done:
      return;  // close() stopped reading: like asyncio, drop late data.
    case read_state::held:
    case read_state::delivering:
      assert(false && "a read completed that was never armed");
      return;
  }
  if (error) {
    fatal_error(error);
    return;
  }
  if (holds_ != 0) {
    // Held while we waited. The bytes stay in the kernel, which is where
    // a paused connection's bytes belong: when its buffer fills, TCP makes
    // the peer wait. Released, start_read() waits again, and that wait
    // completes at once. (Copying them out to keep them would cost a copy
    // and an allocation per pause; at 100 KiB the write buffer's high-water
    // mark holds reading for nearly every message.)
    read_state_ = read_state::held;
    return;
  }
  read_state_ = read_state::delivering;
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
      deliver_eof();  // Not an error: the peer finished sending.
      return;
    }
    if (error) {
      fatal_error(error);  // Reset by peer, and the like.
      return;
    }
    if (!deliver({buffer, size})) {
      return;  // Closing, or held by the callback.
    }
    if (size < large_read) {
      break;
    }
  }
  start_read();
}
//! [read_loop]

void transport::adapt_read_size(std::size_t last_read) {
  if (last_read == read_size_ && read_size_ < max_read_size) {
    read_size_ *= 2;
  } else if (last_read < read_size_ / 4 && read_size_ > min_read_size) {
    read_size_ /= 2;
  }
}

//! [deliver]
// In delivering: calls data_received(), sends what it wrote, and says
// whether to read on (still delivering) or stop (held, or done).
bool transport::deliver(std::string_view data) {
  call_protocol([data](protocol& p) { p.data_received(data); });
  adapt_read_size(data.size());
  // What the callback wrote leaves now, in one send, before we read again.
  flush();
  switch (read_state_) {
    case read_state::delivering:
      if (holds_ == 0) {
        return true;
      }
      read_state_ = read_state::held;  // The callback, or its writes, held reading.
      return false;
    case read_state::done:  // The callback closed the connection.
      return false;
    case read_state::held:
    case read_state::waiting:
      assert(false && "reading changed state inside data_received()");
      return false;
  }
  return false;
}
//! [deliver]

// delivering → done: end of file read.
void transport::deliver_eof() {
  read_state_ = read_state::done;
  bool keep_open = false;
  call_protocol([&keep_open](protocol& p) { keep_open = p.eof_received(); });
  if (!keep_open) {
    close();
  }
}

void transport::pause_reading() { hold_reading(by_protocol); }

void transport::resume_reading() { release_reading(by_protocol); }

void transport::set_read_backpressure(bool on) {
  read_backpressure_ = on;
  if (!on) {
    release_reading(by_write_buffer);
  }
}

// A hold goes. If it was the last and reading had stopped (held), reading
// starts again: from the event loop, not from inside the caller (which may
// be a protocol callback itself), so callbacks never nest. In waiting or
// delivering nothing is needed: they look at the holds when they get there.
void transport::release_reading(hold reason) {
  if ((holds_ & reason) == 0) {
    return;
  }
  holds_ = static_cast<unsigned char>(holds_ & ~reason);
  if (holds_ == 0 && read_state_ == read_state::held) {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->start_read(); });
  }
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
  return pending_.size() + writing_.size() - writing_sent_;
}

void transport::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) {
    throw std::invalid_argument{"low-water mark must not exceed the high-water mark"};
  }
  high_water_ = high;
  low_water_ = low;
  maybe_pause_protocol();
}

bool transport::accepts_write(std::size_t size) const {
  if (write_state_ == write_state::eof_pending || write_state_ == write_state::eof_sent) {
    throw std::logic_error{"transport::write() after write_eof()"};
  }
  return state_ == state::open && size > 0;
}

void transport::write(std::string_view data) {
  if (accepts_write(data.size())) {
    pending_ += data;
    queue_written();
  }
}

void transport::write_owned(std::string data) {
  if (!accepts_write(data.size())) {
    return;
  }
  if (pending_.empty()) {
    pending_ = std::move(data);  // The string becomes the buffer: no copy.
  } else {
    pending_ += data;
  }
  queue_written();
}

// idle → scheduled. Do not send yet: every write() made before control
// returns to the event loop joins pending_ and leaves in one send. Inside
// data_received() (reading is delivering) deliver() flushes when the
// callback returns; anywhere else (a coroutine, a timer, another callback)
// a posted flush() does it.
void transport::queue_written() {
  if (write_state_ == write_state::idle) {
    write_state_ = write_state::scheduled;
    if (read_state_ != read_state::delivering) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
    }
  }
  maybe_pause_protocol();
}

//! [write_queue]
// scheduled → sending. Anywhere else a flush has nothing to do: a write is
// already in flight and takes pending_ when it completes, or nothing was written.
void transport::flush() {
  if (write_state_ != write_state::scheduled || state_ == state::closed) {
    return;
  }
  if (pending_.empty()) {  // abort() or an error emptied it meanwhile.
    drained();
    return;
  }
  write_state_ = write_state::sending;
  send_pending();
}

// In sending or eof_pending: one async_write in flight at a time.
void transport::send_pending() {
  writing_.swap(pending_);
  writing_sent_ = 0;
  // async_write, unlike async_write_some, keeps going until every byte is
  // sent or an error occurs; writing_ must stay untouched until then. It
  // asks its completion condition between sends, with the bytes sent so
  // far: the place to note the progress. (`this` is safe there: the
  // handler's pointer keeps the transport alive while the write runs.)
  asio::async_write(
      socket_, asio::buffer(writing_),
      [this](const std::error_code& error, std::size_t sent) {
        if (sent > writing_sent_) {
          writing_sent_ = sent;
          last_sent_ = std::chrono::steady_clock::now();
        }
        return whole_buffer_each_call(error, sent);
      },
      [self = shared_from_this()](std::error_code error, std::size_t /*sent*/) {
        self->on_write(error);
      });
}

// The write in flight completed: sending (or eof_pending) again if more was
// written meanwhile, else drained.
void transport::on_write(std::error_code error) {
  if (!error) {
    last_sent_ = std::chrono::steady_clock::now();  // The last part (no condition asked).
  }
  writing_.clear();
  writing_sent_ = 0;
  if (state_ == state::closed) {
    return;
  }
  if (error) {
    fatal_error(error);
    return;
  }
  maybe_resume_protocol();
  if (!pending_.empty()) {
    send_pending();
  } else {
    drained();
  }
}
//! [write_queue]

// Everything written has been sent: → idle, or eof_sent if write_eof()
// waited for it; and the close() that waited for it ends the connection.
void transport::drained() {
  switch (write_state_) {
    case write_state::scheduled:
    case write_state::sending:
      write_state_ = write_state::idle;
      break;
    case write_state::eof_pending:
      send_eof();
      break;
    case write_state::idle:
    case write_state::eof_sent:
      break;
  }
  if (state_ == state::closing) {
    connection_lost({});
  }
}

void transport::write_eof() {
  if (state_ != state::open) {
    return;
  }
  switch (write_state_) {
    case write_state::idle:  // Nothing buffered: FIN now.
      send_eof();
      return;
    case write_state::scheduled:
      // No write can join this turn's any more, so they leave now rather
      // than at the flush (which then finds nothing to do): the same one send.
      write_state_ = write_state::eof_pending;
      send_pending();
      return;
    case write_state::sending:
      write_state_ = write_state::eof_pending;  // drained() sends FIN.
      return;
    case write_state::eof_pending:
    case write_state::eof_sent:
      return;
  }
}

// → eof_sent.
void transport::send_eof() {
  write_state_ = write_state::eof_sent;
  std::error_code ignored;  // Fails only if the peer is gone; reading will tell.
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

//! [pause]
// flowing → pause_owed (inside a callback) or paused.
void transport::maybe_pause_protocol() {
  if (state_ == state::closed) {
    return;  // protocol_ is gone.
  }
  if (flow_ != flow::flowing || get_write_buffer_size() <= high_water_) {
    return;
  }
  // Read back-pressure: nothing more is read until the peer takes its
  // bytes. Set before the callback, which may change it or close.
  if (read_backpressure_) {
    hold_reading(by_write_buffer);
  }
  if (in_callback_) {
    flow_ = flow::pause_owed;  // call_protocol() pays it when the callback returns.
    return;
  }
  flow_ = flow::paused;
  call_protocol([](protocol& p) { p.pause_writing(); });
}
//! [pause]

// paused → flowing.
void transport::maybe_resume_protocol() {
  if (state_ == state::closed) {
    return;
  }
  if (flow_ != flow::paused || get_write_buffer_size() > low_water_) {
    return;
  }
  flow_ = flow::flowing;
  // Released before the callback, so that one that writes enough to pause
  // again holds reading again.
  release_reading(by_write_buffer);
  call_protocol([](protocol& p) { p.resume_writing(); });
}

// --- Ending ----------------------------------------------------------------

// open → closing; reading → done.
void transport::enter_closing() {
  state_ = state::closing;
  read_state_ = read_state::done;
}

void transport::close() {
  if (state_ != state::open) {
    return;
  }
  enter_closing();
  switch (write_state_) {
    case write_state::idle:
    case write_state::eof_sent:
      post_connection_lost({});
      return;
    case write_state::scheduled:
    case write_state::sending:
    case write_state::eof_pending:
      return;  // drained() finishes the job once the buffer is sent.
  }
}

void transport::abort() {
  if (state_ == state::closed) {
    return;
  }
  enter_closing();
  pending_.clear();
  post_connection_lost({});
}

void transport::fatal_error(std::error_code error) {
  enter_closing();
  pending_.clear();
  // Kept for connection_lost(): a write that completes after this (its
  // bytes left before the reset came) finds the transport closing and ends
  // it from drained(), which must not report a clean end. (It did: a
  // client's reset then read as end of file, 1 in 3 on a thread pool.)
  lost_error_ = error;
  post_connection_lost(error);
}

void transport::post_connection_lost(std::error_code error) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), error] { self->connection_lost(error); });
}

// closing → closed.
void transport::connection_lost(std::error_code error) {
  if (state_ == state::closed) {
    return;
  }
  state_ = state::closed;
  if (!error) {
    error = lost_error_;  // Empty unless a fatal error began the end.
  }
  // Closing the socket cancels a read or write still in flight; their
  // handlers see state::closed (or read_state::done) and return, dropping
  // the last references.
  std::error_code ignored;
  socket_.close(ignored);
  call_protocol([error](protocol& p) { p.connection_lost(error); });
  // Break the protocol's hold on us (if it keeps a pointer to its
  // transport) and give the server's slot back now rather than at destruction.
  protocol_.reset();
  slot_.release();
}

}  // namespace sandbox
