/// \file
/// Chapter 07: the chat server. Its page is chapters/07_chat_server/README.md.
//
//
// Every line a client sends goes to every other client. The connections now
// share state, the room (chat_room.cpp), and they run on a pool of threads
// as in chapter 05:
//
//   guest1's strand ──say──► room (mutex) ──post──► guest2's strand ──► queue ──► socket
//                                         └─post──► guest3's strand ──► queue ──► socket
//
// Two rules keep it correct. Shared state (the member list) is touched
// under a mutex, briefly. A connection's own state (its writer) is touched
// only on its own strand: others post to it. And what waits in the server
// for one member is bounded: past --max-queue bytes, whoever sends to it
// waits (back-pressure: TCP then holds the sender's next lines, in the
// sender's own kernel buffers); a member that does not catch up within
// --slow-timeout seconds is disconnected, and the senders go on.
//
// Run it, then from two or more terminals: nc localhost 2222
#include "chat_room.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <chrono>
#include <string>

namespace {

//! [session]
// One client, from joining to leaving. Its coroutine runs on the
// connection's strand, like the member's deliveries.
asio::awaitable<void> chat_session(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                   ch07::chat_room& room, ch07::queue_limits limits) {
  const auto strand = co_await asio::this_coro::executor;
  const auto number = room.counters().total.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto self = std::make_shared<ch07::member>("guest" + std::to_string(number), writer,
                                                        strand, limits, room);
  room.join(self);
  try {
    for (;;) {
      std::string line = co_await reader.readline();
      if (line.empty()) {
        break;  // End of file: the client has gone.
      }
      // "hello\n" from nc, "hello\r\n" from telnet, "hello" at end of file.
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.pop_back();
      }
      co_await room.say(*self, line);  // Returns once nobody is past the bound.
    }
  } catch (const sandbox::limit_overrun_error&) {
    // Longer than the reader's limit (64 KiB): not a chat line. A real
    // server would make the limit an option (chapter 09 does).
    writer.write("* your line is too long; goodbye\n");
  } catch (const std::system_error&) {
    // Reset by the client: a normal way for a chat connection to end, not
    // worth an error line. (A member dropped for being slow reads end of
    // file here: the room closed its connection.)
  }
  room.leave(*self, "left");
}
//! [session]

asio::awaitable<void> serve(sandbox::server_options options, std::size_t threads,
                            ch07::chat_room& room, ch07::queue_limits limits) {
  auto server = co_await sandbox::start_server(
      [&room, limits](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return chat_session(std::move(reader), std::move(writer), room, limits);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  sandbox::println("Running on ", threads, " thread", threads == 1 ? "" : "s");
  co_await server->wait_closed();
}

}  // namespace

/// Parses the command line, runs the room on a pool of threads until a
/// signal stops it, then prints the counters.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 07: a chat server on a pool of threads"};
  const auto& options = cli.add_server_options();
  const auto& threads = cli.add_threads_option();
  ch07::queue_limits limits;
  cli.app()
      .add_option("--max-queue", limits.max_queue,
                  "Bytes that may wait to be sent to one client; past it, senders wait for it")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  // 10 s: long enough for a client that is briefly busy (a terminal paused
  // for a moment, a lost packet's retransmissions: 1 s, then 2, then 4) to
  // read on, and as NATS's default write deadline. Short enough that the
  // room, which waits meanwhile, is not stalled for long by a dead client.
  double slow_timeout = 10;
  cli.app()
      .add_option("--slow-timeout", slow_timeout,
                  "Seconds a client past --max-queue gets to catch up, while its senders wait, "
                  "before it is disconnected")
      ->check(sandbox::seconds_between(0.001, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);
  limits.slow_timeout = sandbox::seconds(slow_timeout);

  ch07::chat_counters counters;
  ch07::chat_room room{counters, options.quiet};
  return sandbox::run_on_threads(
      threads, [&] { return serve(options, threads, room, limits); },
      [&](int status) {
        if (status == 0) {
          sandbox::println("Chatters: ", counters.total.load(), " total, ",
                           counters.connected.load(), " connected, ", counters.dropped.load(),
                           " dropped; lines: ", counters.received.load(), " received, ",
                           counters.delivered.load(), " delivered");
        }
        // The members hold their connections, whose sockets belong to the
        // loop: they must go before the loop does, which is next.
        room.clear();
      });
}
