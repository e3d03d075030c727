#include "sandbox/run.hpp"

#include "sandbox/console.hpp"

#include <csignal>
#include <exception>

namespace sandbox {

int run(std::function<asio::awaitable<void>()> main) {
  asio::io_context loop;

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
