/// \file
/// \brief How sandbox/run.hpp runs the event loop, on one thread or many.
#include "sandbox/run.hpp"

#include "sandbox/console.hpp"

#include <csignal>
#include <exception>
#include <thread>
#include <utility>

namespace sandbox {
namespace {

// The mark is an Asio service: any object an execution_context owns, found
// again by its type. Having it means "one thread runs this context".
class single_threaded_mark : public asio::execution_context::service {
 public:
  using key_type = single_threaded_mark;
  static inline asio::execution_context::id id;  // NOLINT: Asio's service protocol.
  explicit single_threaded_mark(asio::execution_context& owner)
      : asio::execution_context::service{owner} {}

 private:
  void shutdown() override {}
};

}  // namespace

void mark_single_threaded(asio::io_context& context) {
  if (!asio::has_service<single_threaded_mark>(context)) {
    asio::make_service<single_threaded_mark>(context);
  }
}

bool is_single_threaded(const asio::any_io_executor& executor) {
  auto& context = asio::query(executor, asio::execution::context);
  return asio::has_service<single_threaded_mark>(context);
}

namespace {

thread_local int thread_number = 0;

// What every runner shares: `main` spawned on `home`, SIGINT and SIGTERM
// calling `stop`, and the exit status. Lives on the runner's stack until all
// its threads are joined.
class main_task {
 public:
  // With no `stop`, the signals are left alone, for main to catch.
  main_task(asio::io_context& home, std::function<void()> stop) : signals_{home} {
    if (!stop) {
      return;
    }
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    // Asio delivers signals as ordinary completions on the loop, so the
    // handler may do anything a handler does; no async-signal-safety
    // puzzles. A real server would stop accepting and let its connections
    // finish first (a graceful shutdown: chapter 09); stopping the loop is
    // the simplest thing that ends the process cleanly.
    signals_.async_wait([stop = std::move(stop)](std::error_code error, int /*signal*/) {
      if (!error) {
        stop();
      }
    });
  }

  // `done` runs on the loop once main has returned or thrown.
  void spawn(asio::io_context& home, std::function<asio::awaitable<void>()> main,
             std::function<void()> done = [] {}) {
    asio::co_spawn(home, std::move(main), [this, done = std::move(done)](std::exception_ptr failure) {
      if (failure) {
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& error) {
          eprintln("error: ", error.what());
        } catch (...) {
          eprintln("error: unknown exception");
        }
        status_ = 1;
      }
      // main is done: stop waiting for signals so that the loop can end
      // once the last connections have finished.
      signals_.cancel();
      done();
    });
  }

  // Read only after every loop thread has been joined.
  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  asio::signal_set signals_;
  int status_ = 0;
};

// Runs `body(i)` on threads 2..N and `body(0)` on this one, then joins.
void on_threads(std::size_t threads, const std::function<void(std::size_t)>& body) {
  std::vector<std::jthread> others;
  others.reserve(threads - 1);
  for (std::size_t i = 1; i < threads; ++i) {
    others.emplace_back([&body, i] {
      thread_number = static_cast<int>(i + 1);
      body(i);
    });
  }
  thread_number = 1;
  body(0);
  others.clear();  // jthread joins.
  thread_number = 0;
}

}  // namespace

int this_thread_number() noexcept { return thread_number; }

namespace {

int run_on_this_thread(std::function<asio::awaitable<void>()> main, bool catch_signals,
                       const std::function<void(int status)>& after_run = {}) {
  // The concurrency hint 1 tells Asio, too, that one thread runs the loop.
  asio::io_context loop{1};
  mark_single_threaded(loop);
  std::function<void()> stop;
  if (catch_signals) {
    stop = [&loop] { loop.stop(); };
  }
  main_task task{loop, std::move(stop)};
  task.spawn(loop, std::move(main));
  on_threads(1, [&loop](std::size_t) { loop.run(); });
  if (after_run) {
    after_run(task.status());
  }
  return task.status();
}

}  // namespace

int run(std::function<asio::awaitable<void>()> main,
        const std::function<void(int status)>& after_run) {
  return run_on_this_thread(std::move(main), true, after_run);
}

int run_and_leave_signals_to_main(std::function<asio::awaitable<void>()> main) {
  return run_on_this_thread(std::move(main), false);
}

int run_on_threads(std::size_t threads, std::function<asio::awaitable<void>()> main,
                   const std::function<void(int status)>& after_run) {
  // The hint tells Asio how many threads will call run(). Its queue is
  // locked either way; with several threads the lock is contended, and a
  // thread that queues work may have to wake another one to run it.
  asio::io_context loop{static_cast<int>(threads)};
  main_task task{loop, [&loop] { loop.stop(); }};
  task.spawn(loop, std::move(main));
  // Each thread takes the next ready handler from the one shared queue:
  // the load balances itself.
  on_threads(threads, [&loop](std::size_t) { loop.run(); });
  if (after_run) {
    after_run(task.status());
  }
  return task.status();
}

context_pool::context_pool(std::size_t size) {
  contexts_.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    mark_single_threaded(*contexts_.back());
  }
}

context_pool::~context_pool() {
  // Destroying a loop destroys the handlers still queued on it, and with
  // them the connections they kept alive. Connections on the later loops
  // point at their server, whose acceptors belong to the first loop: so the
  // later loops go first, while the first one still exists.
  while (!contexts_.empty()) {
    contexts_.pop_back();
  }
}

asio::any_io_executor context_pool::next_executor() {
  const std::size_t index = next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
  return contexts_[index]->get_executor();
}

asio::any_io_executor context_pool::executor(std::size_t index) const {
  return contexts_.at(index)->get_executor();
}

std::function<asio::any_io_executor()> context_pool::picker() {
  return [this] { return next_executor(); };
}

int context_pool::run(std::function<asio::awaitable<void>()> main,
                      const std::function<void(int status)>& after_run) {
  return run(std::move(main), true, after_run);
}

int context_pool::run_and_leave_signals_to_main(std::function<asio::awaitable<void>()> main) {
  return run(std::move(main), false, {});
}

int context_pool::run(std::function<asio::awaitable<void>()> main, bool catch_signals,
                      const std::function<void(int status)>& after_run) {
  // A loop with nothing to do returns from run() at once, and the other
  // loops have nothing until connections reach them: work guards keep them
  // running while main does. Once main returns, they end with their work.
  using guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<guard> guards;
  for (auto& context : contexts_) {
    guards.push_back(asio::make_work_guard(*context));
  }
  auto& home = *contexts_.front();
  std::function<void()> stop;
  if (catch_signals) {
    stop = [this] {
      for (auto& context : contexts_) {
        context->stop();
      }
    };
  }
  main_task task{home, std::move(stop)};
  // reset() only lowers a loop's count of outstanding work, which is safe
  // from any thread.
  task.spawn(home, std::move(main), [&guards] {
    for (auto& work : guards) {
      work.reset();
    }
  });
  on_threads(contexts_.size(), [this](std::size_t i) { contexts_[i]->run(); });
  if (after_run) {
    after_run(task.status());
  }
  return task.status();
}

}  // namespace sandbox
