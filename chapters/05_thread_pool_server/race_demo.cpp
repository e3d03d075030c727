/// \file
/// Chapter 05's deliberate data races, for ThreadSanitizer to catch. Its
/// page is chapters/05_thread_pool_server/README.md.
//
//
// NOT A MODEL: this program makes, on purpose, the two classic mistakes of
// a multi-threaded server, one per --mistake value:
//
//   counter    every connection adds to one plain integer: two connections
//              on two threads update it at the same moment (a strand cannot
//              help: it orders one connection's handlers, not different
//              connections');
//   no-strand  connections get the pool's executor instead of a strand:
//              the transport's read handler fills a connection's stream
//              buffer on one thread while the client coroutine empties it
//              on another;
//   none       the control: atomics and strands, as in main.cpp.
//
// It is its own load: an echo server on 127.0.0.1 and, on the same pool,
// clients that each send messages and read the echoes, then leave. Build it
// with the tsan preset and run it: see "Catch a race" in the page.
#include "sandbox/console.hpp"
#include "sandbox/event.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace {

enum class mistake { none, counter, no_strand };

struct demo_options {
  mistake error = mistake::counter;
  std::size_t threads = 2;
  std::size_t clients = 8;
  std::size_t messages = 500;
  std::size_t size = 100;
};

//! [unsafe]
struct byte_counters {
  std::uint64_t plain = 0;              // The mistake: shared, not atomic.
  std::atomic<std::uint64_t> atomic{0};  // The fix.
};

asio::awaitable<void> echo(sandbox::stream_reader reader, sandbox::stream_writer writer,
                           mistake error, byte_counters& counters) {
  for (;;) {
    const std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;
    }
    if (error == mistake::counter) {
      counters.plain += data.size();  // Read, add, write back: another thread may do the same.
    } else {
      counters.atomic.fetch_add(data.size(), std::memory_order_relaxed);
    }
    writer.write(data);
    co_await writer.drain();
  }
}
//! [unsafe]

// One client: `messages` round trips of `size` bytes, checked.
asio::awaitable<void> client(std::uint16_t port, demo_options options) {
  auto [reader, writer] = co_await sandbox::open_connection("127.0.0.1", port);
  const std::string message(options.size, 'x');
  for (std::size_t i = 0; i < options.messages; ++i) {
    writer.write(message);
    co_await writer.drain();
    if (co_await reader.readexactly(options.size) != message) {
      throw std::runtime_error{"the echo differs from the message"};
    }
  }
  writer.close();
  co_await writer.wait_closed();
}

asio::awaitable<void> demo(demo_options options, byte_counters& counters) {
  const auto executor = co_await asio::this_coro::executor;
  sandbox::server::executor_picker pick;
  if (options.error == mistake::no_strand) {
    pick = [executor] { return executor; };  // The mistake: no strand per connection.
  }
  auto server = co_await sandbox::start_server(
      [&counters, error = options.error](sandbox::stream_reader reader,
                                         sandbox::stream_writer writer) {
        return echo(std::move(reader), std::move(writer), error, counters);
      },
      "127.0.0.1", 0, sandbox::default_stream_limit, pick);

  // All clients at once, each on a strand of its own (the client side is
  // correct in every mode), then wait for the last one.
  auto finished = std::make_shared<sandbox::event>(executor);
  auto left = std::make_shared<std::atomic<std::size_t>>(options.clients);
  auto failed = std::make_shared<std::atomic<bool>>(false);
  for (std::size_t i = 0; i < options.clients; ++i) {
    asio::co_spawn(asio::make_strand(executor), client(server->port(), options),
                   [finished, left, failed](const std::exception_ptr& failure) {
                     if (failure) {
                       failed->store(true);
                     }
                     if (left->fetch_sub(1) == 1) {
                       finished->set();
                     }
                   });
  }
  // Without strands the program may also just get stuck (a wake-up lost in
  // the race): give up after a while rather than hang.
  asio::steady_timer watchdog{executor, std::chrono::seconds{30}};
  watchdog.async_wait([](std::error_code error) {
    if (!error) {
      sandbox::eprintln("stuck: the clients have not finished after 30 s");
      std::_Exit(1);
    }
  });
  co_await finished->wait();
  watchdog.cancel();
  server->close();
  co_await server->wait_closed();
  if (failed->load()) {
    throw std::runtime_error{"a client failed"};
  }
  const std::uint64_t sent =
      std::uint64_t{options.clients} * options.messages * options.size;
  const std::uint64_t counted =
      options.error == mistake::counter ? counters.plain : counters.atomic.load();
  sandbox::println(options.clients, " clients sent ", sent, " bytes; the server counted ",
                   counted, counted == sent ? "" : " (updates were lost)");
}

}  // namespace

/// Parses the command line, then runs the demonstration once.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 05: two deliberate data races for ThreadSanitizer"};
  demo_options options;
  const std::map<std::string, mistake> mistakes{
      {"none", mistake::none}, {"counter", mistake::counter}, {"no-strand", mistake::no_strand}};
  std::string chosen = "counter";
  cli.app()
      .add_option("--mistake", chosen, "Which mistake to make: counter, no-strand or none")
      ->check(CLI::IsMember(mistakes))
      ->capture_default_str();
  cli.app().add_option("--threads", options.threads, "Threads in the pool")
      ->check(CLI::Range(2, 64))->capture_default_str();
  cli.app().add_option("--clients", options.clients, "Clients at once")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  cli.app().add_option("--messages", options.messages, "Round trips per client")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  cli.parse(argc, argv);
  options.error = mistakes.at(chosen);

  byte_counters counters;
  return sandbox::run_on_threads(options.threads, [&] { return demo(options, counters); });
}
