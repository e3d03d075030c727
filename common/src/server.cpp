/// \file
/// \brief How a server accepts: the accept loop, its back-off on errors, the
/// connection limit and its polite refusal, and closing the clients on
/// shutdown.
#include "sandbox/server.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/run.hpp"
#include "sandbox/transport.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <limits>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>
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
    // them (the accept queue). The system's maximum copes with bursts of
    // clients.
    acceptor.listen(asio::socket_base::max_listen_connections, error);
  }
  if (!error) {
    // Only our synchronous accept() calls see this flag (async_accept always
    // waits for readiness): they return would_block when the accept queue is
    // empty instead of waiting for a client. close() and the reserve
    // descriptor below use them to empty the queue.
    acceptor.non_blocking(true, error);
  }
  return acceptor;
}

//! [descriptors]
// How many connections fit in the process's open file limit (RLIMIT_NOFILE,
// `ulimit -n`), after the headroom the process needs besides. The soft limit
// is first raised to the hard one, which any process may do for itself
// (Go's runtime does it at start-up since Go 1.19); the usual soft limit of
// 1024 is a leftover from select(), which cannot watch a descriptor above
// 1023. Asio uses epoll, which has no such bound.
struct descriptor_budget {
  std::size_t open_files = 0;  // the soft limit, once raised
  std::size_t connections = std::numeric_limits<std::size_t>::max();
};

descriptor_budget connections_that_fit() {
  descriptor_budget budget;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) {
    return budget;
  }
  if (files.rlim_cur < files.rlim_max) {
    const rlimit raised{files.rlim_max, files.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {  // Fails if the hard limit is "unlimited".
      files = raised;
    }
  }
  if (files.rlim_cur == RLIM_INFINITY) {
    return budget;
  }
  budget.open_files = static_cast<std::size_t>(files.rlim_cur);
  budget.connections = budget.open_files > server::descriptor_headroom
                           ? budget.open_files - server::descriptor_headroom
                           : 1;
  return budget;
}
//! [descriptors]

bool out_of_descriptors(const std::error_code& error) {
  return error == std::error_code{EMFILE, asio::system_category()} ||  // this process
         error == std::error_code{ENFILE, asio::system_category()};   // the whole system
}

// The reserve: a descriptor held open for nothing, so that one can be given
// back when the process has run out (see server::refuse_with_reserve()).
int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

// A refusal for a server out of descriptors, which cannot keep this one while
// the client finishes: say the line if the socket takes it now (a new
// socket's send buffer is empty, so it does), read what the client has
// already sent, so that closing sends FIN and not a reset, and close.
// Whatever the client sends after that meets a reset.
void refuse_at_once(tcp::socket& socket, const std::string& line) {
  std::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.send(asio::buffer(line), 0, ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 1024> sink{};
  while (socket.receive(asio::buffer(sink), 0, ignored) > 0) {
  }
  socket.close(ignored);
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
// sit unread in it makes the kernel send a reset instead of FIN, and a reset
// can destroy our line before the client reads it. A client that has sent
// nothing (a flood of them, typically) is closed as soon as the line is
// written: with nothing unread the close sends FIN, the line arrives, and
// the descriptor is free at once. A client with unread bytes gets the slow
// dance: a half-close, then reading (discarding) until it closes too, or
// for a second at most, holding a descriptor meanwhile.
class refusal : public std::enable_shared_from_this<refusal> {
 public:
  refusal(tcp::socket socket, std::string line, const asio::any_io_executor& executor)
      : strand_{asio::make_strand(executor)},
        socket_{std::move(socket)},
        line_{std::move(line)},
        deadline_{strand_} {}

  // Everything this refusal does runs on its strand, from the start: the
  // server's pool may have several threads.
  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->begin(); });
  }

 private:
  void begin() {
    asio::async_write(socket_, asio::buffer(line_),
                      asio::bind_executor(strand_, [self = shared_from_this()](
                                                       std::error_code error, std::size_t) {
                        self->after_line(error);
                      }));
  }

  void after_line(std::error_code error) {
    // available() is FIONREAD: bytes received and not yet read.
    const std::size_t unread = error ? 0 : socket_.available(error);
    if (error || unread == 0) {
      close();
      return;
    }
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    deadline_.expires_after(std::chrono::seconds{1});
    deadline_.async_wait([self = shared_from_this()](std::error_code expired) {
      if (!expired) {
        self->close();  // The client kept the connection open: enough.
      }
    });
    discard_until_closed();
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

namespace detail {

// One listening socket and what its accept loop keeps. Touched only on the
// server's strand.
struct listening_socket {
  listening_socket(tcp::acceptor socket, const asio::any_io_executor& strand)
      : acceptor{std::move(socket)}, back_off{strand}, log_timer{strand} {}

  tcp::acceptor acceptor;
  tcp::endpoint peer;           // filled in by the pending async_accept
  bool accepting = false;       // an async_accept is pending
  asio::steady_timer back_off;  // waits after an accept error
  // The accept-failure log: one line at the first failure, then at most one
  // a second, with the number of failures since the last line.
  asio::steady_timer log_timer;
  bool log_window_open = false;  // a failure was logged less than a second ago
  std::size_t unlogged_failures = 0;
  std::error_code last_failure;
};

}  // namespace detail

server::server(asio::any_io_executor executor, connection_handler on_connection,
               executor_picker pick)
    : io_executor_{executor},
      single_threaded_{is_single_threaded(executor)},
      pick_{std::move(pick)},
      strand_{asio::make_strand(executor)},
      on_connection_{std::move(on_connection)},
      reserve_fd_{open_reserve()},
      closed_event_{executor} {}

server::~server() {
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
  }
}

asio::awaitable<std::shared_ptr<server>> server::listen(std::string host, std::uint16_t port,
                                                        connection_handler on_connection,
                                                        executor_picker pick) {
  const auto executor = co_await asio::this_coro::executor;

  // getaddrinfo() with AI_PASSIVE, and without AI_ADDRCONFIG so that a
  // machine with only a loopback interface still gets both loopbacks. Its
  // errors ("Host not found") do not say which host: we do, as
  // open_connection() does.
  tcp::resolver resolver{executor};
  auto [resolve_error, results] = co_await resolver.async_resolve(
      host, std::to_string(port), tcp::resolver::passive, as_tuple_awaitable);
  if (resolve_error) {
    throw std::system_error{resolve_error, "cannot resolve " + host_port(host, port)};
  }

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
    self->listeners_.emplace_back(std::move(acceptor), self->strand_);
  }
  if (self->listeners_.empty()) {
    throw std::system_error{last_error, "cannot listen on " + host_port(host, port)};
  }
  // The default limit, too, must fit in the open file limit.
  self->set_max_connections(self->max_connections());
  for (std::size_t i = 0; i < self->listeners_.size(); ++i) {
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
  // admit()), so that no pending accept refers to another io_context.
  // accept() also says who connected: asking the socket later
  // (getpeername()) fails once the client has reset.
  auto& listener = listeners_[index];
  listener.accepting = true;
  listener.acceptor.async_accept(
      pick_ ? io_executor_ : connection_executor(), listener.peer,
      asio::bind_executor(strand_, [self = shared_from_this(), index](std::error_code error,
                                                                      tcp::socket socket) {
        self->on_accept(index, error, std::move(socket));
      }));
}

void server::on_accept(std::size_t index, std::error_code error, tcp::socket socket) {
  auto& listener = listeners_[index];
  listener.accepting = false;
  if (!error) {
    // Even if close() was called meanwhile: the connection is made, and
    // ours now. It is served like the others.
    admit(std::move(socket), listener.peer);
  } else if (error != asio::error::operation_aborted && serving_) {
    on_accept_error(index, error);  // It decides when to accept again.
    return;
  }
  if (serving_) {
    accept_next(index);
  } else {
    finish_close_if_done();  // This was the last accept close() waited for?
  }
}

// Every accepted connection goes through here, whichever way it was
// accepted: the limit, then the picker, then the handler.
void server::admit(tcp::socket socket, const tcp::endpoint& peer) {
  if (at_limit()) {
    refuse(std::move(socket));
    return;
  }
  if (pick_) {
    // Chapter 06: hand the connection to the loop the picker chooses.
    std::error_code error;
    socket = hand_over(std::move(socket), pick_(), error);
    if (error) {
      eprintln("cannot hand over a connection: ", error.message());
      return;
    }
  }
  attach();
  on_connection_(std::move(socket), peer, shared_from_this());
}

//! [accept_error]
void server::on_accept_error(std::size_t index, const std::error_code& error) {
  log_accept_failure(index, error);
  if (out_of_descriptors(error) && refuse_with_reserve(index)) {
    accept_next(index);  // The queue is empty now: nothing to spin on.
    return;
  }
  // Any other failure (or no reserve): the pending connection stays queued,
  // so trying again at once would fail again, as fast as the CPU allows.
  // asyncio logs and waits a second; we wait a little less.
  auto& listener = listeners_[index];
  listener.back_off.expires_after(std::chrono::milliseconds{100});
  listener.back_off.async_wait([self = shared_from_this(), index](std::error_code) {
    if (self->serving_) {
      self->accept_next(index);  // (Once closing, close() empties the queue itself.)
    }
  });
}

// Out of descriptors (EMFILE), the server cannot even accept a connection
// to refuse it: the client would wait in the accept queue, hearing nothing.
// So a server keeps one descriptor in reserve (an open /dev/null), and at
// EMFILE gives it back, accepts and refuses, at once, every connection
// waiting, then takes its reserve again. libev's and libuv's documentation
// describe the trick; libuv does it inside uv_accept().
//
// On a pool of threads another thread could take the freed descriptor
// first (if it opened a file at that moment): the accept then fails again,
// and the server falls back to backing off.
bool server::refuse_with_reserve(std::size_t index) {
  if (reserve_fd_ < 0) {
    reserve_fd_ = open_reserve();  // Lost earlier: try to get it back for next time.
    return false;
  }
  ::close(std::exchange(reserve_fd_, -1));
  std::string line;
  {
    const std::lock_guard lock{mutex_};
    line = refusal_;
  }
  std::size_t refused = 0;
  for (;;) {
    tcp::socket socket{io_executor_};
    tcp::endpoint peer;
    std::error_code error;
    listeners_[index].acceptor.accept(socket, peer, error);
    if (error) {
      break;  // would_block: nobody is waiting any more.
    }
    refuse_at_once(socket, line);
    ++refused;
  }
  reserve_fd_ = open_reserve();
  const std::lock_guard lock{mutex_};
  refused_ += refused;
  return refused > 0;
}
//! [accept_error]

//! [accept_log]
// A server out of descriptors may fail thousands of accepts a second; a
// line for each would flood the log (and the disk). The first failure is
// logged at once; then at most one line a second says how many followed.
void server::log_accept_failure(std::size_t index, const std::error_code& error) {
  auto& listener = listeners_[index];
  if (listener.log_window_open) {
    ++listener.unlogged_failures;
    listener.last_failure = error;
    return;
  }
  eprintln("accept on ", to_string(endpoints_[index]), " failed: ", error.message());
  listener.log_window_open = true;
  listener.log_timer.expires_after(std::chrono::seconds{1});
  listener.log_timer.async_wait([self = shared_from_this(), index](std::error_code cancelled) {
    if (!cancelled && self->serving_) {
      self->flush_accept_failures(index, true);
    }
  });
}

void server::flush_accept_failures(std::size_t index, bool keep_counting) {
  auto& listener = listeners_[index];
  if (listener.unlogged_failures > 0) {
    const std::size_t count = std::exchange(listener.unlogged_failures, 0);
    eprintln("accept on ", to_string(endpoints_[index]), " failed ", count,
             count == 1 ? " time" : " times", " in the last second: ",
             listener.last_failure.message());
    if (keep_counting) {
      // Failures may go on: another second of counting.
      listener.log_timer.expires_after(std::chrono::seconds{1});
      listener.log_timer.async_wait([self = shared_from_this(), index](std::error_code cancelled) {
        if (!cancelled && self->serving_) {
          self->flush_accept_failures(index, true);
        }
      });
      return;
    }
  }
  listener.log_window_open = false;  // A quiet second: the next failure is logged at once.
  listener.log_timer.cancel();
}
//! [accept_log]

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

//! [set_limit]
std::size_t server::set_max_connections(std::size_t limit) {
  // Each connection holds a descriptor; a limit the process cannot hold
  // would be no limit at all: past the open file limit accept() fails with
  // EMFILE and clients wait unanswered. nginx only warns
  // ("worker_connections exceed open file resource limit"); we warn and
  // lower the limit, so that the clients past it are refused politely.
  const descriptor_budget budget = connections_that_fit();
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

//! [close]
// Closing a listening socket resets every connection still in its accept
// queue: connections the kernel completed for us (the client's connect()
// returned, it may have sent its request) but that we had not accept()ed
// yet. Their clients did nothing wrong; a graceful shutdown must not lose
// them. So, before closing, we take them: cancel the pending async_accept,
// then accept without blocking (the acceptor is non-blocking) until the
// queue is empty, each connection going through admit() like any other.
// From then on the kernel refuses new clients, and those we took are
// served under the grace period with the rest.
void server::do_close() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto& listener = listeners_[i];
    std::error_code ignored;
    if (listener.accepting) {
      // Its handler still runs (on_accept, on this strand, later): with
      // operation_aborted, or with a connection it had taken already.
      listener.acceptor.cancel(ignored);
    }
    listener.back_off.cancel();
    drain_and_stop_listening(i);
    flush_accept_failures(i, false);
  }
  stopped_listening_ = true;
  finish_close_if_done();
}

void server::drain_and_stop_listening(std::size_t index) {
  auto& listener = listeners_[index];
  for (;;) {
    tcp::socket socket{pick_ ? io_executor_ : connection_executor()};
    tcp::endpoint peer;
    std::error_code error;
    listener.acceptor.accept(socket, peer, error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
      break;  // The queue is empty.
    }
    if (error) {
      // Out of descriptors: refuse, with the reserve, whoever waits.
      // Otherwise there is nothing better to do: closing resets the rest.
      log_accept_failure(index, error);
      if (out_of_descriptors(error)) {
        refuse_with_reserve(index);
      }
      break;
    }
    admit(std::move(socket), peer);
  }
  std::error_code ignored;
  listener.acceptor.close(ignored);
}
//! [close]

void server::finish_close_if_done() {
  // wait_closed() may finish only once no accept can bring another
  // connection: the queues are drained and every cancelled accept is back.
  const auto accepting = [](const detail::listening_socket& socket) { return socket.accepting; };
  if (!stopped_listening_ || std::ranges::any_of(listeners_, accepting)) {
    return;
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
      [factory = std::move(factory)](tcp::socket socket, const tcp::endpoint& peer,
                                     const std::shared_ptr<server>& owner) {
        // Hop onto the connection's strand: from here on, everything this
        // connection does runs there.
        const auto executor = socket.get_executor();
        asio::dispatch(executor, [factory, owner, peer, socket = std::move(socket)]() mutable {
          auto conn = std::make_shared<transport>(std::move(socket), factory(), owner, peer);
          conn->start();
        });
      };
  co_return co_await server::listen(std::move(host), port, std::move(on_connection),
                                    std::move(pick));
}

}  // namespace sandbox
