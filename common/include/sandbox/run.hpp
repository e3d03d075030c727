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
/// The loop runs on the calling thread only, as asyncio's does.
/// \return the process exit status.
int run(std::function<asio::awaitable<void>()> main);

}  // namespace sandbox
