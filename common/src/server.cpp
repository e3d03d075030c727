#include "sandbox/server.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/run.hpp"
#include "sandbox/transport.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <utility>

#include <unistd.h>

namespace sandbox {
namespace {

// Binding one address can fail because the machine simply lacks it (a
// container without IPv6 still resolves "localhost" to ::1). Such an
// address is skipped, as long as another one works.
bool address_missing_here(const std::error_code& error) {
  // Asio reports socket errors in its own "asio.system" category, which
  // does not compare equal to std::errc values: compare with Asio's codes.
  return error == asio::error::address_family_not_supported ||
         error == std::error_code{EADDRNOTAVAIL, asio::system_category()};
}

tcp::acceptor open_acceptor(const asio::any_io_executor& executor, const tcp::endpoint& endpoint,
                            std::error_code& error) {
  tcp::acceptor acceptor{executor};
  acceptor.open(endpoint.protocol(), error);
  if (error) {
    return acceptor;
  }
  // SO_REUSEADDR, as asyncio sets on POSIX: a restarted server can bind its
  // port while old connections still sit in TIME_WAIT.
  acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (endpoint.address().is_v6()) {
    // Without IPV6_V6ONLY an IPv6 socket on [::] would also take IPv4 and
    // collide with our own IPv4 socket on the same port.
    acceptor.set_option(asio::ip::v6_only(true), error);
  }
  if (!error) {
    acceptor.bind(endpoint, error);
  }
  if (!error) {
    // The backlog: connections the kernel completes for us before we accept
    // them. The system's maximum copes with bursts of clients.
    acceptor.listen(asio::socket_base::max_listen_connections, error);
  }
  return acceptor;
}

//! [hand_over]
// Moves an accepted connection's descriptor into a socket of `executor`'s
// io_context: it leaves this loop's epoll set and joins the other one's.
tcp::socket hand_over(tcp::socket socket, const asio::any_io_executor& executor,
                      std::error_code& error) {
  tcp::socket moved{executor};
  const auto protocol = socket.local_endpoint(error).protocol();
  if (error) {
    return moved;
  }
  const auto handle = socket.release(error);
  if (error) {
    return moved;
  }
  moved.assign(protocol, handle, error);
  if (error) {
    ::close(handle);  // Nobody owns it any more.
  }
  return moved;
}
//! [hand_over]

// A connection over the limit: it gets one line saying why, then a close
// that does not lose that line. Closing a socket while the client's bytes
// sit unread in it makes the kernel send a reset, and a reset can destroy
// our line before the client reads it. So: send the line, half-close, and
// read (discarding) until the client closes too, or for a second at most.
class refusal : public std::enable_shared_from_this<refusal> {
 public:
  refusal(tcp::socket socket, std::string line, const asio::any_io_executor& executor)
      : strand_{asio::make_strand(executor)},
        socket_{std::move(socket)},
        line_{std::move(line)},
        deadline_{strand_, std::chrono::seconds{1}} {}

  // Everything this refusal does runs on its strand, from the start: the
  // server's pool may have several threads.
  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->begin(); });
  }

 private:
  void begin() {
    deadline_.async_wait([self = shared_from_this()](std::error_code error) {
      if (!error) {
        self->close();  // The client kept the connection open: enough.
      }
    });
    asio::async_write(socket_, asio::buffer(line_),
                      asio::bind_executor(strand_, [self = shared_from_this()](
                                                       std::error_code error, std::size_t) {
                        std::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        if (error) {
                          self->close();
                        } else {
                          self->discard_until_closed();
                        }
                      }));
  }

  void discard_until_closed() {
    socket_.async_read_some(asio::buffer(sink_),
                            asio::bind_executor(strand_, [self = shared_from_this()](
                                                             std::error_code error, std::size_t) {
                              if (error) {
                                self->close();  // End of file (or a reset): done.
                              } else {
                                self->discard_until_closed();
                              }
                            }));
  }

  void close() {
    std::error_code ignored;
    deadline_.cancel();
    socket_.close(ignored);
  }

  asio::strand<asio::any_io_executor> strand_;
  tcp::socket socket_;
  std::string line_;
  asio::steady_timer deadline_;
  std::array<char, 1024> sink_{};
};

}  // namespace

server::server(asio::any_io_executor executor, connection_handler on_connection,
               executor_picker pick)
    : io_executor_{executor},
      single_threaded_{is_single_threaded(executor)},
      pick_{std::move(pick)},
      strand_{asio::make_strand(executor)},
      on_connection_{std::move(on_connection)},
      closed_event_{executor} {}

asio::awaitable<std::shared_ptr<server>> server::listen(std::string host, std::uint16_t port,
                                                        connection_handler on_connection,
                                                        executor_picker pick) {
  const auto executor = co_await asio::this_coro::executor;

  // getaddrinfo() with AI_PASSIVE, and without AI_ADDRCONFIG so that a
  // machine with only a loopback interface still gets both loopbacks.
  tcp::resolver resolver{executor};
  const auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                       tcp::resolver::passive, asio::use_awaitable);

  auto self = std::make_shared<server>(executor, std::move(on_connection), std::move(pick));
  std::error_code last_error;
  for (const auto& entry : results) {
    tcp::endpoint endpoint = entry.endpoint();
    if (std::ranges::find(self->endpoints_, endpoint) != self->endpoints_.end()) {
      continue;  // /etc/hosts may list an address twice.
    }
    if (!self->endpoints_.empty()) {
      endpoint.port(self->port());  // One port for every address, even with --port 0.
    }
    std::error_code error;
    auto acceptor = open_acceptor(self->strand_, endpoint, error);
    if (error) {
      if (!address_missing_here(error)) {
        throw std::system_error{error, "cannot listen on " + to_string(endpoint)};
      }
      last_error = error;
      continue;
    }
    self->endpoints_.push_back(acceptor.local_endpoint());
    self->acceptors_.push_back(std::move(acceptor));
  }
  if (self->acceptors_.empty()) {
    throw std::system_error{last_error, "cannot listen on " + host_port(host, port)};
  }
  for (std::size_t i = 0; i < self->acceptors_.size(); ++i) {
    asio::post(self->strand_, [self, i] { self->accept_next(i); });
  }
  co_return self;
}

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
  // on_accept), so that no pending accept refers to another io_context.
  acceptors_[index].async_accept(
      pick_ ? io_executor_ : connection_executor(),
      asio::bind_executor(strand_, [self = shared_from_this(), index](std::error_code error,
                                                                      tcp::socket socket) {
        self->on_accept(index, error, std::move(socket));
      }));
}

void server::on_accept(std::size_t index, std::error_code error, tcp::socket socket) {
  if (!serving_) {
    return;  // Closed meanwhile; the socket closes as it goes out of scope.
  }
  if (error) {
    // Running out of file descriptors (EMFILE) is the classic case: the
    // pending connection stays queued, so retrying at once would spin.
    // asyncio logs and waits a second; we wait a little less.
    eprintln("accept on ", to_string(endpoints_[index]), " failed: ", error.message());
    auto timer = std::make_shared<asio::steady_timer>(strand_, std::chrono::milliseconds{100});
    timer->async_wait([self = shared_from_this(), index, timer](std::error_code) {
      if (self->serving_) {
        self->accept_next(index);
      }
    });
    return;
  }
  if (at_limit()) {
    refuse(std::move(socket));
    accept_next(index);
    return;
  }
  if (pick_) {
    // Chapter 06: hand the connection to the loop the picker chooses.
    socket = hand_over(std::move(socket), pick_(), error);
    if (error) {
      eprintln("cannot hand over a connection: ", error.message());
      accept_next(index);
      return;
    }
  }
  attach();
  on_connection_(std::move(socket), shared_from_this());
  accept_next(index);
}

//! [limit]
bool server::at_limit() {
  // Accepts are serialised on strand_, and attach() follows this check on
  // the same strand: two accepts cannot both take the last slot.
  const std::lock_guard lock{mutex_};
  return active_ >= max_connections_;
}

void server::refuse(tcp::socket socket) {
  std::string line;
  {
    const std::lock_guard lock{mutex_};
    ++refused_;
    line = refusal_;
  }
  std::make_shared<refusal>(std::move(socket), std::move(line), io_executor_)->start();
}
//! [limit]

void server::set_max_connections(std::size_t limit, std::string refusal) {
  const std::lock_guard lock{mutex_};
  max_connections_ = limit;
  refusal_ = std::move(refusal);
}

std::size_t server::max_connections() const {
  const std::lock_guard lock{mutex_};
  return max_connections_;
}

std::size_t server::refused_connections() const {
  const std::lock_guard lock{mutex_};
  return refused_;
}

void server::track(const std::shared_ptr<transport>& client) {
  const std::lock_guard lock{mutex_};
  if (clients_.size() == clients_.capacity()) {
    std::erase_if(clients_, [](const auto& weak) { return weak.expired(); });
  }
  clients_.push_back(client);
}

std::vector<std::shared_ptr<transport>> server::live_clients() {
  std::vector<std::shared_ptr<transport>> live;
  const std::lock_guard lock{mutex_};
  for (const auto& weak : clients_) {
    if (auto client = weak.lock()) {
      live.push_back(std::move(client));
    }
  }
  return live;
}

void server::close_clients() {
  // Each transport lives on its connection's executor: ask it there.
  for (auto& client : live_clients()) {
    asio::dispatch(client->get_executor(), [client] { client->close(); });
  }
}

void server::abort_clients() {
  for (auto& client : live_clients()) {
    asio::dispatch(client->get_executor(), [client] { client->abort(); });
  }
}

void server::close() {
  if (serving_.exchange(false)) {
    asio::dispatch(strand_, [self = shared_from_this()] { self->do_close(); });
  }
}

void server::do_close() {
  for (auto& acceptor : acceptors_) {
    std::error_code ignored;
    acceptor.close(ignored);  // Pending accepts complete with operation_aborted.
  }
  {
    const std::lock_guard lock{mutex_};
    closed_ = true;
  }
  wake_waiters_if_done();
}

asio::awaitable<void> server::wait_closed() { co_await closed_event_.wait(); }

std::size_t server::active_connections() const {
  const std::lock_guard lock{mutex_};
  return active_;
}

void server::attach() {
  const std::lock_guard lock{mutex_};
  ++active_;
}

void server::detach() {
  {
    const std::lock_guard lock{mutex_};
    --active_;
  }
  wake_waiters_if_done();
}

void server::wake_waiters_if_done() {
  bool done = false;
  {
    const std::lock_guard lock{mutex_};
    done = closed_ && active_ == 0;
  }
  if (done) {
    closed_event_.set();
  }
}

asio::awaitable<std::shared_ptr<server>> create_server(protocol_factory factory, std::string host,
                                                       std::uint16_t port,
                                                       server::executor_picker pick) {
  // The handler is a named variable, not a lambda written inside the
  // co_await: GCC 12 mishandles a temporary lambda with non-trivial
  // captures in a co_await expression (its captures arrive as garbage).
  server::connection_handler on_connection =
      [factory = std::move(factory)](tcp::socket socket, const std::shared_ptr<server>& owner) {
        // Hop onto the connection's strand: from here on, everything this
        // connection does runs there.
        const auto executor = socket.get_executor();
        asio::dispatch(executor, [factory, owner, socket = std::move(socket)]() mutable {
          auto conn = std::make_shared<transport>(std::move(socket), factory(), owner);
          conn->start();
        });
      };
  co_return co_await server::listen(std::move(host), port, std::move(on_connection),
                                    std::move(pick));
}

}  // namespace sandbox
