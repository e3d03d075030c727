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
// Two rules keep it correct and fair. Shared state (the member list) is
// touched under a mutex, briefly. A connection's own state (its writer) is
// touched only on its own strand: others post to it. And a member that stops
// reading cannot stall the room nor grow the server's memory: its outgoing
// queue is bounded, and past the bound it is disconnected.
//
// Run it, then from two or more terminals: nc localhost 2222
#include "chat_room.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <string>

namespace {

//! [session]
// One client, from joining to leaving. Its coroutine runs on the
// connection's strand, like the member's deliveries.
asio::awaitable<void> chat_session(sandbox::stream_reader reader, sandbox::stream_writer writer,
                                   chapter07::chat_room& room, std::size_t max_queue) {
  const auto strand = co_await asio::this_coro::executor;
  const auto number = room.counters().total.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto self = std::make_shared<chapter07::member>("guest" + std::to_string(number), writer,
                                                        strand, max_queue, room);
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
      room.say(*self, line);
    }
  } catch (const sandbox::limit_overrun_error&) {
    // Longer than the reader's limit (64 KiB): not a chat line. A real
    // server would make the limit an option (chapter 09 does).
    writer.write("* your line is too long; goodbye\n");
  } catch (const std::system_error&) {
    // Reset by the client, or disconnected by the room for being slow: a
    // normal way for a chat connection to end, not worth an error line.
  }
  room.leave(*self, "left");
}
//! [session]

asio::awaitable<void> serve(sandbox::server_options options, std::size_t threads,
                            chapter07::chat_room& room, std::size_t max_queue) {
  auto server = co_await sandbox::start_server(
      [&room, max_queue](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return chat_session(std::move(reader), std::move(writer), room, max_queue);
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
  std::size_t max_queue = 64 * 1024;
  cli.app()
      .add_option("--max-queue", max_queue,
                  "Bytes that may wait to be sent to one client; a client further behind is "
                  "disconnected")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  cli.parse(argc, argv);

  chapter07::chat_counters counters;
  chapter07::chat_room room{counters, options.quiet};
  return sandbox::run_on_threads(
      threads, [&] { return serve(options, threads, room, max_queue); },
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
