/// \file
/// \brief asyncio's `_waiter` future, for coroutines that share one executor:
/// wait until someone says "something changed".
#pragma once

#include "sandbox/asio.hpp"

#include <utility>

namespace sandbox {

class waiter;

namespace detail {

// A waiting coroutine's completion handler, whatever its type. (Asio 1.22
// has no any_completion_handler yet.) A waiter's waiting ones form a singly
// linked list, in arrival order.
struct waiter_pending {
  waiter_pending* next = nullptr;
  virtual void complete(bool queued) = 0;  // Frees this, then runs the handler.
  virtual void destroy() = 0;              // Frees this without running it.

 protected:
  ~waiter_pending() = default;
};

template <typename Handler>
struct waiter_pending_handler final : waiter_pending {
  // Memory comes from Asio's recycling allocator: a block freed by the
  // last wake-up on this thread is reused, as Asio does for its own
  // operations, so waiting allocates nothing in the steady state.
  using allocator = asio::recycling_allocator<waiter_pending_handler>;

  explicit waiter_pending_handler(Handler&& h) : handler{std::move(h)} {}

  static waiter_pending* make(Handler&& h) {
    allocator alloc;
    waiter_pending_handler* p = alloc.allocate(1);
    return new (p) waiter_pending_handler{std::move(h)};
  }

  void complete(bool queued) override {
    // Freed before the handler runs, so the coroutine it resumes may wait
    // again at once (and reuse the block).
    Handler h = std::move(handler);
    destroy();
    if (queued) {
      asio::post(std::move(h));
    } else {
      // Runs the handler here if its executor (a strand, say) is the one
      // running us; posts it otherwise.
      asio::dispatch(std::move(h));
    }
  }

  void destroy() override {
    allocator alloc;
    this->~waiter_pending_handler();
    alloc.deallocate(this, 1);
  }

  Handler handler;
};

// Installed in the waiting coroutine's cancellation slot. It names the wait
// by its address: one that has completed meanwhile is not found.
struct waiter_cancel_handler {
  waiter_cancel_handler(waiter* o, waiter_pending* w) : owner{o}, wait{w} {}
  waiter* owner;
  waiter_pending* wait;
  void operator()(asio::cancellation_type type) const;
};

}  // namespace detail

/// A wake-up call for coroutines waiting on shared state: wait() suspends
/// until notify(), and the coroutine then looks at the state again. asyncio's
/// StreamReader keeps a future called `_waiter` for the same job.
///
/// It is meant for state that lives on one executor (a connection's strand),
/// so it takes no lock: call every member from that executor.
///
/// **Why not a timer.** The classic Asio trick is a steady_timer that never
/// expires: waiting is async_wait(), waking is cancel(). It works, but every
/// async_wait re-arms the kernel's timer (a timerfd_settime() system call
/// when it is the earliest timer, which a never-expiring one is on a loop
/// without other timers), and cancel() always queues the coroutine's resumption
/// behind whatever else the loop has to do. A waiter only keeps the
/// coroutine's completion handler, and notify() can resume it at once.
///
/// **Lifetime.** A waiting coroutine is owned by the waiter (its handler
/// holds the coroutine frame). If the io_context is destroyed while one
/// waits, the waiter's service destroys the handler, as the io_context does
/// with every pending operation, so the frame and what it owns are freed.
class waiter {
 public:
  /// A waiter for coroutines running on `executor`'s execution context.
  explicit waiter(const asio::any_io_executor& executor);
  ~waiter();

  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  /// Suspends the calling coroutine until notify() or notify_later().
  /// Several coroutines may wait at once; each is woken once.
  ///
  /// A wait can be cancelled, as any Asio operation (`||` of
  /// asio::experimental::awaitable_operators does, for the operation that
  /// lost the race): the coroutine then resumes from the loop, and its next
  /// co_await throws `operation_aborted`, as after a cancelled timer.
  asio::awaitable<void> wait() {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
        [this](auto handler) { add(std::move(handler)); }, asio::use_awaitable);
  }

  /// True while a coroutine waits.
  [[nodiscard]] bool has_waiters() const noexcept { return first_ != nullptr; }

  /// Wakes every coroutine waiting now. One whose executor is the one
  /// running this call resumes inside it, before notify() returns: the
  /// caller must have finished changing the state it guards, and must not
  /// rely on anything the woken coroutine may change. Others are queued.
  void notify() { wake(false); }

  /// Wakes every coroutine waiting now, each queued on its executor to run
  /// after the caller returns, as a timer's cancel() would.
  void notify_later() { wake(true); }

 private:
  friend class waiter_service;
  friend struct detail::waiter_cancel_handler;
  using pending = detail::waiter_pending;

  template <typename Handler>
  void add(Handler handler) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    pending* p = detail::waiter_pending_handler<Handler>::make(std::move(handler));
    *last_ = p;
    last_ = &p->next;
    if (slot.is_connected()) {
      slot.template emplace<detail::waiter_cancel_handler>(this, p);
    }
  }

  void wake(bool queued);
  void cancel(pending* wait);
  void destroy_pending() noexcept;

  class waiter_service& service_;
  pending* first_ = nullptr;
  pending** last_ = &first_;
  // The service's list of live waiters (see waiter.cpp).
  waiter* prev_ = nullptr;
  waiter* next_ = nullptr;
};

namespace detail {

inline void waiter_cancel_handler::operator()(asio::cancellation_type type) const {
  if (type != asio::cancellation_type::none) {
    owner->cancel(wait);
  }
}

}  // namespace detail

}  // namespace sandbox
