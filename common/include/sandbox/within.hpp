/// \file
/// \brief `asyncio.wait_for()`: an operation raced against a timer with `||`,
/// its result or nothing once the timeout has passed. Chapter 03's client
/// bounds its connect and reads with it; chapter 12 shows how it is built and
/// what the cancellation it relies on promises.
//
//   within(timeout, operation):  operation ──┐
//                                           ├─ `||`: the first to finish wins,
//                                timer ──────┘   the other is cancelled
#pragma once

#include "sandbox/asio.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <utility>
#include <variant>

namespace sandbox {

/// How long an operation may take; std::nullopt for no limit.
using optional_timeout = std::optional<std::chrono::steady_clock::duration>;

//! [within]
/// asyncio.wait_for(operation, timeout): the operation's result, or
/// std::nullopt once `timeout` has passed (no timeout: it waits as long as
/// the operation does). An exception from the operation is thrown again.
///
/// `||` (awaitable_operators) runs both at once; when one finishes, the
/// other is cancelled (the timer, or the operation, whose wait then ends
/// with operation_aborted) and awaited, so nothing is left running behind
/// us. Asio 1.22 has no cancel_after() to do this for us.
///
/// One trap: `||` waits for the first *success*. An operation that throws
/// (a refused connection) does not end the race, the timer would still win
/// and the refusal would be reported as a timeout. So the operation's
/// exception is caught inside the race and thrown again once it is over.
template <typename T>
asio::awaitable<std::optional<T>> within(optional_timeout timeout, asio::awaitable<T> operation) {
  std::optional<T> result;
  if (!timeout) {
    result.emplace(co_await std::move(operation));
    co_return result;
  }
  // The operation's result or its exception, as a value. (A struct, not a
  // std::variant: `||` flattens a variant operand into its own result.)
  struct outcome {
    std::optional<T> result;
    std::exception_ptr failure;
  };
  // (Filled in steps on purpose. A first draft wrote
  // `co_return outcome{co_await op, nullptr};` and `co_return
  // std::move(finished.result);`, and GCC 12 built code from it that
  // destroyed the string read twice: a test caught the crash.)
  auto caught = [](asio::awaitable<T> op) -> asio::awaitable<outcome> {
    outcome done;
    try {
      done.result.emplace(co_await std::move(op));
    } catch (...) {
      done.failure = std::current_exception();
    }
    co_return done;
  };
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer{co_await asio::this_coro::executor, *timeout};
  auto winner = co_await (caught(std::move(operation)) || timer.async_wait(asio::use_awaitable));
  if (winner.index() == 1) {
    co_return std::nullopt;  // The timer finished first.
  }
  outcome& finished = std::get<0>(winner);
  if (finished.failure) {
    std::rethrow_exception(finished.failure);
  }
  result = std::move(finished.result);
  co_return result;
}
//! [within]

}  // namespace sandbox
