/// \file
/// \brief `asyncio.run()`: an event loop for one main coroutine, stopped by
/// Ctrl-C; and the two ways to give that loop more threads (chapters 05, 06).
#pragma once

#include "sandbox/asio.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace sandbox {

/// The counterpart of `asyncio.run(main())`: makes an event loop (an
/// `asio::io_context`), runs the coroutine `main` on it, and returns once
/// nothing is left to do.
///
/// - `SIGINT` (Ctrl-C) or `SIGTERM` stops the loop at once. Coroutines still
///   suspended are destroyed with the io_context, closing their sockets, and
///   run() returns 0: for these chapters that is a normal way to end.
/// - An exception escaping `main` is printed as one line, `error: <what>`, on
///   stderr, and run() returns 1.
///
/// The loop runs on the calling thread only, as asyncio's does, and says so
/// with mark_single_threaded(): servers on it then need no strands.
/// `after_run`, if given, is called with the status once the loop has
/// stopped but before it is destroyed (see run_on_threads()): the place to
/// print what the handlers counted.
/// \return the process exit status.
int run(std::function<asio::awaitable<void>()> main,
        const std::function<void(int status)>& after_run = {});

/// run(), except that SIGINT and SIGTERM no longer stop the loop: `main`
/// catches them itself (with an `asio::signal_set` made before it says it
/// is serving) and decides how to end. Chapter 09 uses it for a graceful
/// shutdown: stop accepting, let the connections finish, then return.
int run_and_leave_signals_to_main(std::function<asio::awaitable<void>()> main);

/// Records that only one thread ever runs `context`. A server on such a
/// loop gives its connections the plain io_context executor instead of a
/// strand each: with one thread, handlers can never overlap, so the strand's
/// bookkeeping (a lock and a queue per handler) would buy nothing. Chapter
/// 04 measured that bookkeeping at about 0.9 us of CPU per echo.
void mark_single_threaded(asio::io_context& context);

/// True if `executor` belongs to an io_context passed to
/// mark_single_threaded(). False for every other executor, which is the safe
/// answer: a server then gives each connection its own strand.
[[nodiscard]] bool is_single_threaded(const asio::any_io_executor& executor);

/// run() with a thread pool (chapters 05 and 07): one io_context, run by
/// the calling thread and `threads - 1` more. Any of them may run any ready
/// handler, so a connection's handlers can run on different threads one
/// after another; servers on this loop give each connection a strand so that
/// they never run at the same time.
///
/// Signals, errors and the status work as in run(). `after_run`, if given,
/// is called with the status once every thread has been joined but before
/// the loop is destroyed: connections a signal interrupted are still open
/// then, and whatever the handlers wrote is safe to read.
/// \pre `threads >= 1`.
int run_on_threads(std::size_t threads, std::function<asio::awaitable<void>()> main,
                   const std::function<void(int status)>& after_run = {});

/// Which loop thread is running the caller: 1 to N in run_on_threads() and
/// context_pool::run() (1 is the thread that called them), 1 in run(), and 0
/// on any other thread. Chapters print it to show where a handler ran.
[[nodiscard]] int this_thread_number() noexcept;

/// An io_context per thread (chapter 06): `size` loops, each run by exactly
/// one thread and marked single-threaded, so their connections need no
/// strands. A server hands each accepted connection to the next loop in
/// turn (pass picker() to start_server()).
class context_pool {
 public:
  /// Makes `size` io_contexts. \pre `size >= 1`.
  explicit context_pool(std::size_t size);

  context_pool(const context_pool&) = delete;
  context_pool& operator=(const context_pool&) = delete;
  ~context_pool();

  /// The number of loops (and threads).
  [[nodiscard]] std::size_t size() const noexcept { return contexts_.size(); }

  /// The executor of the next loop, round-robin; safe from any thread.
  [[nodiscard]] asio::any_io_executor next_executor();

  /// The executor of loop `index` (0 to size() - 1; loop 0 runs `main`):
  /// for work that belongs to one loop in particular, such as a shard that
  /// loop owns (chapter 13).
  [[nodiscard]] asio::any_io_executor executor(std::size_t index) const;

  /// next_executor() as a function, for start_server()'s `pick`.
  [[nodiscard]] std::function<asio::any_io_executor()> picker();

  /// run() across the pool: `main` runs on the first loop, which also takes
  /// the signals; SIGINT or SIGTERM stops every loop. Each loop runs on its
  /// own thread (the first on the calling thread) until `main` has returned
  /// and it has nothing left to do. Returns the exit status; `after_run`
  /// as in run_on_threads(), though the loops are destroyed only with the pool.
  int run(std::function<asio::awaitable<void>()> main,
          const std::function<void(int status)>& after_run = {});

  /// run() across the pool, except that SIGINT and SIGTERM no longer stop
  /// the loops: `main` catches them itself, as with the free function of
  /// the same name, and ends the server gracefully. The loops then run
  /// until `main` has returned and each has nothing left to do.
  int run_and_leave_signals_to_main(std::function<asio::awaitable<void>()> main);

 private:
  int run(std::function<asio::awaitable<void>()> main, bool catch_signals,
          const std::function<void(int status)>& after_run);

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace sandbox
