/// \file
/// Chapter 13: a mini Redis that Redis's own clients use (redis-cli,
/// redis-benchmark, redis-py). Work in progress: this is its single-threaded core.
//
//
// The parts, one concern a file:
//   resp.hpp      the request parser: RESP2 arrays and inline commands, a piece at a time
//   reply.hpp     the reply writers: RESP2 appended to one output string
//   keyspace.hpp  keys, values and expiry (lazy on access, and an active sweep)
//   pubsub.hpp    channels and subscribers, a slow subscriber dropped
//   commands.cpp  each command, in Redis 7.0's words
//   main.cpp      this file: a connection's bytes in, its replies out, and the server
//
// One thread runs everything, as Redis runs its commands on one thread: the
// keyspace needs no lock, and a command runs from start to end with nothing
// in between. A connection is a protocol (chapter 01): data_received()
// parses every whole request that arrived, runs each, appends each reply to
// one string, and writes that string once. A client that pipelines 100
// requests in one send gets its 100 replies in one send.
//
// Run it, then: redis-cli -p 6380   (or telnet localhost 6380, and type SET a 1)
#include "commands.hpp"
#include "reply.hpp"
#include "resp.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace {

/// Redis's own port is 6379; ours is the next one, so both can run side by side.
constexpr std::uint16_t mini_redis_port = 6380;

//! [connection]
// One client. The transport calls it; it calls the parser and the commands.
class connection final : public sandbox::protocol, public ch13::subscriber {
 public:
  connection(ch13::server_state& server, std::size_t subscriber_limit, bool quiet)
      : server_{server},
        client_{*this, server.next_client_id++},
        subscriber_limit_{subscriber_limit},
        quiet_{quiet} {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Normally connection_lost() has left the channels already; a connection
  // still open when a signal ends the program is destroyed with the loop,
  // without it.
  ~connection() override { ch13::forget_subscriptions(server_, client_); }

  void connection_made(sandbox::transport& transport) override {
    // Valid until connection_lost() returns (chapter 01). The library's read
    // back-pressure stays on: a client that pipelines requests but never
    // reads the replies fills our write buffer past 64 KiB, and then we stop
    // reading it, so TCP stops it sending. Its requests wait in its own
    // kernel buffers, not in our memory.
    transport_ = &transport;
  }

  void data_received(std::string_view data) override {
    if (buffer_.empty()) {
      // Nothing left over from the last read (the usual case): parse the
      // transport's bytes where they lie, and keep only an unfinished tail.
      const std::size_t used = run_requests(data);
      buffer_.assign(data.substr(used));
    } else {
      // A request began in an earlier read: continue it behind its start.
      buffer_.append(data);
      buffer_.erase(0, run_requests(buffer_));
    }
    flush();
  }

  // The client has read enough of its replies (the transport's buffer
  // drained to its low-water mark): run the requests held back.
  void resume_writing() override {
    if (!buffer_.empty() && !closing_) {
      buffer_.erase(0, run_requests(buffer_));
      flush();
    }
  }

  void connection_lost(std::error_code /*error*/) override {
    ch13::forget_subscriptions(server_, client_);
  }

  // A message for a channel we subscribe to, from another connection's
  // PUBLISH. Chapter 07 made a fast sender wait for a slow reader; a Redis
  // publisher never waits. So a subscriber that lets more than its limit
  // pile up (it does not read, or not fast enough) is dropped at once, as
  // Redis drops it (client-output-buffer-limit pubsub), and the publisher
  // goes on.
  void deliver(std::string_view frame) override {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    transport_->write(frame);
    if (transport_->get_write_buffer_size() > subscriber_limit_) {
      if (!quiet_) {
        sandbox::println("Dropped subscriber ", client_.id, ": more than ", subscriber_limit_,
                         " bytes waiting");
      }
      transport_->abort();  // Drops what waits: this reader is too far behind.
    }
  }

 private:
  // Runs the whole requests at the front of `input`; returns the bytes used.
  // It stops early once the replies pass the transport's high-water mark:
  // one read of 64 KiB holds 3,000 GETs, which could ask for gigabytes.
  // The requests left wait in buffer_; the write makes the transport call
  // pause_writing() (and stop reading), and resume_writing() runs them once
  // the client has read its replies.
  std::size_t run_requests(std::string_view input) {
    std::size_t used = 0;
    while (!closing_ && out_.size() <= sandbox::transport::default_high_water) {
      const auto [what, consumed] = parser_.parse(input.substr(used));
      used += consumed;
      switch (what) {
        case ch13::request_parser::status::need_more:
          return used;
        case ch13::request_parser::status::request:
          ch13::execute(server_, client_, parser_.arguments(), out_);
          closing_ = client_.quit;  // QUIT: the requests after it are not run.
          break;
        case ch13::request_parser::status::error:
          // Not RESP: say why, then close, as Redis does. The requests
          // before it in the same read were run and keep their replies.
          ch13::reply::error(out_, "ERR " + parser_.error());
          if (!quiet_) {
            sandbox::println("Client ", client_.id, ": ", parser_.error(), "; closing");
          }
          closing_ = true;
          break;
      }
    }
    return used;
  }

  // One write for the batch; it copies into the transport's buffer, and
  // out_ keeps its memory for the next batch.
  void flush() {
    if (!out_.empty()) {
      transport_->write(out_);
      out_.clear();
    }
    if (closing_) {
      transport_->close();  // Sends what is buffered, then closes.
    }
  }

  ch13::server_state& server_;
  ch13::client_state client_;
  const std::size_t subscriber_limit_;
  const bool quiet_;
  sandbox::transport* transport_ = nullptr;
  ch13::request_parser parser_;
  std::string buffer_;  // The start of a request whose end has not arrived.
  std::string out_;     // Replies of the batch being run.
  bool closing_ = false;
};
//! [connection]

//! [sweep]
// The active half of expiry (keyspace::sweep()), ten times a second as
// Redis's default `hz 10`. It runs on the loop's one thread between
// connections' callbacks, so it needs no lock either, and each sweep's work
// is bounded: a keyspace full of expired keys is emptied over several ticks
// rather than in one long pause that would stall every client.
asio::awaitable<void> sweep_expired_keys(ch13::keyspace& keys) {
  asio::steady_timer timer{co_await asio::this_coro::executor};
  for (;;) {
    timer.expires_after(std::chrono::milliseconds{100});
    co_await timer.async_wait(asio::use_awaitable);
    keys.sweep(ch13::now_ms());
  }
}
//! [sweep]

asio::awaitable<void> serve(sandbox::server_options options, ch13::server_state& state,
                            std::size_t subscriber_limit) {
  auto server = co_await sandbox::create_server(
      [&state, subscriber_limit, quiet = options.quiet] {
        return std::make_shared<connection>(state, subscriber_limit, quiet);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  // Detached: it runs until the loop stops (a signal), and its frame is
  // destroyed with the loop.
  asio::co_spawn(co_await asio::this_coro::executor, sweep_expired_keys(state.keys),
                 asio::detached);
  co_await server->wait_closed();
}

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 13: a mini Redis (RESP2, strings, expiry, pub/sub)"};
  const auto& options = cli.add_server_options(mini_redis_port);
  // Redis's default hard limit for a pub/sub client's output is 32 MiB.
  std::size_t subscriber_limit = 32 * 1024 * 1024;
  cli.app()
      .add_option("--max-subscriber-buffer", subscriber_limit,
                  "Bytes that may wait to be sent to a subscriber; past it, it is dropped")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 32))
      ->capture_default_str();
  cli.parse(argc, argv);

  // Outlives the loop: connections destroyed with it still unsubscribe.
  ch13::server_state state;
  return sandbox::run([&] { return serve(options, state, subscriber_limit); });
}
