/// \file
/// Chapter 07's room and members. Its page is chapters/07_chat_server/README.md.
#include "chat_room.hpp"

#include "sandbox/console.hpp"
#include "sandbox/run.hpp"

#include <algorithm>
#include <utility>

namespace chapter07 {

member::member(std::string name, sandbox::stream_writer writer, asio::any_io_executor strand,
               std::size_t max_queue, chat_room& room)
    : name_{std::move(name)},
      writer_{std::move(writer)},
      strand_{std::move(strand)},
      max_queue_{max_queue},
      room_{room} {}

//! [deliver]
void member::deliver(std::shared_ptr<const std::string> line) {
  // Called by whichever thread runs the sender. Our writer belongs to our
  // strand, so the work is posted there rather than done here: posts to one
  // strand run in order, one at a time, which also keeps each sender's
  // lines in the order it sent them.
  asio::post(strand_, [self = shared_from_this(), line = std::move(line)] {
    self->deliver_on_strand(*line);
  });
}

void member::deliver_on_strand(const std::string& line) {
  if (dropped_ || writer_.is_closing()) {
    return;
  }
  // The outgoing queue is the transport's write buffer: what we accepted to
  // send and the kernel has not yet taken. A member that reads keeps it
  // near zero. One that stops reading fills the kernel's buffers first,
  // then this queue; past max_queue_ bytes we give up on it.
  //
  // The policy: disconnect, at once (a reset: what is queued is thrown
  // away, which frees it now), and tell the room. The alternatives are
  // worse for a chat: blocking the sender would let one stalled client
  // stall everyone; dropping lines silently would leave holes in the
  // conversation nobody is told about. (Redis does the same to pub/sub
  // clients past client-output-buffer-limit.)
  if (writer_.get_transport().get_write_buffer_size() + line.size() > max_queue_) {
    dropped_ = true;
    room_.counters().dropped.fetch_add(1, std::memory_order_relaxed);
    writer_.get_transport().abort();
    room_.leave(*this, "was disconnected: too slow");
    return;
  }
  writer_.write(line);
  room_.counters().delivered.fetch_add(1, std::memory_order_relaxed);
}
//! [deliver]

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

void chat_room::say(const member& from, const std::string& text) {
  counters_.received.fetch_add(1, std::memory_order_relaxed);
  const std::lock_guard lock{mutex_};
  broadcast_locked(&from, from.name() + ": " + text + "\n");
  if (!quiet_) {
    sandbox::println("[thread ", sandbox::this_thread_number(), "] ", from.name(), ": ", text);
  }
}

void chat_room::clear() {
  const std::lock_guard lock{mutex_};
  members_.clear();
}

void chat_room::broadcast_locked(const member* except, const std::string& line) {
  // One copy of the line, shared by every recipient's queue entry.
  const auto shared = std::make_shared<const std::string>(line);
  for (const auto& recipient : members_) {
    if (recipient.get() != except) {
      recipient->deliver(shared);
    }
  }
}

}  // namespace chapter07
