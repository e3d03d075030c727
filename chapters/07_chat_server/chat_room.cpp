/// \file
/// Chapter 07's room and members. Its page is chapters/07_chat_server/README.md.
//
// What happens when guest1 pastes a big file and guest2 reads slowly:
//
//   guest1's session                      guest2's strand
//   ────────────────                      ───────────────
//   readline, say() ──deliver (post)────► write to guest2's write buffer
//   may_be_behind(guest2)?                  past --max-queue? start watch_backlog():
//     no: next line                           drain() || deadline (--slow-timeout)
//     yes: co_await ─wait_until_caught_up─►   drained: wake the waiters
//          (guest1 reads nothing meanwhile:   deadline: drop guest2, wake the waiters
//           TCP holds the rest of its paste)
#include "chat_room.hpp"

#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/run.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <utility>

namespace ch07 {

namespace {

// Waits until `event` is cancelled: a steady_timer that never expires is
// Asio's simplest "condition variable" for coroutines on one strand.
asio::awaitable<void> wait_for(asio::steady_timer& event) {
  [[maybe_unused]] auto [error] = co_await event.async_wait(sandbox::as_tuple_awaitable);
}

}  // namespace

member::member(std::string name, sandbox::stream_writer writer, asio::any_io_executor strand,
               queue_limits limits, chat_room& room)
    : name_{std::move(name)},
      writer_{std::move(writer)},
      strand_{std::move(strand)},
      limits_{limits},
      room_{room},
      caught_up_{strand_, asio::steady_timer::time_point::max()} {
  // The transport pauses our writer (and stops reading from this client)
  // above the high-water mark, and resumes it at the low one: with the
  // mark at max_queue, writer_.drain() means "back within the bound".
  writer_.get_transport().set_write_buffer_limits(limits_.max_queue, limits_.max_queue / 4);
}

//! [deliver]
void member::deliver(std::shared_ptr<const std::string> line) {
  // Called by whichever thread runs the sender. Our writer belongs to our
  // strand, so the work is posted there rather than done here: posts to one
  // strand run in order, one at a time, which also keeps each sender's
  // lines in the order it sent them. Counting the bytes first lets
  // may_be_behind() see them before the strand has run.
  in_flight_.fetch_add(line->size(), std::memory_order_relaxed);
  asio::post(strand_, [self = shared_from_this(), line = std::move(line)] {
    self->deliver_on_strand(*line);
  });
}

void member::deliver_on_strand(const std::string& line) {
  if (!dropped_ && !writer_.is_closing()) {
    // The outgoing queue is the transport's write buffer: what we accepted
    // to send and the kernel has not yet taken. A member that reads keeps it
    // near zero; one that stops reading fills the kernel's buffers first
    // (megabytes, on loopback), then this one.
    writer_.write(line);
    room_.counters().delivered.fetch_add(1, std::memory_order_relaxed);
    const std::size_t buffered = writer_.get_transport().get_write_buffer_size();
    buffered_.store(buffered, std::memory_order_relaxed);
    if (buffered > limits_.max_queue && !watching_) {
      watching_ = true;
      asio::co_spawn(strand_, watch_backlog(shared_from_this()), asio::detached);
    }
  }
  // Released after buffered_ is stored: a sender that sees these bytes gone
  // from in_flight_ also sees them in buffered_.
  in_flight_.fetch_sub(line.size(), std::memory_order_release);
}

bool member::may_be_behind() const noexcept {
  // buffered_ is the write buffer as of our last write; the kernel may have
  // taken some since, so the sum is never less than the truth. Only when it
  // is above the bound does a sender pay for a trip to our strand.
  return in_flight_.load(std::memory_order_acquire) + buffered_.load(std::memory_order_relaxed) >
         limits_.max_queue;
}
//! [deliver]

//! [slow]
asio::awaitable<void> member::watch_backlog(std::shared_ptr<member> /*keep_alive*/) {
  using namespace asio::experimental::awaitable_operators;
  // Past the bound: the member has slow_timeout to drain its queue (to a
  // quarter of max_queue) while the senders wait. `||` runs both waits and
  // returns when the first finishes, cancelling the other.
  for (;;) {
    asio::steady_timer deadline{strand_, limits_.slow_timeout};
    const auto first = co_await (drained() || deadline.async_wait(asio::use_awaitable));
    if (writer_.is_closing()) {
      break;  // Gone meanwhile.
    }
    if (first.index() == 1) {
      drop_on_strand();
      break;
    }
    // Drained; but lines that came while we were being resumed may have
    // taken it past the bound again (they saw us watching): if so, watch on.
    if (writer_.get_transport().get_write_buffer_size() <= limits_.max_queue) {
      break;
    }
  }
  watching_ = false;
  buffered_.store(writer_.get_transport().get_write_buffer_size(), std::memory_order_relaxed);
  caught_up_.cancel();  // Wakes every wait_until_caught_up().
}

asio::awaitable<void> member::drained() {
  try {
    co_await writer_.drain();
  } catch (const std::system_error&) {
    // The connection is gone (its session will leave the room), or the
    // deadline won and cancelled us: either way, nothing more to wait for.
  }
}

asio::awaitable<void> member::wait_until_caught_up() {
  // Woken by watch_backlog(), which runs whenever the queue is past the
  // bound: every write that takes it there starts one if none is running.
  while (!dropped_ && !writer_.is_closing() &&
         writer_.get_transport().get_write_buffer_size() > limits_.max_queue) {
    co_await wait_for(caught_up_);
  }
}

void member::drop_on_strand() {
  dropped_ = true;
  room_.counters().dropped.fetch_add(1, std::memory_order_relaxed);
  room_.leave(*this, "was disconnected: too slow");
  // Tell it why, after what is already queued, then close: the transport
  // sends the queue and the goodbye, then FIN. A client that reads again
  // within slow_timeout gets them all and then end of file; one that does
  // not has its queue thrown away by abort(), which frees it. It then
  // reads only what the kernel had already taken (maybe ending mid-line),
  // and end of file, without the goodbye. No new line is added meanwhile:
  // the member has left the room.
  writer_.write("* you were disconnected: too slow\n");
  room_.counters().delivered.fetch_add(1, std::memory_order_relaxed);
  writer_.close();
  asio::co_spawn(strand_, abort_after(shared_from_this(), limits_.slow_timeout), asio::detached);
}

asio::awaitable<void> member::abort_after(std::shared_ptr<member> /*keep_alive*/,
                                          std::chrono::steady_clock::duration grace) {
  asio::steady_timer timer{strand_, grace};
  co_await timer.async_wait(sandbox::as_tuple_awaitable);
  writer_.get_transport().abort();  // Does nothing if the close has finished.
}
//! [slow]

chat_room::chat_room(chat_counters& counters, bool quiet) : counters_{counters}, quiet_{quiet} {}

void chat_room::join(const std::shared_ptr<member>& newcomer) {
  const std::lock_guard lock{mutex_};
  newcomer->deliver(std::make_shared<const std::string>(
      "Welcome, " + newcomer->name() + "! Others here: " + std::to_string(members_.size()) +
      ". Each line you type goes to all of them.\n"));
  broadcast_locked(newcomer.get(), "* " + newcomer->name() + " joined\n");
  members_.push_back(newcomer);
  counters_.connected.fetch_add(1, std::memory_order_relaxed);
  if (!quiet_) {
    sandbox::println("[thread ", sandbox::this_thread_number(), "] ", newcomer->name(), " joined");
  }
}

void chat_room::leave(const member& leaving, const std::string& why) {
  const std::lock_guard lock{mutex_};
  const auto found = std::ranges::find_if(
      members_, [&leaving](const auto& candidate) { return candidate.get() == &leaving; });
  if (found == members_.end()) {
    return;  // Already gone: dropped for being slow, then its reader ended.
  }
  members_.erase(found);
  counters_.connected.fetch_sub(1, std::memory_order_relaxed);
  broadcast_locked(nullptr, "* " + leaving.name() + " " + why + "\n");
  if (!quiet_) {
    sandbox::println("[thread ", sandbox::this_thread_number(), "] ", leaving.name(), " ", why);
  }
}

//! [say]
asio::awaitable<void> chat_room::say(const member& from, const std::string& text) {
  counters_.received.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::shared_ptr<member>> behind;
  {
    const std::lock_guard lock{mutex_};
    broadcast_locked(&from, from.name() + ": " + text + "\n", &behind);
    if (!quiet_) {
      // The members get the text as sent; the operator's terminal gets it
      // escaped, so that a client's ESC or CR cannot drive it.
      sandbox::println("[thread ", sandbox::this_thread_number(), "] ", from.name(), ": ",
                       sandbox::printable(text));
    }
  }
  // Back-pressure, outside the lock: the sender's next line waits until
  // every recipient past its bound has caught up or been dropped. Waiting
  // means running a coroutine on the recipient's strand, the only place
  // its queue can be read; co_await brings us back to our own strand.
  for (const auto& recipient : behind) {
    co_await asio::co_spawn(recipient->strand(), recipient->wait_until_caught_up(),
                            asio::use_awaitable);
  }
}
//! [say]

void chat_room::clear() {
  const std::lock_guard lock{mutex_};
  members_.clear();
}

void chat_room::broadcast_locked(const member* except, const std::string& line,
                                 std::vector<std::shared_ptr<member>>* behind) {
  // One copy of the line, shared by every recipient's queue entry.
  const auto shared = std::make_shared<const std::string>(line);
  for (const auto& recipient : members_) {
    if (recipient.get() != except) {
      recipient->deliver(shared);
      if (behind != nullptr && recipient->may_be_behind()) {
        behind->push_back(recipient);
      }
    }
  }
}

}  // namespace ch07
