/// \file
/// \brief The handle a connection holds from the server that accepted it:
/// while it lives, the connection counts as active.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace sandbox {

namespace detail {
class client_registry;  // A server's table of live connections (client_registry.hpp).
}  // namespace detail

/// One place in a server's table of connections, taken when the server
/// admits a connection and given back when the connection ends: asyncio's
/// `Server._attach()` and `_detach()`, made a value the transport owns.
///
/// While a slot lives, its connection counts as active
/// (server::active_connections(), the connection limit), and
/// server::wait_closed() waits for it. Destroying the slot, or release(),
/// gives the place back. A slot is moved, never copied: one connection, one
/// place. An empty slot (the default) belongs to no server: a connection
/// made by open_connection(), say.
///
/// The slot refers to the server's table, not to the server: the transport
/// does not keep its server alive, and knows nothing of it (no include runs
/// from transport.hpp back up to server.hpp). The table lives as long as the
/// server or its last slot, whichever goes last.
///
/// **Threading.** A slot is used from its connection's executor; the table
/// it refers to is shared with the server's strand and with any thread that
/// calls close_clients(), and is guarded by a mutex.
class connection_slot {
 public:
  /// What the server asks of a connection: close_clients() or abort_clients().
  enum class request { close, abort };

  /// Reaches the connection from whichever thread asks: it must hop to the
  /// connection's own executor itself.
  using closer = std::function<void(request)>;

  /// A slot of no server.
  connection_slot() noexcept = default;

  connection_slot(connection_slot&& other) noexcept;
  connection_slot& operator=(connection_slot&& other) noexcept;
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

  /// Gives the place back, if release() has not.
  ~connection_slot();

  /// Lets the server's close_clients() and abort_clients() reach this
  /// connection, until the slot is released. Does nothing on an empty slot.
  void on_close_request(closer close);

  /// Gives the place back now: the connection no longer counts as active,
  /// and a server waiting in wait_closed() for its last connection wakes.
  /// The slot is empty afterwards; calling it again does nothing.
  void release() noexcept;

  /// True while the slot holds a place in a server's table.
  explicit operator bool() const noexcept { return registry_ != nullptr; }

 private:
  friend class detail::client_registry;  // The only one that hands out places.
  connection_slot(std::shared_ptr<detail::client_registry> registry, std::uint64_t id) noexcept;

  std::shared_ptr<detail::client_registry> registry_;
  std::uint64_t id_ = 0;  // This connection's key in the table.
};

}  // namespace sandbox
