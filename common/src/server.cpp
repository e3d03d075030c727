/// \file
/// \brief The server itself: how it starts listening, its connection limit,
/// and how it closes: itself, its clients, and the wait for them. (Its other
/// parts are listed in server.hpp, one concern a file.)
#include "sandbox/server.hpp"

#include "accept_loop.hpp"
#include "client_registry.hpp"
#include "descriptors.hpp"
#include "hand_over.hpp"
#include "listening.hpp"
#include "refusal.hpp"

#include "sandbox/console.hpp"
#include "sandbox/run.hpp"

#include <algorithm>
#include <utility>

namespace sandbox {

server::server(asio::any_io_executor executor, connection_handler on_connection,
               executor_picker pick)
    : io_executor_{executor},
      single_threaded_{is_single_threaded(executor)},
      pick_{std::move(pick)},
      strand_{asio::make_strand(executor)},
      on_connection_{std::move(on_connection)},
      reserve_fd_{detail::open_reserve()},
      clients_{std::make_shared<detail::client_registry>(executor)} {}

server::~server() { detail::close_descriptor(reserve_fd_); }

asio::awaitable<std::shared_ptr<server>> server::listen(std::string host, std::uint16_t port,
                                                        connection_handler on_connection,
                                                        executor_picker pick) {
  const auto executor = co_await asio::this_coro::executor;
  auto self = std::make_shared<server>(executor, std::move(on_connection), std::move(pick));
  // The listening sockets belong to the server's strand, which serialises
  // everything their accept loops do.
  auto bound = co_await detail::bind_every_address(std::move(host), port, self->strand_);
  self->endpoints_ = std::move(bound.endpoints);
  for (auto& acceptor : bound.acceptors) {
    self->listeners_.emplace_back(std::move(acceptor), self->strand_);
  }
  // The default limit, too, must fit in the open file limit.
  self->set_max_connections(self->max_connections());
  for (std::size_t i = 0; i < self->listeners_.size(); ++i) {
    asio::post(self->strand_, [self, i] { self->accept_next(i); });
  }
  co_return self;
}

//! [limit]
bool server::at_limit() {
  // Accepts are serialised on strand_, and admit() takes the slot right
  // after this check on the same strand: two accepts cannot both take the
  // last one.
  const std::lock_guard lock{mutex_};
  return clients_->active() >= max_connections_;
}

void server::refuse(tcp::socket socket) {
  std::string line;
  {
    const std::lock_guard lock{mutex_};
    ++refused_;
    line = refusal_;
  }
  if (pick_ && !single_threaded_) {
    // Accepted on the pool itself (the picker's loops were to take it): a
    // refusal that waits for its client needs a strand, like any connection.
    std::error_code error;
    socket = detail::hand_over(std::move(socket), connection_executor(), error);
    if (error) {
      return;
    }
  }
  detail::refuse_politely(std::move(socket), std::move(line));
}
//! [limit]

std::string server::refusal_line() const {
  const std::lock_guard lock{mutex_};
  return refusal_;
}

//! [set_limit]
std::size_t server::set_max_connections(std::size_t limit) {
  // Each connection holds a descriptor; a limit the process cannot hold
  // would be no limit at all: past the open file limit accept() fails with
  // EMFILE and clients wait unanswered. nginx only warns
  // ("worker_connections exceed open file resource limit"); we warn and
  // lower the limit, so that the clients past it are refused politely.
  const auto budget = detail::connections_that_fit(descriptor_headroom);
  const std::size_t applied = std::min(limit, budget.connections);
  bool warn = false;
  {
    const std::lock_guard lock{mutex_};
    max_connections_ = applied;
    warn = applied < limit && std::exchange(warned_for_, limit) != limit;  // Once per value.
  }
  if (warn) {
    eprintln("warning: ", limit, " connections at once exceed the open file limit (",
             budget.open_files, ", ulimit -n); serving at most ", applied);
  }
  return applied;
}
//! [set_limit]

void server::set_refusal(std::string line) {
  const std::lock_guard lock{mutex_};
  refusal_ = std::move(line);
}

std::size_t server::max_connections() const {
  const std::lock_guard lock{mutex_};
  return max_connections_;
}

std::size_t server::refused_connections() const {
  const std::lock_guard lock{mutex_};
  return refused_;
}

std::size_t server::active_connections() const { return clients_->active(); }

// Each transport registered a closer in its slot, which hops to the
// connection's own executor: ask them all.
void server::close_clients() { clients_->ask_every_client(connection_slot::request::close); }

void server::abort_clients() { clients_->ask_every_client(connection_slot::request::abort); }

void server::close() {
  if (serving_.exchange(false)) {
    // do_close() (accept_loop.cpp) drains the accept queues on the strand.
    asio::dispatch(strand_, [self = shared_from_this()] { self->do_close(); });
  }
}

namespace {

// The table, not the server, knows when the last connection has gone. The
// coroutine holds it from the call on: the server may be let go meanwhile
// (its connections do not keep it alive), even before the coroutine starts.
asio::awaitable<void> wait_until_closed(std::shared_ptr<detail::client_registry> clients) {
  co_await clients->wait_closed();
}

}  // namespace

asio::awaitable<void> server::wait_closed() { return wait_until_closed(clients_); }

namespace detail {

void count_client_reset(server& owner) noexcept {
  owner.client_resets_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace sandbox
