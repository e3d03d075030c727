/// \file
/// \brief `asyncio.Server`: listening sockets you can close and wait on.
#pragma once

#include "sandbox/asio.hpp"
#include "sandbox/connection_slot.hpp"
#include "sandbox/protocol.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sandbox {

class server;

namespace detail {
struct listening_socket;  // One listening socket's accept loop (accept_loop.hpp).
class client_registry;    // The connections accepted and not yet ended (client_registry.hpp).

/// Counts one client reset: start_server()'s handler does (streams.cpp).
/// Plumbing between two parts of this library, not for applications.
void count_client_reset(server& owner) noexcept;
}  // namespace detail

/// The counterpart of `asyncio.Server`, returned by create_server() and
/// start_server(): it listens on every address a host name resolves to, all
/// on the same port, and hands each accepted connection to its own strand
/// (unless one thread runs the loop: see mark_single_threaded()), or to the
/// executor an executor_picker chooses.
///
/// close() and wait_closed() may be called from any thread.
///
/// Its source is one concern a file: server.cpp (starting, the limit,
/// closing), listening.cpp (resolve and bind), accept_loop.cpp (accepting,
/// back-off, the reserve descriptor, the queue on close), refusal.cpp,
/// hand_over.cpp, descriptors.cpp (RLIMIT_NOFILE), client_registry.cpp (the
/// connections and their slots), create_server.cpp.
class server : public std::enable_shared_from_this<server> {
 public:
  /// What the server does with each accepted socket. It runs on the server's
  /// strand; the socket already belongs to a strand of its own. `peer` is the
  /// client's address as accept() reported it: asking the socket later
  /// (`remote_endpoint()`) fails once the client has reset. `slot` counts the
  /// connection as active until it is released or destroyed: give it to the
  /// connection's transport, which releases it when the connection ends.
  /// `owner` is this server, for a handler that reports to it (start_server()
  /// counts client resets); the connection itself should not keep it.
  using connection_handler =
      std::function<void(tcp::socket socket, const tcp::endpoint& peer, connection_slot slot,
                         const std::shared_ptr<server>& owner)>;

  /// Chooses where each accepted connection runs; the result is used as it
  /// is. Empty (the default): a new strand on the server's own io_context,
  /// or that io_context's executor itself if one thread runs it. Chapter 06
  /// passes context_pool::picker() to spread connections over its loops.
  using executor_picker = std::function<asio::any_io_executor()>;

  /// Resolves `host` (every address, as asyncio does: `localhost` gives
  /// 127.0.0.1 and ::1), binds each address to `port`, and starts accepting.
  /// With `port` 0 the kernel picks a free port for the first address and
  /// the others reuse it. Throws std::system_error when the host cannot be
  /// resolved ("cannot resolve HOST:PORT") or nothing can be bound.
  static asio::awaitable<std::shared_ptr<server>> listen(std::string host, std::uint16_t port,
                                                         connection_handler on_connection,
                                                         executor_picker pick = {});

  /// Use listen(), create_server() or start_server() instead.
  server(asio::any_io_executor executor, connection_handler on_connection,
         executor_picker pick = {});

  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// Stops listening. Connections already made carry on (as in asyncio):
  /// those accepted, and those the kernel had completed but the server not
  /// yet accepted (its accept queue), which are accepted first, without
  /// waiting, and served like the others. wait_closed() waits for them all.
  void close();

  /// True until close().
  [[nodiscard]] bool is_serving() const noexcept { return serving_.load(); }

  /// Completes once close() was called and every connection this server
  /// accepted has ended, like `Server.wait_closed()` in Python 3.12.
  /// Connections do not keep their server alive (each holds a
  /// connection_slot, not the server): the wait goes on even if the server
  /// is let go meanwhile.
  asio::awaitable<void> wait_closed();

  /// The bound addresses (`Server.sockets`), with the real port.
  [[nodiscard]] const std::vector<tcp::endpoint>& sockets() const noexcept { return endpoints_; }

  /// The port every address is bound to.
  [[nodiscard]] std::uint16_t port() const noexcept {
    return endpoints_.empty() ? std::uint16_t{0} : endpoints_.front().port();
  }

  /// Connections accepted and not yet ended.
  [[nodiscard]] std::size_t active_connections() const;

  /// How many connections a server serves at once unless told otherwise:
  /// half the usual limit of 1024 open files per process, so that a flood
  /// of clients meets a polite refusal and not a server out of descriptors.
  /// asyncio has no such limit; chapter 09 explains it.
  static constexpr std::size_t default_max_connections = 512;

  /// Descriptors the process keeps for everything but connections: its
  /// standard streams, each loop's epoll, eventfd and timerfd, the signal
  /// pipe, the listening sockets, the reserve descriptor, the resolver, and
  /// refusals in progress. A connection limit must leave this much of
  /// RLIMIT_NOFILE free (see set_max_connections()).
  static constexpr std::size_t descriptor_headroom = 64;

  /// What a refused client reads, unless a server says otherwise.
  static constexpr const char* default_refusal = "error: server busy; try again later\n";

  /// Serves at most `limit` connections at once, and returns the limit it
  /// applied. A connection beyond it is refused politely: it is accepted,
  /// sent the refusal line (set_refusal()), closed, and never reaches the
  /// connection handler. A slot frees as soon as any connection ends.
  ///
  /// Each connection takes a file descriptor, so the process's open file
  /// limit (RLIMIT_NOFILE, `ulimit -n`) bounds what a server can hold: the
  /// soft limit is first raised to the hard one; if `limit` plus
  /// descriptor_headroom still exceeds it, the limit is lowered to fit and
  /// one warning line says so on stderr (a server starting up does the same
  /// check with its default limit). May be called at any time, from any
  /// thread; applies to later accepts. \pre `limit >= 1`.
  std::size_t set_max_connections(std::size_t limit);

  /// What a refused client reads: one line, ending with '\n'.
  void set_refusal(std::string line);

  /// The current limit.
  [[nodiscard]] std::size_t max_connections() const;

  /// Connections refused because the limit was reached (or, rarely, because
  /// the process had run out of file descriptors).
  [[nodiscard]] std::size_t refused_connections() const;

  /// Closes every connection still open (Python 3.13's
  /// `Server.close_clients()`): each transport sends what it has buffered,
  /// then closes. Safe from any thread.
  void close_clients();

  /// Closes every connection still open at once, dropping what is buffered
  /// (`Server.abort_clients()`). Safe from any thread.
  void abort_clients();

  /// Whether a stream handler (start_server()) that ends because its client
  /// reset the connection is logged on stderr, as asyncio logs it: on by
  /// default. A server under load (`--quiet`) turns it off: a benchmark's
  /// churn resets thousands of connections, which is the clients' business,
  /// not the operator's. Every such reset is counted either way.
  void set_log_client_resets(bool on) noexcept { log_client_resets_.store(on); }

  /// Whether resets are logged (see set_log_client_resets()).
  [[nodiscard]] bool logs_client_resets() const noexcept { return log_client_resets_.load(); }

  /// Stream handlers ended by their client's reset. Counted by start_server().
  [[nodiscard]] std::size_t client_resets() const noexcept { return client_resets_.load(); }

 private:
  friend void detail::count_client_reset(server& owner) noexcept;

  // The accept loop (accept_loop.cpp).
  void accept_next(std::size_t index);
  asio::any_io_executor connection_executor();
  void on_accept(std::size_t index, std::error_code error, tcp::socket socket);
  void admit(tcp::socket socket, const tcp::endpoint& peer);
  void on_accept_error(std::size_t index, const std::error_code& error);
  void log_accept_failure(std::size_t index, const std::error_code& error);
  void flush_accept_failures(std::size_t index, bool keep_counting);
  bool refuse_with_reserve(std::size_t index);
  void drain_and_stop_listening(std::size_t index);
  void do_close();
  void finish_close_if_done();

  // The limit (server.cpp).
  [[nodiscard]] bool at_limit();
  void refuse(tcp::socket socket);
  [[nodiscard]] std::string refusal_line() const;

  asio::any_io_executor io_executor_;   // where new connections' strands come from
  bool single_threaded_;                 // true: connections need no strands (sandbox::run)
  executor_picker pick_;                 // empty: use io_executor_
  asio::strand<asio::any_io_executor> strand_;  // serialises the acceptors
  connection_handler on_connection_;
  std::vector<detail::listening_socket> listeners_;  // filled before the first accept, then fixed
  std::vector<tcp::endpoint> endpoints_;
  std::atomic<bool> serving_{true};
  std::atomic<bool> log_client_resets_{true};
  std::atomic<std::size_t> client_resets_{0};
  bool stopped_listening_ = false;       // strand only: close() has drained the queues
  int reserve_fd_ = -1;                  // strand only: /dev/null, given up at EMFILE
  // The connections accepted and not yet ended, each holding a slot in it.
  // Shared with those slots: a connection may outlive its server.
  std::shared_ptr<detail::client_registry> clients_;

  mutable std::mutex mutex_;  // guards what follows, set from any thread
  std::size_t max_connections_ = default_max_connections;
  std::size_t warned_for_ = 0;  // the last limit set_max_connections() warned about
  std::string refusal_ = default_refusal;
  std::size_t refused_ = 0;
};

/// The counterpart of `loop.create_server(protocol_factory, host, port)`:
/// listens and, for every connection, makes a protocol with `factory` and a
/// transport to drive it. `pick` as in server::executor_picker.
asio::awaitable<std::shared_ptr<server>> create_server(protocol_factory factory,
                                                       std::string host, std::uint16_t port,
                                                       server::executor_picker pick = {});

}  // namespace sandbox
