/// \file
/// Chapter 11: coroutines that wait for each other (`&&`, `||`), hand work
/// over (a channel), fail (where an exception goes), and the loop that runs
/// them (why run() returns, work guards). Its page is
/// chapters/11_coroutines_and_executors/README.md.
//
// Plain Asio, four parts, each printing what it shows. Every line is
// printed in an order fixed by construction (one thread, or after a join),
// so the output is the same on every run.
#include "sandbox/asio.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <variant>

namespace {

using namespace std::chrono_literals;

// --- 1. && and || -----------------------------------------------------------

// `name`, after `delay`; if cancelled first, says so and lets the
// cancellation (an exception) go on.
asio::awaitable<std::string> after(std::chrono::milliseconds delay, std::string name) {
  asio::steady_timer timer{co_await asio::this_coro::executor, delay};
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (const std::system_error& error) {
    sandbox::println("  ", name, ": cancelled (", error.code().message(), ")");
    throw;
  }
  co_return name;
}

//! [operators]
asio::awaitable<void> both_and_either() {
  using namespace asio::experimental::awaitable_operators;
  // &&: both run at once; the result is both results (after 20 ms, not 30).
  auto [first, second] = co_await (after(10ms, "the fast one") && after(20ms, "the slow one"));
  sandbox::println("&&: both finished: ", first, ", then ", second);
  // ||: both run at once; the first to finish wins, and the other is
  // cancelled: its pending wait completes with operation_aborted. The result
  // is a variant: index() says which one won.
  auto winner = co_await (after(10s, "the slow one") || after(10ms, "the fast one"));
  std::visit(
      [&winner](const std::string& name) {
        sandbox::println("||: operand ", winner.index() + 1, " won: ", name);
      },
      winner);
}
//! [operators]

// --- 2. A channel -----------------------------------------------------------

//! [channel]
// A channel of jobs (numbers), safe to use from any thread: the producer
// below runs on another executor (a thread_pool) than the consumer. Each
// message is what a completion handler would get: an error code and a job.
using job_channel = asio::experimental::concurrent_channel<void(std::error_code, int)>;

asio::awaitable<void> produce(job_channel& jobs, int count) {
  for (int job = 1; job <= count; ++job) {
    // Suspends while the channel is full: the consumer's pace sets the
    // producer's (flow control, as in chapter 08).
    co_await jobs.async_send(std::error_code{}, job, asio::use_awaitable);
  }
  // The end, as a message in its place after the last job. Not close():
  // in Asio 1.22, close() drops what the channel still holds, and the
  // consumer's next receive fails at once, jobs or not.
  co_await jobs.async_send(asio::error::eof, 0, asio::use_awaitable);
}

asio::awaitable<void> consume(job_channel& jobs) {
  for (;;) {
    auto [error, job] = co_await jobs.async_receive(sandbox::as_tuple_awaitable);
    if (error) {  // asio::error::eof: the producer has no more.
      sandbox::println("consumer: the producer says it is done");
      break;
    }
    sandbox::println("consumer: job ", job);
  }
}

asio::awaitable<void> hand_over(int count, std::size_t capacity, asio::thread_pool& producers) {
  using namespace asio::experimental::awaitable_operators;
  job_channel jobs{co_await asio::this_coro::executor, capacity};
  // The producer on the pool, the consumer here, and this coroutine waits
  // for both: the channel outlives every use of it.
  co_await (asio::co_spawn(producers, produce(jobs, count), asio::use_awaitable) &&
            consume(jobs));
}
//! [channel]

// --- 3. Exceptions ----------------------------------------------------------

//! [exceptions]
asio::awaitable<void> fails() {
  co_await asio::post(asio::use_awaitable);
  throw std::runtime_error{"the disk is full"};
}

void where_exceptions_go() {
  asio::io_context context;
  // A completion handler: it gets the exception as an exception_ptr (null
  // when the coroutine returned), on the coroutine's executor.
  asio::co_spawn(context, fails(), [](const std::exception_ptr& failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      sandbox::println("a completion handler gets it: ", error.what());
    }
  });
  // detached: the handler that ignores everything. The exception is dropped
  // without a word: use it only for coroutines that catch their own.
  asio::co_spawn(context, fails(), asio::detached);
  context.run();
  sandbox::println("detached drops it: nothing was printed for the second one");

  // use_future: a std::future whose get() rethrows it, on the thread that
  // waits. Another thread must run the loop meanwhile: here, a pool's.
  asio::thread_pool pool{1};
  std::future<void> result = asio::co_spawn(pool, fails(), asio::use_future);
  // get() alone would wait for the result; join() first also waits until
  // the pool has let go of the exception. Else the pool's thread may free it
  // just after the catch below has read it, ordered only by libstdc++'s
  // reference count, which ThreadSanitizer cannot see: it reports a race.
  pool.join();
  try {
    result.get();
  } catch (const std::exception& error) {
    sandbox::println("use_future: future.get() rethrows it: ", error.what());
  }
}
//! [exceptions]

// --- 4. run() and work guards -------------------------------------------------

//! [work_guard]
void when_run_returns() {
  // run() runs handlers until none is left to run or pending (no timer, no
  // socket operation, no coroutine): then it returns. An io_context with
  // nothing to do returns at once; what another thread posts afterwards
  // waits in its queue, and nobody runs it (unless run() is called again,
  // after restart()).
  asio::io_context idle;
  std::size_t ran = idle.run();
  sandbox::println("without a work guard: run() returned at once, after ", ran, " handlers");
  std::jthread late{[&idle] {
    asio::post(idle, [] { sandbox::println("never printed: nobody runs the loop any more"); });
  }};
  late.join();  // Its handler stays queued; the loop is destroyed with it, unrun.

  // A work guard counts as work until reset(): run() waits for the handler
  // another thread will post, runs it, and returns when the guard is gone.
  asio::io_context waiting;
  auto guard = asio::make_work_guard(waiting);
  std::jthread helper{[&waiting, &guard] {
    std::this_thread::sleep_for(50ms);
    asio::post(waiting,
               [] { sandbox::println("  a handler posted by another thread, 50 ms later"); });
    guard.reset();  // Nothing more to come: run() may return once the queue is empty.
  }};
  ran = waiting.run();
  sandbox::println("with a work guard: run() returned after ", ran,
                   " handler, once the guard was reset");
}
//! [work_guard]

// Runs `task` on a loop of its own, to its end. An exception escaping it is
// a bug of this program: one line, and status 1.
int run_alone(asio::awaitable<void> task) {
  asio::io_context context;
  int status = 0;
  asio::co_spawn(context, std::move(task), [&status](const std::exception_ptr& failure) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        sandbox::eprintln("error: ", error.what());
      }
      status = 1;
    }
  });
  context.run();
  return status;
}

}  // namespace

/// Parses the command line, then runs the four parts in turn.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{
      "Chapter 11: awaitable operators, channels, exceptions and work guards"};
  int count = 5;
  std::size_t capacity = 2;
  cli.app().add_option("--jobs", count, "Jobs the producer sends through the channel")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cli.app().add_option("--capacity", capacity, "Jobs the channel holds before a send waits")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cli.parse(argc, argv);

  sandbox::println("1. Awaitable operators");
  if (run_alone(both_and_either()) != 0) {
    return 1;
  }
  sandbox::println("2. A channel, from a producer on a thread pool to a consumer");
  asio::thread_pool producers{1};
  if (run_alone(hand_over(count, capacity, producers)) != 0) {
    return 1;
  }

  sandbox::println("3. An exception thrown in a coroutine");
  where_exceptions_go();

  sandbox::println("4. When run() returns");
  when_run_returns();
  return 0;
}
