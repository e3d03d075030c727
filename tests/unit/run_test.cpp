// sandbox::context_pool: who hears SIGINT and SIGTERM. By default the pool
// stops its loops at once; run_and_leave_signals_to_main() leaves the
// signal to `main`, which decides how to end (chapter 13's graceful
// shutdown). The test raises SIGTERM in its own process, which is safe only
// because a signal_set of the loop's is waiting for it by then.
#include "sandbox/run.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <stdexcept>

namespace {

// Waits for SIGTERM, raised by itself once its signal_set is in place, and
// notes that it saw it. (A plain function: GCC 12 miscompiles some lambda
// coroutines.)
asio::awaitable<void> wait_for_sigterm(std::atomic<bool>* saw_it) {
  asio::signal_set signals{co_await asio::this_coro::executor, SIGTERM};
  EXPECT_EQ(::raise(SIGTERM), 0);
  co_await signals.async_wait(asio::use_awaitable);
  *saw_it = true;
}

// Raises SIGTERM, then would wait an hour: only a pool that stops on the
// signal ends it.
asio::awaitable<void> raise_then_wait_an_hour() {
  asio::steady_timer hour{co_await asio::this_coro::executor, std::chrono::hours{1}};
  EXPECT_EQ(::raise(SIGTERM), 0);
  co_await hour.async_wait(asio::use_awaitable);
  ADD_FAILURE() << "an hour passed";
}

TEST(ContextPool, RunStopsEveryLoopOnASignal) {
  sandbox::context_pool pool{2};
  EXPECT_EQ(pool.run(raise_then_wait_an_hour), 0);
}

TEST(ContextPool, RunAndLeaveSignalsToMainLetsMainHearItAndEnd) {
  sandbox::context_pool pool{2};
  std::atomic<bool> saw_it{false};
  EXPECT_EQ(pool.run_and_leave_signals_to_main([&] { return wait_for_sigterm(&saw_it); }), 0);
  EXPECT_TRUE(saw_it.load()) << "the pool took the signal itself";
}

// Each loop by its number, distinct, whatever the round-robin has handed out.
TEST(ContextPool, ExecutorNamesEachLoopByItsNumber) {
  sandbox::context_pool pool{3};
  (void)pool.next_executor();  // The round-robin moves; executor(i) does not.
  for (std::size_t i = 0; i < pool.size(); ++i) {
    for (std::size_t j = 0; j < pool.size(); ++j) {
      EXPECT_EQ(pool.executor(i) == pool.executor(j), i == j) << i << ", " << j;
    }
  }
  EXPECT_THROW((void)pool.executor(3), std::out_of_range);
}

}  // namespace
