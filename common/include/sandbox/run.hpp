/// \file
/// \brief `asyncio.run()`: an event loop for one main coroutine, stopped by Ctrl-C.
#pragma once

#include "sandbox/asio.hpp"

#include <functional>

namespace sandbox {

/// The counterpart of `asyncio.run(main())`: makes an event loop (an
/// `asio::io_context`), runs the coroutine `main` on it, and returns once
/// nothing is left to do.
///
/// - `SIGINT` (Ctrl-C) or `SIGTERM` stops the loop at once. Coroutines still
///   suspended are destroyed with the io_context, closing their sockets, and
///   run() returns 0: for these chapters that is a normal way to end.
/// - An exception escaping `main` is printed as one line, `error: <what>`, on
///   stderr, and run() returns 1.
///
/// The loop runs on the calling thread only, as asyncio's does, and says so
/// with mark_single_threaded(): servers on it then need no strands.
/// \return the process exit status.
int run(std::function<asio::awaitable<void>()> main);

/// Records that only one thread ever runs `context`. A server on such a
/// loop gives its connections the plain io_context executor instead of a
/// strand each: with one thread, handlers can never overlap, so the strand's
/// bookkeeping (a lock and a queue per handler) would buy nothing. Chapter
/// 04 measured that bookkeeping at about 0.9 us of CPU per echo.
void mark_single_threaded(asio::io_context& context);

/// True if `executor` belongs to an io_context passed to
/// mark_single_threaded(). False for every other executor, which is the safe
/// answer: a server then gives each connection its own strand.
[[nodiscard]] bool is_single_threaded(const asio::any_io_executor& executor);

}  // namespace sandbox
