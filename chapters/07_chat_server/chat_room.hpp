/// \file
/// \brief Chapter 07's shared state: the room every chat connection joins,
/// and each member's bounded outgoing queue.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/streams.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace chapter07 {

class chat_room;

/// The room's counters, updated from every thread; read at exit.
struct chat_counters {
  std::atomic<std::size_t> total{0};        ///< Members who ever joined.
  std::atomic<std::size_t> connected{0};    ///< Members now in the room.
  std::atomic<std::size_t> dropped{0};      ///< Members disconnected for being too slow.
  std::atomic<std::uint64_t> received{0};   ///< Lines members sent.
  std::atomic<std::uint64_t> delivered{0};  ///< Lines queued to members (messages and notices).
};

//! [member]
/// One connected client, as the room sees it. Other members' threads call
/// deliver(); everything that touches this member's connection then runs on
/// the connection's own strand.
class member : public std::enable_shared_from_this<member> {
 public:
  /// `strand` is the connection's executor; at most `max_queue` bytes may
  /// wait to be sent to this member.
  member(std::string name, sandbox::stream_writer writer, asio::any_io_executor strand,
         std::size_t max_queue, chat_room& room);

  member(const member&) = delete;
  member& operator=(const member&) = delete;

  /// The name others see ("guest7").
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Queues `line` for sending. Safe from any thread: it only posts to this
  /// member's strand. The line is shared, not copied, between recipients.
  void deliver(std::shared_ptr<const std::string> line);

 private:
  void deliver_on_strand(const std::string& line);

  const std::string name_;
  sandbox::stream_writer writer_;  // Touched only on strand_.
  asio::any_io_executor strand_;
  const std::size_t max_queue_;
  chat_room& room_;
  bool dropped_ = false;  // Touched only on strand_.
};
//! [member]

//! [room]
/// The members, shared by every connection and so by every thread: a
/// mutex guards the list. The lock is held only to walk the list and post;
/// no network I/O happens under it, so a slow member cannot hold up the room.
class chat_room {
 public:
  /// `quiet` drops the per-line console output.
  chat_room(chat_counters& counters, bool quiet);

  /// Adds `newcomer`, greets it and tells the others.
  void join(const std::shared_ptr<member>& newcomer);

  /// Removes `leaving` (if still there) and tells the others `why`
  /// ("left", "was disconnected: too slow").
  void leave(const member& leaving, const std::string& why);

  /// Sends "NAME: TEXT" to every member but `from`.
  void say(const member& from, const std::string& text);

  /// Forgets every member, closing their connections. Call it after the
  /// loop's threads have stopped and before the loop is destroyed.
  void clear();

  /// The counters, for members to update.
  [[nodiscard]] chat_counters& counters() noexcept { return counters_; }

  /// True when the console should show only the first and last lines.
  [[nodiscard]] bool quiet() const noexcept { return quiet_; }

 private:
  // Delivers `line` to every member but `except`; needs mutex_ held.
  void broadcast_locked(const member* except, const std::string& line);

  std::mutex mutex_;
  std::vector<std::shared_ptr<member>> members_;  // Guarded by mutex_.
  chat_counters& counters_;
  const bool quiet_;
};
//! [room]

}  // namespace chapter07
