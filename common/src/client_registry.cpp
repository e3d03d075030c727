/// \file
/// \brief A server's table of live connections, and the slots that hold
/// places in it.
#include "client_registry.hpp"

#include <utility>
#include <vector>

namespace sandbox {

// --- connection_slot: a place, held ------------------------------------------

connection_slot::connection_slot(std::shared_ptr<detail::client_registry> registry,
                                 std::uint64_t id) noexcept
    : registry_{std::move(registry)}, id_{id} {}

connection_slot::connection_slot(connection_slot&& other) noexcept
    : registry_{std::move(other.registry_)}, id_{other.id_} {}

connection_slot& connection_slot::operator=(connection_slot&& other) noexcept {
  if (this != &other) {
    release();
    registry_ = std::move(other.registry_);
    id_ = other.id_;
  }
  return *this;
}

connection_slot::~connection_slot() { release(); }

void connection_slot::on_close_request(closer close) {
  if (registry_) {
    registry_->set_closer(id_, std::move(close));
  }
}

void connection_slot::release() noexcept {
  if (auto registry = std::exchange(registry_, nullptr)) {
    registry->give_back(id_);
  }
}

// --- client_registry: the table ----------------------------------------------

namespace detail {

connection_slot client_registry::take_slot() {
  const std::lock_guard lock{mutex_};
  const std::uint64_t id = next_id_++;
  clients_.emplace(id, nullptr);  // No closer until the transport starts.
  return connection_slot{shared_from_this(), id};
}

std::size_t client_registry::active() const {
  const std::lock_guard lock{mutex_};
  return clients_.size();
}

void client_registry::set_closer(std::uint64_t id, connection_slot::closer close) {
  const std::lock_guard lock{mutex_};
  if (const auto entry = clients_.find(id); entry != clients_.end()) {
    entry->second = std::move(close);
  }
}

void client_registry::ask_every_client(connection_slot::request how) {
  // Copied under the lock, called outside it: a closer may take its
  // connection's lock, and a connection ending on another thread takes ours.
  std::vector<connection_slot::closer> closers;
  {
    const std::lock_guard lock{mutex_};
    closers.reserve(clients_.size());
    for (const auto& [id, close] : clients_) {
      if (close) {
        closers.push_back(close);
      }
    }
  }
  for (const auto& close : closers) {
    close(how);
  }
}

void client_registry::give_back(std::uint64_t id) noexcept {
  {
    const std::lock_guard lock{mutex_};
    clients_.erase(id);
  }
  wake_waiters_if_done();
}

void client_registry::stop_admitting() {
  {
    const std::lock_guard lock{mutex_};
    admitting_ = false;
  }
  wake_waiters_if_done();
}

void client_registry::wake_waiters_if_done() {
  bool done = false;
  {
    const std::lock_guard lock{mutex_};
    done = !admitting_ && clients_.empty();
  }
  if (done) {
    closed_event_.set();  // Thread-safe, and harmless twice.
  }
}

}  // namespace detail
}  // namespace sandbox
