/// \file
/// Chapter 11: what an awaitable is, what co_spawn does with it, on which
/// thread a coroutine resumes, and what a strand changes. Its page is
/// chapters/11_coroutines_and_executors/README.md.
//
// Plain Asio, as in Asio's own examples: an io_context, threads that call
// its run(), co_spawn. The library's run_on_threads() does the same; here
// the steps are spelled out, because they are the subject. Each line says
// which thread printed it: [thread 1] is main's, [thread 2] and up are the
// threads this program starts, and [other pool] a thread of an
// asio::thread_pool.
#include "sandbox/asio.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// 0 on threads this program did not start (the thread_pool's).
thread_local int thread_number = 0;

std::string this_thread() {
  return thread_number == 0 ? "[other pool]" : "[thread " + std::to_string(thread_number) + "]";
}

//! [run_on]
// An io_context run by `threads` threads: main's (thread 1) and threads - 1
// more. `start` spawns the coroutines; run() returns on every thread once
// they have all finished (no work is left), and then the threads are joined.
void run_on(std::size_t threads, const std::function<void(asio::io_context&)>& start) {
  asio::io_context context{static_cast<int>(threads)};
  start(context);
  std::vector<std::jthread> others;
  for (std::size_t i = 2; i <= threads; ++i) {
    others.emplace_back([&context, i] {
      thread_number = static_cast<int>(i);
      context.run();
    });
  }
  thread_number = 1;
  context.run();
  others.clear();  // Joins them.
}
//! [run_on]

// --- 1. An awaitable, and co_spawn ------------------------------------------

//! [awaitable]
asio::awaitable<void> hello() {
  sandbox::println(this_thread(), " hello() runs, inside run()");
  co_return;
}

void an_awaitable_is_lazy() {
  asio::io_context context;
  thread_number = 1;
  // Calling a coroutine makes its frame and returns an awaitable: a handle
  // to a coroutine suspended before its first line. Nothing has run yet.
  asio::awaitable<void> task = hello();
  sandbox::println("hello() returned an awaitable: nothing has run yet");
  // co_spawn gives it to an executor and says what to do at the end: call
  // this completion handler, with the exception if one escaped (or nullptr).
  asio::co_spawn(context, std::move(task), [](const std::exception_ptr& failure) {
    sandbox::println(this_thread(), " the completion handler: hello() has ",
                     failure ? "thrown" : "returned");
  });
  sandbox::println("co_spawn returned: nothing has run yet, since no thread runs the loop");
  context.run();
  sandbox::println("run() returned: no work is left");
}
//! [awaitable]

//! [inline]
asio::awaitable<void> child() {
  sandbox::println("  child: starts at once, before co_spawn has returned");
  co_await asio::post(asio::use_awaitable);
  sandbox::println("  child: resumes once the parent's step has ended");
}

// Called from a handler that its executor is already running, co_spawn
// starts the new coroutine at once (Asio 1.22 dispatches it, not posts it)
// and runs it up to its first co_await; only then does co_spawn return.
asio::awaitable<void> parent() {
  sandbox::println("parent: calls co_spawn(child)");
  asio::co_spawn(co_await asio::this_coro::executor, child(), asio::detached);
  sandbox::println("parent: co_spawn has returned");
}
//! [inline]

// --- 2. Where a coroutine resumes -------------------------------------------

//! [resume]
asio::awaitable<void> on_the_other_pool() {
  sandbox::println(this_thread(), " step 4: a coroutine on the other pool's executor");
  co_return;
}

// Each co_await suspends the coroutine; what resumes it is a handler that
// its executor runs: here, on whichever thread of the pool is free.
asio::awaitable<void> steps(asio::thread_pool& other_pool) {
  sandbox::println(this_thread(), " step 1: started");
  co_await asio::post(asio::use_awaitable);  // Back of the queue: any thread may take it.
  sandbox::println(this_thread(), " step 2: after co_await post");
  asio::steady_timer timer{co_await asio::this_coro::executor, 10ms};
  co_await timer.async_wait(asio::use_awaitable);
  sandbox::println(this_thread(), " step 3: after co_await of a timer");
  // A coroutine on another executor, awaited: it runs there, and this one
  // resumes on its own executor, not on the thread that finished the work.
  co_await asio::co_spawn(other_pool, on_the_other_pool(), asio::use_awaitable);
  sandbox::println(this_thread(), " step 5: back on its own executor");
}
//! [resume]

// --- 3. A strand ---------------------------------------------------------

//! [strand]
// One connection's state, and a way to see whether two of its steps ever
// run at the same time: `inside` counts the steps running now. (Atomics, so
// that this check is not itself a data race: a real connection's state, a
// std::string say, would be plain, and torn.)
struct connection_state {
  std::atomic<int> inside{0};
  std::atomic<std::size_t> overlaps{0};
};

void one_step(connection_state& state) {
  if (state.inside.fetch_add(1) != 0) {
    state.overlaps.fetch_add(1);  // Another step of this connection is running.
  }
  // The step's work: a few hundred nanoseconds.
  for (int i = 0; i < 200; ++i) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // Keeps the loop.
  }
  state.inside.fetch_sub(1);
}

// Two coroutines of one connection (think: one reads, one writes), each
// taking `count` steps, with a co_await between two steps.
asio::awaitable<void> take_steps(connection_state& state, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    one_step(state);
    co_await asio::post(asio::use_awaitable);
  }
}

std::size_t overlaps(std::size_t threads, std::size_t count, bool strand) {
  connection_state state;
  run_on(threads, [&](asio::io_context& context) {
    // With a strand, both coroutines run through it: the strand hands the
    // pool one of its handlers at a time, in order. Without, each handler
    // goes to any free thread, at once.
    asio::any_io_executor executor = context.get_executor();
    if (strand) {
      executor = asio::make_strand(context);
    }
    asio::co_spawn(executor, take_steps(state, count), asio::detached);
    asio::co_spawn(executor, take_steps(state, count), asio::detached);
  });
  return state.overlaps.load();
}
//! [strand]

}  // namespace

/// Parses the command line, then runs the three parts in turn.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 11: awaitables, co_spawn, and where coroutines run"};
  std::size_t threads = 2;
  std::size_t count = 20000;
  cli.app().add_option("--threads", threads, "Threads that run the loop (parts 2 and 3)")
      ->check(CLI::Range(2, 64))->capture_default_str();
  cli.app().add_option("--steps", count, "Steps each coroutine of part 3 takes")
      ->check(CLI::Range(1, 10000000))->capture_default_str();
  cli.parse(argc, argv);

  sandbox::println("1. An awaitable, and co_spawn");
  an_awaitable_is_lazy();
  {
    asio::io_context context;
    asio::co_spawn(context, parent(), asio::detached);
    context.run();
  }

  sandbox::println("2. Where a coroutine resumes: anywhere on its executor, here a pool of ",
                   threads, " threads");
  asio::thread_pool other_pool{1};
  run_on(threads, [&](asio::io_context& context) {
    asio::co_spawn(context, steps(other_pool), asio::detached);
  });

  sandbox::println("3. Two coroutines of one connection, ", count, " steps each, on ", threads,
                   " threads");
  sandbox::println("without a strand: their steps overlapped ", overlaps(threads, count, false),
                   " times");
  sandbox::println("with a strand: their steps overlapped ", overlaps(threads, count, true),
                   " times");
  return 0;
}
