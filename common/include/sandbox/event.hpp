/// \file
/// \brief `asyncio.Event` for coroutines on any thread: wait until it is set.
#pragma once

#include "sandbox/asio.hpp"

#include <atomic>

namespace sandbox {

/// The counterpart of `asyncio.Event`, without `clear()`: once set, it
/// stays set, which is all a "this has finished" signal needs.
///
/// It is built on Asio's `concurrent_channel`, used for its one guarantee
/// that fits exactly: closing the channel wakes every pending receiver, and
/// every later receive completes at once. The channel is thread-safe, so
/// set() may be called from any thread while coroutines wait elsewhere.
class event {
 public:
  /// `executor` runs the channel's internal work; waiters resume on their own.
  explicit event(const asio::any_io_executor& executor) : channel_{executor} {}

  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Wakes every waiter, now and in the future. Calling it again does nothing.
  void set() {
    is_set_.store(true, std::memory_order_release);
    channel_.close();
  }

  /// True once set() has been called.
  [[nodiscard]] bool is_set() const noexcept {
    return is_set_.load(std::memory_order_acquire);
  }

  /// Suspends the calling coroutine until set() is called (at once if it was).
  asio::awaitable<void> wait() {
    // The receive "fails" with channel_closed: that failure is the signal.
    [[maybe_unused]] auto [ec, unused] = co_await channel_.async_receive(as_tuple_awaitable);
  }

 private:
  // No message is ever sent: only close() is used. (The `bool` is there
  // because Asio 1.22 cannot instantiate a channel of plain
  // `void(error_code)`: its channel_traits match that signature twice.)
  asio::experimental::concurrent_channel<void(asio::error_code, bool)> channel_;
  std::atomic<bool> is_set_{false};
};

}  // namespace sandbox
