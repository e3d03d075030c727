/// \file
/// Bug hunt 03, fixed: the shared tally lives on a strand, and no lock is
/// held across a co_await. Its page is bughunts/03_mutex_across_await/README.md.
//
//
// A word-count server: each line a client sends is a word, and the answer
// says how often any client has sent it ("apple 3"). One io_context runs on
// --threads threads; each connection is a coroutine; the counts are shared
// by every connection. buggy.cpp is the same program with a std::mutex
// around the counts, held while the answer is written.
//
// Run it, then in another terminal: telnet localhost 2222
#include "hunt_server.hpp"
#include "sandbox/options.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <system_error>

namespace {

using asio::ip::tcp;
using asio::experimental::as_tuple;

//! [tally]
// The counts of every word, shared by all connections. They are touched
// only by coroutines that run on the strand: it runs one at a time, on
// whichever thread is free, and no thread ever waits for it.
struct tally {
  explicit tally(asio::io_context& loop) : strand{asio::make_strand(loop)} {}

  asio::strand<asio::io_context::executor_type> strand;
  std::map<std::string, std::size_t> counts;
};

// One more for `word`, and the new count. It runs on the strand: serve()
// hops onto it for this one step, and back to its own executor after.
// (`shared` by reference is safe: serve() awaits the result, so the tally
// outlives this coroutine; chapter 11's CP.53 is about those that outlive
// their caller.)
asio::awaitable<std::size_t> count(tally& shared, std::string word) {
  co_return ++shared.counts[word];
}

asio::awaitable<void> serve(tcp::socket socket, tally& shared) {
  std::string input;
  for (;;) {
    const auto [error, size] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(input), '\n', as_tuple(asio::use_awaitable));
    if (error) {
      co_return;  // The client has gone.
    }
    std::string word = input.substr(0, size - 1);
    input.erase(0, size);
    const std::size_t seen =
        co_await asio::co_spawn(shared.strand, count(shared, word), asio::use_awaitable);
    const std::string answer = word + " " + std::to_string(seen) + "\n";
    co_await asio::async_write(socket, asio::buffer(answer), as_tuple(asio::use_awaitable));
  }
}
//! [tally]

asio::awaitable<void> accept(tcp::acceptor& acceptor, tally& shared) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(as_tuple(asio::use_awaitable));
    if (error) {
      co_return;  // Closed: the server is stopping.
    }
    // Each connection on the pool's executor: its steps may run on any
    // thread, one after another (a coroutine is never resumed twice at once).
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), shared), asio::detached);
  }
}

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Bug hunt 03, fixed: a word-count server on a pool of threads"};
  const auto& options = cli.add_server_options();
  const std::size_t& threads = cli.add_threads_option();
  cli.parse(argc, argv);

  asio::io_context loop;
  tally shared{loop};
  return hunts::serve(
      loop, options,
      [&](tcp::acceptor& acceptor) {
        asio::co_spawn(loop, accept(acceptor, shared), asio::detached);
      },
      threads);
}
