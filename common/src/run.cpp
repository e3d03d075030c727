#include "sandbox/run.hpp"

#include "sandbox/console.hpp"

#include <csignal>
#include <exception>

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

int run(std::function<asio::awaitable<void>()> main) {
  // The concurrency hint 1 tells Asio, too, that one thread runs the loop.
  asio::io_context loop{1};
  mark_single_threaded(loop);

  // Asio delivers signals as ordinary completions on the loop, so the
  // handler may do anything a handler does; no async-signal-safety puzzles.
  // A real server would stop accepting and let its connections finish
  // first (a graceful shutdown); stopping the loop is the simplest thing
  // that ends the process cleanly.
  asio::signal_set signals{loop, SIGINT, SIGTERM};
  signals.async_wait([&loop](std::error_code error, int /*signal*/) {
    if (!error) {
      loop.stop();
    }
  });

  int status = 0;
  asio::co_spawn(loop, std::move(main), [&](std::exception_ptr failure) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        eprintln("error: ", error.what());
      } catch (...) {
        eprintln("error: unknown exception");
      }
      status = 1;
    }
    // main is done: stop waiting for signals so that run() can return once
    // the last connections have finished.
    signals.cancel();
  });
  loop.run();
  return status;
}

}  // namespace sandbox
