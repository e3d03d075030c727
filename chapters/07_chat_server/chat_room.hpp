/// \file
/// \brief Chapter 07's shared state: the room every chat connection joins,
/// and each member's bounded outgoing queue.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/streams.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ch07 {

class chat_room;

/// The room's counters, updated from every thread; read at exit.
struct chat_counters {
  std::atomic<std::size_t> total{0};        ///< Members who ever joined.
  std::atomic<std::size_t> connected{0};    ///< Members now in the room.
  std::atomic<std::size_t> dropped{0};      ///< Members disconnected for being too slow.
  std::atomic<std::uint64_t> received{0};   ///< Lines members sent.
  std::atomic<std::uint64_t> delivered{0};  ///< Lines queued to members (messages and notices).
};

/// How far a member may fall behind, and for how long.
struct queue_limits {
  /// Bytes that may wait in the server for one member (`--max-queue`).
  /// Past it, whoever sends to the member waits.
  std::size_t max_queue = 64 * 1024;
  /// How long a member past max_queue gets to drain its queue (to a
  /// quarter of max_queue) before it is disconnected (`--slow-timeout`);
  /// also how long it then gets to read its goodbye.
  std::chrono::steady_clock::duration slow_timeout = std::chrono::seconds{10};
};

//! [member]
/// One connected client, as the room sees it. Other members' threads call
/// deliver() and may_be_behind(); everything else runs on the connection's
/// own strand.
class member : public std::enable_shared_from_this<member> {
 public:
  /// `strand` is the connection's executor.
  member(std::string name, sandbox::stream_writer writer, asio::any_io_executor strand,
         queue_limits limits, chat_room& room);

  member(const member&) = delete;
  member& operator=(const member&) = delete;

  /// The name others see ("guest7").
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// The connection's strand, where wait_until_caught_up() must run.
  [[nodiscard]] const asio::any_io_executor& strand() const noexcept { return strand_; }

  /// Queues `line` for sending. Safe from any thread: it only posts to this
  /// member's strand. The line is shared, not copied, between recipients.
  void deliver(std::shared_ptr<const std::string> line);

  /// Safe from any thread, and cheap: false means the member is surely
  /// within its bound; true means it may not be, and a sender should
  /// co_await wait_until_caught_up() to know.
  [[nodiscard]] bool may_be_behind() const noexcept;

  /// On the member's strand: returns once what waits for this member is
  /// back within max_queue, or once the member has been disconnected for
  /// not catching up within slow_timeout.
  asio::awaitable<void> wait_until_caught_up();

 private:
  // The coroutines take a shared_ptr to this member: held in their frame,
  // it keeps the member alive for as long as they wait.
  void deliver_on_strand(const std::string& line);
  asio::awaitable<void> watch_backlog(std::shared_ptr<member> keep_alive);
  asio::awaitable<void> drained();
  void drop_on_strand();
  asio::awaitable<void> abort_after(std::shared_ptr<member> keep_alive,
                                    std::chrono::steady_clock::duration grace);

  const std::string name_;
  sandbox::stream_writer writer_;  // Touched only on strand_, like everything below it.
  asio::any_io_executor strand_;
  const queue_limits limits_;
  chat_room& room_;

  // Read from any thread by may_be_behind(): bytes posted to the strand and
  // not yet written, and the write buffer's size after our last write (the
  // kernel may have taken some since, so never less than the truth).
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> buffered_{0};

  bool watching_ = false;        // watch_backlog() is running.
  bool dropped_ = false;         // Disconnected for being too slow.
  asio::steady_timer caught_up_; // An event, not a clock: cancel() wakes the waiters.
};
//! [member]

//! [room]
/// The members, shared by every connection and so by every thread: a
/// mutex guards the list. The lock is held only to walk the list and post;
/// no network I/O and no waiting happens under it, so a slow member cannot
/// hold up the room's lock.
class chat_room {
 public:
  /// `quiet` drops the per-line console output.
  chat_room(chat_counters& counters, bool quiet);

  /// Adds `newcomer`, greets it and tells the others.
  void join(const std::shared_ptr<member>& newcomer);

  /// Removes `leaving` (if still there) and tells the others `why`
  /// ("left", "was disconnected: too slow").
  void leave(const member& leaving, const std::string& why);

  /// Sends "NAME: TEXT" to every member but `from`, then waits until each
  /// of them is back within its bound (or dropped): the back-pressure that
  /// keeps one sender from filling the server's memory.
  asio::awaitable<void> say(const member& from, const std::string& text);

  /// Forgets every member, closing their connections. Call it after the
  /// loop's threads have stopped and before the loop is destroyed.
  void clear();

  /// The counters, for members to update.
  [[nodiscard]] chat_counters& counters() noexcept { return counters_; }

  /// True when the console should show only the first and last lines.
  [[nodiscard]] bool quiet() const noexcept { return quiet_; }

 private:
  // Delivers `line` to every member but `except`; needs mutex_ held. Adds
  // to `behind`, if given, the recipients that may now be past their bound.
  void broadcast_locked(const member* except, const std::string& line,
                        std::vector<std::shared_ptr<member>>* behind = nullptr);

  std::mutex mutex_;
  std::vector<std::shared_ptr<member>> members_;  // Guarded by mutex_.
  chat_counters& counters_;
  const bool quiet_;
};
//! [room]

}  // namespace ch07
