/// \file
/// \brief How a waiter wakes its coroutines, and who frees them when the
/// io_context goes first.
#include "sandbox/waiter.hpp"

#include <mutex>

namespace sandbox {

/// The io_context's list of its waiters, to free their coroutines at shutdown.
///
/// Every pending Asio operation (a timer's wait, a socket's read) belongs to
/// a service of its io_context, and ~io_context() destroys those still
/// pending: that is what frees a coroutine suspended on one when the
/// program stops. A waiter keeps its coroutines itself, where the io_context
/// cannot see them, so it registers with a service of its own that does the
/// same at shutdown. Without it a coroutine waiting at exit would leak: its
/// frame owns (through the stream) the waiter that owns the frame.
class waiter_service final : public asio::execution_context::service {
 public:
  /// The key Asio's use_service<>() finds this service by.
  static inline asio::execution_context::id id;

  /// Made by asio::use_service() on the first waiter of `context`.
  explicit waiter_service(asio::execution_context& context)
      : asio::execution_context::service{context} {}

  /// Lists a new waiter.
  void add(waiter& w) {
    const std::lock_guard lock{mutex_};  // Waiters of one context may live on several threads.
    w.next_ = first_;
    if (first_ != nullptr) {
      first_->prev_ = &w;
    }
    first_ = &w;
  }

  /// Forgets a waiter being destroyed.
  void remove(waiter& w) {
    const std::lock_guard lock{mutex_};
    if (w.prev_ != nullptr) {
      w.prev_->next_ = w.next_;
    } else {
      first_ = w.next_;
    }
    if (w.next_ != nullptr) {
      w.next_->prev_ = w.prev_;
    }
  }

 private:
  // Called by ~io_context(), once no handler runs any more. Destroying a
  // coroutine's handler destroys the coroutine, which may free waiters (and
  // call remove()): so the handlers are collected first, under the lock,
  // and destroyed after it.
  void shutdown() override {
    waiter::pending* orphans = nullptr;
    {
      const std::lock_guard lock{mutex_};
      for (waiter* w = first_; w != nullptr; w = w->next_) {
        while (waiter::pending* p = w->first_) {
          w->first_ = p->next;
          p->next = orphans;
          orphans = p;
        }
        w->last_ = &w->first_;
      }
    }
    while (orphans != nullptr) {
      waiter::pending* p = std::exchange(orphans, orphans->next);
      p->destroy();
    }
  }

  std::mutex mutex_;
  waiter* first_ = nullptr;
};

waiter::waiter(const asio::any_io_executor& executor)
    : service_{asio::use_service<waiter_service>(asio::query(executor, asio::execution::context))} {
  service_.add(*this);
}

waiter::~waiter() {
  service_.remove(*this);
  destroy_pending();
}

void waiter::destroy_pending() noexcept {
  while (pending* p = first_) {
    first_ = p->next;
    p->destroy();
  }
  last_ = &first_;
}

void waiter::wake(bool queued) {
  // Take the whole list first: a coroutine resumed below may wait again
  // (it joins the new list, to be woken next time), or even free this
  // waiter, so nothing here touches a member after the first complete().
  pending* p = std::exchange(first_, nullptr);
  last_ = &first_;
  while (p != nullptr) {
    pending* next = p->next;
    p->complete(queued);
    p = next;
  }
}

void waiter::cancel(pending* wait) {
  for (pending** link = &first_; *link != nullptr; link = &(*link)->next) {
    if (*link == wait) {
      *link = wait->next;
      if (last_ == &wait->next) {
        last_ = link;
      }
      wait->complete(true);  // From the loop, like a cancelled timer's handler.
      return;
    }
  }
}

}  // namespace sandbox
