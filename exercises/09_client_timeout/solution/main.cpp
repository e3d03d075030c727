// Exercise 09, solution: a client with a timeout, in plain Asio.
// The exercise is in ../README.md; compare with your ../main.cpp.
//
//   main ── co_spawn ──▶ ask(): resolve, then
//                          connect  ││ timer  (first to finish wins, the other is cancelled)
//                          write
//                          read line ││ timer
#include "sandbox/options.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

// Errors as values: `||` ends at the first operation to *succeed*. A refused
// connect that threw would not end the race, and the timer would win it,
// reporting a refusal as a timeout. With as_tuple every completion is a
// success whose tuple holds the error.
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// "0.5 s", as the user typed the option.
std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

// Sends `message` and one line back, each step bounded by `timeout`. Returns
// the exit status; what went wrong is one line on stderr.
asio::awaitable<int> ask(sandbox::client_options options, std::string message,
                         double timeout_seconds) {
  const auto executor = co_await asio::this_coro::executor;
  const auto timeout = sandbox::seconds(timeout_seconds);
  tcp::resolver resolver{executor};
  const auto [resolve_error, endpoints] = co_await resolver.async_resolve(
      options.host, std::to_string(options.port), as_tuple_awaitable);
  if (resolve_error) {
    std::cerr << "error: cannot resolve " << options.host << ": " << resolve_error.message()
              << std::endl;
    co_return 1;
  }

  tcp::socket socket{executor};
  // One timer, re-armed for each step. async_wait completes with
  // operation_aborted when `||` cancels it; use_awaitable would throw that
  // inside the race, where it is ignored.
  asio::steady_timer timer{executor};
  timer.expires_after(timeout);
  auto connected = co_await (asio::async_connect(socket, endpoints, as_tuple_awaitable) ||
                             timer.async_wait(as_tuple_awaitable));
  if (connected.index() == 1) {
    std::cerr << "error: no connection within " << seconds_text(timeout_seconds) << std::endl;
    co_return 1;
  }
  if (const auto error = std::get<0>(std::get<0>(connected))) {
    std::cerr << "error: cannot connect: " << error.message() << std::endl;
    co_return 1;
  }

  // A short write into an empty socket buffer completes at once; a real
  // client would bound it too.
  const std::string request = message + "\n";
  const auto [write_error, written] =
      co_await asio::async_write(socket, asio::buffer(request), as_tuple_awaitable);
  if (write_error) {
    std::cerr << "error: cannot send: " << write_error.message() << std::endl;
    co_return 1;
  }

  std::string reply;
  timer.expires_after(timeout);
  auto replied = co_await (
      asio::async_read_until(socket, asio::dynamic_buffer(reply), '\n', as_tuple_awaitable) ||
      timer.async_wait(as_tuple_awaitable));
  if (replied.index() == 1) {
    // The read was cancelled when the timer won: nothing reads `reply` any
    // more, and the socket closes as this frame ends.
    std::cerr << "error: no reply within " << seconds_text(timeout_seconds) << std::endl;
    co_return 1;
  }
  const auto [read_error, line_size] = std::get<0>(replied);
  if (read_error) {
    std::cerr << "error: no reply: " << read_error.message() << std::endl;
    co_return 1;
  }
  std::cout << "Reply: " << reply.substr(0, line_size - 1) << std::endl;
  co_return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 09: a client with a timeout, in plain Asio"};
  const auto& options = cli.add_client_options();
  std::string message = "ping";
  double timeout = 5;
  cli.app().add_option("--message", message, "the line to send")->capture_default_str();
  cli.app()
      .add_option("--timeout", timeout, "seconds the connect and the reply may take each")
      ->check(sandbox::seconds_between(0.001, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);

  asio::io_context loop{1};
  int status = 1;
  asio::co_spawn(loop, ask(options, message, timeout),
                 [&status](std::exception_ptr failure, int result) {
                   if (failure) {
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& error) {
                       std::cerr << "error: " << error.what() << std::endl;
                     }
                     return;
                   }
                   status = result;
                 });
  loop.run();
  return status;
}
