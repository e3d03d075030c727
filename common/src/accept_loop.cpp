/// \file
/// \brief How a server accepts: the accept loop, where each connection runs,
/// the back-off and the reserve descriptor on errors, the log that does not
/// flood, and the queue a closing server still serves.
#include "sandbox/server.hpp"

#include "accept_loop.hpp"
#include "client_registry.hpp"
#include "descriptors.hpp"
#include "hand_over.hpp"
#include "refusal.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

namespace sandbox {

//! [strand]
asio::any_io_executor server::connection_executor() {
  // Each connection gets a strand of its own: if the io_context runs on
  // several threads, the handlers of one connection still never run at the
  // same time, while different connections proceed in parallel. On a loop
  // run by one thread (sandbox::run) nothing can overlap, and the strand
  // would be pure overhead.
  if (single_threaded_) {
    return io_executor_;
  }
  return asio::make_strand(io_executor_);
}
//! [strand]

void server::accept_next(std::size_t index) {
  // The accepted socket belongs to the executor passed here: every
  // operation on it, and so every handler of this connection, runs there.
  // With a picker the socket is accepted here and moved afterwards (see
  // admit()), so that no pending accept refers to another io_context.
  // accept() also says who connected: asking the socket later
  // (getpeername()) fails once the client has reset.
  auto& listener = listeners_[index];
  listener.accepting = true;
  listener.acceptor.async_accept(
      pick_ ? io_executor_ : connection_executor(), listener.peer,
      asio::bind_executor(strand_, [self = shared_from_this(), index](std::error_code error,
                                                                      tcp::socket socket) {
        self->on_accept(index, error, std::move(socket));
      }));
}

void server::on_accept(std::size_t index, std::error_code error, tcp::socket socket) {
  auto& listener = listeners_[index];
  listener.accepting = false;
  if (!error) {
    // Even if close() was called meanwhile: the connection is made, and
    // ours now. It is served like the others.
    admit(std::move(socket), listener.peer);
  } else if (error != asio::error::operation_aborted && serving_) {
    on_accept_error(index, error);  // It decides when to accept again.
    return;
  }
  if (serving_) {
    accept_next(index);
  } else {
    finish_close_if_done();  // This was the last accept close() waited for?
  }
}

// Every accepted connection goes through here, whichever way it was
// accepted: the limit, then the picker, then the handler.
void server::admit(tcp::socket socket, const tcp::endpoint& peer) {
  if (at_limit()) {
    refuse(std::move(socket));
    return;
  }
  if (pick_) {
    // Chapter 06: hand the connection to the loop the picker chooses.
    std::error_code error;
    socket = detail::hand_over(std::move(socket), pick_(), error);
    if (error) {
      eprintln("cannot hand over a connection: ", error.message());
      return;
    }
  }
  // From here the connection counts as active, until its slot is released.
  on_connection_(std::move(socket), peer, clients_->take_slot(), shared_from_this());
}

//! [accept_error]
void server::on_accept_error(std::size_t index, const std::error_code& error) {
  log_accept_failure(index, error);
  if (detail::out_of_descriptors(error) && refuse_with_reserve(index)) {
    accept_next(index);  // The queue is empty now: nothing to spin on.
    return;
  }
  // Any other failure (or no reserve): the pending connection stays queued,
  // so trying again at once would fail again, as fast as the CPU allows.
  // asyncio logs and waits a second; we wait a little less.
  auto& listener = listeners_[index];
  listener.back_off.expires_after(std::chrono::milliseconds{100});
  listener.back_off.async_wait([self = shared_from_this(), index](std::error_code) {
    if (self->serving_) {
      self->accept_next(index);  // (Once closing, close() empties the queue itself.)
    }
  });
}

// Out of descriptors (EMFILE), the server cannot even accept a connection
// to refuse it: the client would wait in the accept queue, hearing nothing.
// So a server keeps one descriptor in reserve (an open /dev/null), and at
// EMFILE gives it back, accepts and refuses, at once, every connection
// waiting, then takes its reserve again. libev's and libuv's documentation
// describe the trick; libuv does it inside uv_accept().
//
// On a pool of threads another thread could take the freed descriptor
// first (if it opened a file at that moment): the accept then fails again,
// and the server falls back to backing off.
bool server::refuse_with_reserve(std::size_t index) {
  if (reserve_fd_ < 0) {
    reserve_fd_ = detail::open_reserve();  // Lost earlier: try to get it back for next time.
    return false;
  }
  detail::close_descriptor(std::exchange(reserve_fd_, -1));
  const std::string line = refusal_line();
  std::size_t refused = 0;
  for (;;) {  // The whole queue, at once: the reserve is needed back.
    tcp::socket socket{io_executor_};
    tcp::endpoint peer;
    std::error_code error;
    listeners_[index].acceptor.accept(socket, peer, error);
    if (error) {
      break;  // would_block: nobody is waiting any more.
    }
    detail::refuse_at_once(socket, line);
    ++refused;
  }
  reserve_fd_ = detail::open_reserve();
  const std::lock_guard lock{mutex_};
  refused_ += refused;
  return refused > 0;
}
//! [accept_error]

//! [accept_log]
// A server out of descriptors may fail thousands of accepts a second; a
// line for each would flood the log (and the disk). The first failure is
// logged at once; then at most one line a second says how many followed.
void server::log_accept_failure(std::size_t index, const std::error_code& error) {
  auto& listener = listeners_[index];
  if (listener.log_window_open) {
    ++listener.unlogged_failures;
    listener.last_failure = error;
    return;
  }
  eprintln("accept on ", to_string(endpoints_[index]), " failed: ", error.message());
  listener.log_window_open = true;
  listener.log_timer.expires_after(std::chrono::seconds{1});
  listener.log_timer.async_wait([self = shared_from_this(), index](std::error_code cancelled) {
    if (!cancelled && self->serving_) {
      self->flush_accept_failures(index, true);
    }
  });
}

void server::flush_accept_failures(std::size_t index, bool keep_counting) {
  auto& listener = listeners_[index];
  if (listener.unlogged_failures > 0) {
    const std::size_t count = std::exchange(listener.unlogged_failures, 0);
    eprintln("accept on ", to_string(endpoints_[index]), " failed ", count,
             count == 1 ? " time" : " times", " in the last second: ",
             listener.last_failure.message());
    if (keep_counting) {
      // Failures may go on: another second of counting.
      listener.log_timer.expires_after(std::chrono::seconds{1});
      listener.log_timer.async_wait([self = shared_from_this(), index](std::error_code cancelled) {
        if (!cancelled && self->serving_) {
          self->flush_accept_failures(index, true);
        }
      });
      return;
    }
  }
  listener.log_window_open = false;  // A quiet second: the next failure is logged at once.
  listener.log_timer.cancel();
}
//! [accept_log]

//! [close]
// Closing a listening socket resets every connection still in its accept
// queue: connections the kernel completed for us (the client's connect()
// returned, it may have sent its request) but that we had not accept()ed
// yet. Their clients did nothing wrong; a graceful shutdown must not lose
// them. So, before closing, we take them: cancel the pending async_accept,
// then accept without blocking (the acceptor is non-blocking) until the
// queue is empty, each connection going through admit() like any other.
// From then on the kernel refuses new clients, and those we took are
// served under the grace period with the rest.
void server::do_close() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto& listener = listeners_[i];
    std::error_code ignored;
    if (listener.accepting) {
      // Its handler still runs (on_accept, on this strand, later): with
      // operation_aborted, or with a connection it had taken already.
      listener.acceptor.cancel(ignored);
    }
    listener.back_off.cancel();
    drain_and_stop_listening(i);
    flush_accept_failures(i, false);
  }
  stopped_listening_ = true;
  finish_close_if_done();
}

void server::drain_and_stop_listening(std::size_t index) {
  auto& listener = listeners_[index];
  for (;;) {
    tcp::socket socket{pick_ ? io_executor_ : connection_executor()};
    tcp::endpoint peer;
    std::error_code error;
    listener.acceptor.accept(socket, peer, error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
      break;  // The queue is empty.
    }
    if (error) {
      // Out of descriptors: refuse, with the reserve, whoever waits.
      // Otherwise there is nothing better to do: closing resets the rest.
      log_accept_failure(index, error);
      if (detail::out_of_descriptors(error)) {
        refuse_with_reserve(index);
      }
      break;
    }
    admit(std::move(socket), peer);
  }
  std::error_code ignored;
  listener.acceptor.close(ignored);
}
//! [close]

void server::finish_close_if_done() {
  // wait_closed() may finish only once no accept can bring another
  // connection: the queues are drained and every cancelled accept is back.
  const auto accepting = [](const detail::listening_socket& socket) { return socket.accepting; };
  if (!stopped_listening_ || std::ranges::any_of(listeners_, accepting)) {
    return;
  }
  clients_->stop_admitting();
}

}  // namespace sandbox
