/// \file
/// \brief Chapters 05 and 06 share this: the echo handler, with counters
/// that every connection updates, and the thread each line came from.
///
/// The two chapters differ only in where connections run (one loop on a
/// pool of threads, or a loop per thread), so everything else they do is
/// here, once: a library of its own, never one chapter's folder that another
/// chapter reaches into.
#pragma once

#include "sandbox/streams.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace threaded_echo {

//! [counters]
/// State shared by every connection, and so by every thread. A strand cannot
/// protect it: a strand orders the handlers of *one* connection, while two
/// connections run on two threads at the same moment. std::atomic makes each
/// update indivisible. memory_order_relaxed is enough: each counter stands
/// alone (no other data is published through it), and main() reads them
/// only after joining the threads, which orders everything before it.
struct echo_counters {
  std::atomic<std::size_t> open{0};     ///< Connections now open.
  std::atomic<std::size_t> total{0};    ///< Connections ever accepted.
  std::atomic<std::uint64_t> bytes{0};  ///< Bytes echoed back.
};
//! [counters]

/// Chapter 02's echo handler, with the counters kept and, unless `quiet`,
/// a line per event saying which loop thread ran it.
asio::awaitable<void> client_connected_handler(sandbox::stream_reader reader,
                                               sandbox::stream_writer writer,
                                               echo_counters& counters, bool quiet);

/// The last line, "Connections: T total, O open; bytes echoed: B", and with
/// `quiet` one more, "Clients that reset their connection: R" (the resets
/// `server` counted instead of logging them). Call it once the threads are
/// joined.
void print_counters(const echo_counters& counters, const sandbox::server* server, bool quiet);

/// What chapters 05 and 06 do around their one difference, the start_server()
/// call: the handler they give it, the lines they print once it listens, and
/// the counters once every thread is joined. One per program, made in main()
/// and shared by the loop threads (its counters are atomic; the server
/// pointer is set once, on a loop thread, and read after the threads are
/// joined).
class echo_service {
 public:
  /// `quiet`: no line per connection and per read, and client resets counted
  /// rather than logged (--quiet, for load tests).
  explicit echo_service(bool quiet) : quiet_{quiet} {}
  echo_service(const echo_service&) = delete;
  echo_service& operator=(const echo_service&) = delete;

  /// For start_server(): each connection runs client_connected_handler()
  /// with this service's counters.
  [[nodiscard]] sandbox::client_connected_callback handler();

  /// Once start_server() has returned: resets are counted, not logged, under
  /// --quiet (as in chapter 02); prints "Serving on localhost:2222" and
  /// "Running on N threads"; then waits until the server is closed.
  asio::awaitable<void> serve_until_closed(std::shared_ptr<sandbox::server> server,
                                           const std::string& host, std::size_t threads);

  /// The `after` step of sandbox::run_on_threads() and context_pool::run():
  /// with status 0, print_counters(); then the server is let go, so that its
  /// sockets are closed before the loops they belong to are destroyed.
  void finish(int status);

 private:
  bool quiet_;
  echo_counters counters_;
  std::shared_ptr<sandbox::server> listening_;  // Set by serve_until_closed().
};

}  // namespace threaded_echo
