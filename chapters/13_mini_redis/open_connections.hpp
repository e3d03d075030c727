/// \file
/// \brief Chapter 13's list of open connections, for a graceful shutdown:
/// who must be told to finish when SIGINT or SIGTERM comes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace ch13 {

/// Every open connection's way to be asked to finish. The library's server
/// can close or abort all its connections (close_clients(), abort_clients()),
/// but "finish" means more than close: run the requests already received,
/// send their replies, and close once the client has gone quiet. Only the
/// connection knows when that is, so each leaves a `finish` action here.
///
/// Connections are added and removed on every loop's thread, and the
/// shutdown reads the list on the first loop: hence the mutex. No action
/// runs under it; each action posts itself to its connection's own loop.
class open_connections {
 public:
  /// Registers a connection's `finish` action and returns its ticket, for
  /// remove(). If the shutdown has begun already (this connection was
  /// accepted from the queue as the server stopped listening), `finish` is
  /// called at once, before add() returns.
  std::uint64_t add(std::function<void()> finish) {
    std::unique_lock hold{mutex_};
    const std::uint64_t ticket = next_ticket_++;
    if (shutting_down_) {
      hold.unlock();
      finish();
      return ticket;
    }
    finishers_.emplace(ticket, std::move(finish));
    return ticket;
  }

  /// The connection has ended: nothing to finish any more.
  void remove(std::uint64_t ticket) {
    const std::scoped_lock hold{mutex_};
    finishers_.erase(ticket);
  }

  /// From now on, a connection asked to finish aborts instead: the grace
  /// period is over. The server aborts those it has; this catches one that
  /// starts later (accepted from the queue, not yet running). Any thread.
  void abort_all() {
    const std::scoped_lock hold{mutex_};
    aborting_ = true;
  }

  /// True once abort_all() was called. Any thread.
  [[nodiscard]] bool aborting() const {
    const std::scoped_lock hold{mutex_};
    return aborting_;
  }

  /// Asks every connection to finish, once; connections added later are
  /// asked as they come. Returns how many were open.
  std::size_t finish_all() {
    std::unordered_map<std::uint64_t, std::function<void()>> open;
    {
      const std::scoped_lock hold{mutex_};
      shutting_down_ = true;
      open.swap(finishers_);
    }
    for (auto& [ticket, finish] : open) {
      finish();
    }
    return open.size();
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::function<void()>> finishers_;
  std::uint64_t next_ticket_ = 0;
  bool shutting_down_ = false;
  bool aborting_ = false;
};

}  // namespace ch13
