// sandbox::within(): asyncio.wait_for(), a timer raced against an operation
// with `||`. Each test runs the loop until nothing is left to do, so a test
// that returns has also shown that nothing was left running behind within().
#include "sandbox/within.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

using namespace std::chrono_literals;
using sandbox::within;

// Runs `main` on a fresh loop until the loop has nothing left to do, and
// returns what it returned (or throws what it threw).
template <typename T>
T run(asio::awaitable<T> (*main)(bool&), bool& flag) {
  asio::io_context loop;
  std::optional<T> value;
  std::exception_ptr failure;
  asio::co_spawn(loop, main(flag), [&](std::exception_ptr error, T result) {
    failure = error;
    value = std::move(result);
  });
  loop.run();
  if (failure) {
    std::rethrow_exception(failure);
  }
  return *value;
}

// An operation that takes an hour, and records how it ended.
asio::awaitable<std::string> an_hour(bool& cancelled) {
  asio::steady_timer timer{co_await asio::this_coro::executor, 1h};
  auto [error] = co_await timer.async_wait(sandbox::as_tuple_awaitable);
  cancelled = error == asio::error::operation_aborted;
  co_return "an hour later";
}

// An operation that completes at once.
asio::awaitable<std::string> at_once() { co_return "done"; }

asio::awaitable<std::optional<std::string>> at_once_within_an_hour(bool&) {
  co_return co_await within(1h, at_once());
}

TEST(Within, ReturnsTheResultOfAnOperationThatFinishesInTime) {
  bool unused = false;
  EXPECT_EQ(run(&at_once_within_an_hour, unused), "done");
}

asio::awaitable<std::optional<std::string>> an_hour_within_20ms(bool& cancelled) {
  co_return co_await within(20ms, an_hour(cancelled));
}

TEST(Within, ReturnsNothingOnceTheTimeoutHasPassedAndTheOperationIsCancelled) {
  bool cancelled = false;
  EXPECT_EQ(run(&an_hour_within_20ms, cancelled), std::nullopt);
  // The loop ran dry after 20 ms, not an hour: the operation was cancelled
  // and had ended before within() returned.
  EXPECT_TRUE(cancelled);
}

asio::awaitable<std::optional<std::string>> at_once_without_timeout(bool&) {
  co_return co_await within(std::nullopt, at_once());
}

TEST(Within, WithoutATimeoutReturnsWhatTheOperationReturns) {
  bool unused = false;
  EXPECT_EQ(run(&at_once_without_timeout, unused), "done");
}

// An operation that fails at once, as a refused connect does.
asio::awaitable<std::string> refused() {
  throw std::system_error{asio::error::connection_refused};
  co_return "";  // Never reached: makes this a coroutine.
}

asio::awaitable<std::optional<std::string>> refused_within_50ms(bool&) {
  co_return co_await within(50ms, refused());
}

// `||` returns on the first *success*: a within() that raced the bare
// operation would let the timer win, and report the refusal as a timeout.
TEST(Within, AnOperationsExceptionIsThrownAgainNotTakenForATimeout) {
  bool unused = false;
  try {
    const auto result = run(&refused_within_50ms, unused);
    FAIL() << "returned " << (result ? *result : "nothing (a timeout)") << " instead of throwing";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), asio::error::connection_refused);
  }
}

}  // namespace
