/// \file
/// \brief A server's table of live connections (private to the library): the
/// places connection_slot holds, the closers close_clients() calls, and the
/// event wait_closed() waits on.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/connection_slot.hpp"
#include "sandbox/event.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sandbox::detail {

/// Shared by a server and the slots it handed out, so that either may go
/// first: a transport can outlive its server, and its slot then still has a
/// table to give its place back to.
class client_registry : public std::enable_shared_from_this<client_registry> {
 public:
  /// `executor` runs the closed event's internal work.
  explicit client_registry(const asio::any_io_executor& executor) : closed_event_{executor} {}

  /// Takes a place for a connection just admitted: it counts as active from
  /// now until its slot is released.
  connection_slot take_slot();

  /// Connections whose slot is still held.
  [[nodiscard]] std::size_t active() const;

  /// Asks every connection still registered to close or to abort (each
  /// closer hops to its connection's executor). From any thread.
  void ask_every_client(connection_slot::request how);

  /// The server accepts no more connections: once the last slot is given
  /// back (or now, if none is held), wait_closed() completes.
  void stop_admitting();

  /// Completes once stop_admitting() was called and no slot is held.
  asio::awaitable<void> wait_closed() { co_await closed_event_.wait(); }

 private:
  friend class sandbox::connection_slot;
  void set_closer(std::uint64_t id, connection_slot::closer close);
  void give_back(std::uint64_t id) noexcept;
  void wake_waiters_if_done();

  // Touched from every connection's executor as it ends, from the server's
  // strand as it admits, and from whichever thread calls close_clients():
  // hence the mutex. Each use is a few map operations; no closer runs under it.
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, connection_slot::closer> clients_;  // one per held slot
  std::uint64_t next_id_ = 0;
  bool admitting_ = true;
  event closed_event_;
};

}  // namespace sandbox::detail
