/// \file
/// \brief What every bug hunt's server does around its bug: listen, accept
/// each connection, stop on a signal. No hunt's bug is in here.
//
// The hunts are plain Asio on purpose (the bugs live in the classic Asio
// shapes), so they do not use common/'s server; this is the little they
// share instead, written once so that each hunt's file is its session and
// its bug.
#pragma once

#include "sandbox/options.hpp"

#include <asio.hpp>

#include <csignal>
#include <cstddef>
#include <functional>
#include <iostream>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hunts {

using asio::ip::tcp;

/// Accepts connections for as long as `acceptor` is open, handing each
/// socket to `on_socket`: the classic Asio accept loop, in which each
/// accept's handler starts the next. `on_socket` travels from one handler
/// to the next, so state it keeps (a counter of connections) carries on.
template <class OnSocket>
void accept_each(tcp::acceptor& acceptor, OnSocket on_socket) {
  acceptor.async_accept(
      [&acceptor, on_socket = std::move(on_socket)](std::error_code error,
                                                    tcp::socket socket) mutable {
        if (error) {
          return;  // Closed: the server is stopping.
        }
        on_socket(std::move(socket));
        accept_each(acceptor, std::move(on_socket));
      });
}

/// Listens on the first address `options.host` resolves to (enough for a
/// bug hunt: chapter 01's plain-Asio twin listens on every one), calls
/// `start(acceptor)` to begin accepting, prints `Serving on HOST:PORT`, and
/// runs `loop` on `threads` threads (this one included) until SIGINT or
/// SIGTERM stops it. Returns the exit status: 0, or 1 after one line
/// `error: ...` when it cannot listen.
inline int serve(asio::io_context& loop, const sandbox::server_options& options,
                 const std::function<void(tcp::acceptor&)>& start, std::size_t threads = 1) {
  try {
    tcp::resolver resolver{loop};
    const tcp::endpoint endpoint =
        *resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive)
             .begin();
    tcp::acceptor acceptor{loop, endpoint};
    asio::signal_set signals{loop, SIGINT, SIGTERM};
    signals.async_wait([&](std::error_code, int) { loop.stop(); });
    start(acceptor);
    std::cout << "Serving on " << endpoint.address().to_string() << ":"
              << acceptor.local_endpoint().port() << std::endl;
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads; ++i) {
      pool.emplace_back([&loop] { loop.run(); });
    }
    loop.run();
    for (auto& thread : pool) {
      thread.join();
    }
  } catch (const std::system_error& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace hunts
