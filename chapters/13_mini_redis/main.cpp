/// \file
/// Chapter 13: a mini Redis that Redis's own clients use (redis-cli,
/// redis-benchmark, redis-py).
//
//
// The parts, one concern a file:
//   resp.hpp      the request parser: RESP2 arrays and inline commands, a piece at a time
//   reply.hpp     the reply writers: RESP2 appended to one output string
//   keyspace.hpp  keys, values and expiry (lazy on access, and an active sweep)
//   shards.hpp    the keyspace cut into shards, for several threads, in two designs
//   router.hpp    the owned design: requests forwarded to the loop that owns their keys
//   pubsub.hpp    channels and subscribers, a slow subscriber dropped
//   commands.cpp  each command, in Redis 7.0's words
//   main.cpp      this file: a connection's bytes in, its replies out, and the server
//
// By default one thread runs everything, as Redis runs its commands on one
// thread: the keyspace needs no lock, and a command runs from start to end
// with nothing in between. A connection is a protocol (chapter 01):
// data_received() parses every whole request that arrived, runs each,
// appends each reply to one string, and writes that string once. A client
// that pipelines 100 requests in one send gets its 100 replies in one send.
//
// `--threads N` runs N event loops, one thread each, and spreads the
// connections over them as chapter 06 does. The keys are then shared in
// one of two designs (`--keyspace`, shards.hpp):
//
//   locked  (the default) 16 or more shards, each a keyspace behind its own mutex. A
//           command locks the shard of its key (MSET and the like lock
//           theirs in a fixed order) and runs on the connection's thread.
//   owned   shard i belongs to loop i and is touched by no other thread:
//           no lock. A request for another loop's key is posted there, run
//           there, and its reply posted back; the batch's replies still
//           leave in order, in one write (router.hpp).
//
// Measured (release build; redis-benchmark -c 50 -n 200000 -q, SET and GET
// separately, interleaved rounds). --threads 1: server on core 0 and the
// benchmark on core 1 (taskset); --threads 2: server and benchmark both on
// cores 0-1. This 2-core machine was shared with other jobs: the medians of
// 6 rounds (load average 4 to 6) first, then the quietest round (load 3).
//
//                        -P 1 SET / GET per s   -P 16 SET / GET per s   CPU us/request P1, P16
//   6 rounds, medians
//   --threads 1               26k /  25k              359k / 343k            9.4 / 9.9, 0.70
//   --threads 2 locked        45k /  41k              725k / 715k            9.5 / 10.1, 0.65
//   --threads 2 owned         42k /  46k              699k / 638k           10.3 / 10.2, 0.70
//   quietest round
//   --threads 1               86k /  59k             1.14M / 1.14M           8.1 / 9.7, 0.75 / 0.70
//   --threads 2 locked        74k /  77k             1.30M / 1.12M          10.2 / 9.4, 0.60
//   --threads 2 owned         79k /  73k             1.09M / 0.90M          11.3 / 12.6, 0.85 / 0.90
//
// On a busy machine two loops double the throughput (two threads win a
// larger share of the cores); on a quiet one they barely help, since the
// benchmark needs a core too: on 2 cores the second loop has nothing to
// run on. Between the designs: the locked one leads with 16 requests in
// flight and costs less CPU per request. Half of the owned design's
// requests cross to the other loop and back (two posts, a wake-up of the
// other thread, the request written out and parsed again), which costs
// more than a lock nobody else holds (tens of nanoseconds). So `locked` is the
// default. The owned design wins where locks are contended (many cores on
// few keys) and where a shard should stay in one core's cache; two cores
// show neither. With the default --threads 1 both reduce to the single
// loop: one shard, no lock, no post, measured equal to the code before
// threads (quietest round: 89.6k / 90.3k at -P 1, 1.42M / 1.23M at -P 16,
// 7.8 us and 0.6 us of CPU a request; before: 89.8k / 90.8k, 1.38M / 1.40M,
// 7.7 us and 0.6 us).
//
// Run it, then: redis-cli -p 6380   (or telnet localhost 6380, and type SET a 1)
#include "commands.hpp"
#include "reply.hpp"
#include "resp.hpp"
#include "router.hpp"
#include "shards.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

/// Redis's own port is 6379; ours is the next one, so both can run side by side.
constexpr std::uint16_t mini_redis_port = 6380;

// One client. The transport calls it; it calls the parser and the commands.
class connection final : public sandbox::protocol,
                         public ch13::subscriber,
                         public std::enable_shared_from_this<connection> {
 public:
  connection(ch13::server_state& server, const std::vector<asio::any_io_executor>& loops,
             std::size_t subscriber_limit, bool quiet)
      : server_{server},
        loops_{loops},
        // Atomic: connections on every loop take numbers at once.
        client_{*this, server.next_client_id.fetch_add(1, std::memory_order_relaxed)},
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
    // The picker chose our loop; this is its thread for good (chapter 06).
    // context_pool's thread i + 1 runs loop i.
    home_ = static_cast<std::size_t>(sandbox::this_thread_number() - 1);
    if (server_.design == ch13::keyspace_design::owned && loops_.size() > 1) {
      router_ = std::make_unique<ch13::request_router>(server_, loops_, home_);
    }
  }

  //! [receive]
  void data_received(std::string_view data) override {
    if (waiting()) {
      // Run once the batch in flight has its replies.
      buffer_.append(data);
      hold_reading_while_full();
      return;
    }
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
    paused_ = false;
    if (!buffer_.empty() && !closing_ && !waiting()) {
      buffer_.erase(0, run_requests(buffer_));
      flush();
      hold_reading_while_full();
    }
  }
  //! [receive]

  void pause_writing() override { paused_ = true; }

  void connection_lost(std::error_code /*error*/) override {
    ch13::forget_subscriptions(server_, client_);
    transport_ = nullptr;  // A batch still in flight (owned design) finds it gone.
    held_.reset();
  }

  [[nodiscard]] bool on_own_thread() const override {
    return static_cast<std::size_t>(sandbox::this_thread_number() - 1) == home_;
  }

  // A PUBLISH on another loop, which holds the channels' lock. The message
  // joins our inbox, and the first one into an empty inbox posts a drain to
  // our own loop: one post however many messages arrive before it runs.
  // A weak pointer, so that the post does not keep a closed connection
  // alive; by the time it runs we may be gone.
  void deliver_later(std::shared_ptr<const std::string> frame) override {
    bool first = false;
    {
      const std::scoped_lock hold{inbox_lock_};
      first = inbox_.empty();
      inbox_.push_back(std::move(frame));
    }
    if (first) {
      asio::post(loops_[home_], [self = weak_from_this()] {
        if (const auto alive = self.lock()) {
          alive->drain_inbox();
        }
      });
    }
  }

  // A message for a channel we subscribe to, from another connection's
  // PUBLISH on our loop. Chapter 07 made a fast sender wait for a slow
  // reader; a Redis publisher never waits. So a subscriber that lets more
  // than its limit pile up (it does not read, or not fast enough) is
  // dropped at once, as Redis drops it (client-output-buffer-limit pubsub),
  // and the publisher goes on.
  void deliver(std::string_view frame) override {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    transport_->write(frame);
    if (transport_->get_write_buffer_size() > subscriber_limit_) {
      drop_slow_subscriber();
    }
  }

 private:
  // Messages from other loops' PUBLISH, on our loop. The drop rule differs
  // from deliver()'s in one way: it looks at what was still unsent before
  // this drain. While our thread was busy (or not scheduled) the publisher
  // may have sent many messages, all of which arrive here at once, before
  // the transport had a turn to send anything: counting them would drop a
  // subscriber that reads perfectly well. What is still unsent from earlier
  // turns is what this subscriber failed to read.
  void drain_inbox() {
    {
      const std::scoped_lock hold{inbox_lock_};
      draining_.swap(inbox_);
    }
    if (transport_ != nullptr && !transport_->is_closing()) {
      if (transport_->get_write_buffer_size() > subscriber_limit_) {
        drop_slow_subscriber();
      } else {
        for (const auto& frame : draining_) {
          transport_->write(*frame);
        }
      }
    }
    draining_.clear();
  }

  void drop_slow_subscriber() {
    if (!quiet_) {
      sandbox::println("Dropped subscriber ", client_.id, ": more than ", subscriber_limit_,
                       " bytes waiting");
    }
    transport_->abort();  // Drops what waits: this reader is too far behind.
  }

  //! [batch]
  // Runs the whole requests at the front of `input`; returns the bytes used.
  // It stops early once the replies pass the transport's high-water mark:
  // one read of 64 KiB holds 3,000 GETs, which could ask for gigabytes.
  // The requests left wait in buffer_; the write makes the transport call
  // pause_writing() (and stop reading), and resume_writing() runs them once
  // the client has read its replies.
  std::size_t run_requests(std::string_view input) {
    std::size_t used = 0;
    while (!closing_ && out_.size() <= sandbox::transport::default_high_water &&
           (router_ == nullptr || router_->forwarded() < forward_limit_)) {
      const auto [what, consumed] = parser_.parse(input.substr(used));
      used += consumed;
      switch (what) {
        case ch13::request_parser::status::need_more:
          return used;
        case ch13::request_parser::status::request:
          if (router_ != nullptr) {
            router_->run(client_, parser_.arguments(), out_);  // Here, or forwarded.
          } else {
            ch13::execute(server_, client_, parser_.arguments(), out_);
          }
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
  // out_ keeps its memory for the next batch. A batch with forwarded
  // requests (owned design) is written once their owners have replied.
  void flush() {
    if (waiting()) {
      router_->send(shared_from_this(), [this] { forwarded_replies_arrived(); });
      return;
    }
    if (!out_.empty()) {
      transport_->write(out_);
      out_.clear();
    }
    if (closing_) {
      transport_->close();  // Sends what is buffered, then closes.
    }
  }
  //! [batch]

  [[nodiscard]] bool waiting() const { return router_ != nullptr && router_->waiting(); }

  // Every owner has replied: the batch's replies, in order, in one write;
  // then the requests that arrived meanwhile, unless the client must read
  // first (pause_writing()).
  void forwarded_replies_arrived() {
    if (transport_ == nullptr || transport_->is_closing()) {
      held_.reset();
      router_->assemble(out_, assembled_);  // Forgets the batch.
      assembled_.clear();
      out_.clear();
      return;
    }
    router_->assemble(out_, assembled_);
    out_.clear();
    // Large replies (GETs of big values): forward one request a batch
    // until they are small again, so that a batch's replies stay near the
    // transport's high-water mark, as they do when run here.
    forward_limit_ = assembled_.size() > sandbox::transport::default_high_water
                         ? 1
                         : max_forwarded_per_batch;
    // Given away: if nothing else waits, the string becomes the transport's
    // buffer, without a copy (which matters when the replies are large).
    transport_->write(std::move(assembled_));
    assembled_.clear();  // Moved from: valid, and now certainly empty.
    if (closing_) {
      transport_->close();
    } else if (!paused_ && !buffer_.empty()) {
      buffer_.erase(0, run_requests(buffer_));
      flush();
    }
    hold_reading_while_full();
  }

  // Requests wait in buffer_ while a batch is in flight. The write buffer
  // is then empty, so the transport's back-pressure cannot stop a client
  // that sends without reading: past the high-water mark, we stop reading
  // it ourselves, until the requests held have been run.
  void hold_reading_while_full() {
    if (transport_ == nullptr) {
      return;
    }
    const bool full = buffer_.size() > sandbox::transport::default_high_water;
    if (full && held_ == nullptr) {
      // A transport lives as long as an operation of its own is pending;
      // with reading paused and nothing to write, none is. We keep it
      // alive ourselves until we resume.
      held_ = transport_->shared_from_this();
      transport_->pause_reading();
    } else if (!full && held_ != nullptr) {
      transport_->resume_reading();  // Its own read keeps it alive again.
      held_.reset();
    }
  }

  // Forwarded requests' replies are not counted in out_ until they come
  // back: a batch stops at this many, which bounds what they may bring.
  // 16: what redis-benchmark -P 16 sends at once; 1 after a batch whose
  // replies were large. A real server would ask the owner to stop at a
  // byte count instead.
  static constexpr std::size_t max_forwarded_per_batch = 16;
  std::size_t forward_limit_ = max_forwarded_per_batch;

  ch13::server_state& server_;
  const std::vector<asio::any_io_executor>& loops_;  // Every loop, for posting.
  std::size_t home_ = 0;                             // The loop we run on.
  std::unique_ptr<ch13::request_router> router_;     // Owned design, several loops.
  ch13::client_state client_;
  const std::size_t subscriber_limit_;
  const bool quiet_;
  sandbox::transport* transport_ = nullptr;
  ch13::request_parser parser_;
  std::string buffer_;  // The start of a request whose end has not arrived.
  std::string out_;     // Replies of the batch being run.
  std::string assembled_;  // The owned design: a batch's replies put in order.
  std::mutex inbox_lock_;  // Guards inbox_: other loops' publishers add to it.
  std::vector<std::shared_ptr<const std::string>> inbox_;     // Messages not yet drained.
  std::vector<std::shared_ptr<const std::string>> draining_;  // drain_inbox()'s, kept for its memory.
  bool closing_ = false;
  bool paused_ = false;    // The transport holds too much: run nothing new.
  std::shared_ptr<sandbox::transport> held_;  // Set while we hold reading paused.
};

//! [sweep]
// The active half of expiry (keyspace::sweep()), ten times a second as
// Redis's default `hz 10`, on every loop: loop i sweeps shards i, i + N,
// i + 2N ... So each owned shard is swept by its owner, on its owner's
// thread, with no lock; a locked shard is swept under its lock (by one loop
// only, so the sweeps never queue for each other). Each sweep's work is
// bounded: a keyspace full of expired keys is emptied over several ticks
// rather than in one long pause that would stall every client.
asio::awaitable<void> sweep_expired_keys(ch13::server_state& state, std::size_t loop,
                                         std::size_t loops) {
  asio::steady_timer timer{co_await asio::this_coro::executor};
  for (;;) {
    timer.expires_after(std::chrono::milliseconds{100});
    co_await timer.async_wait(asio::use_awaitable);
    for (std::size_t i = loop; i < state.shards.size(); i += loops) {
      auto& shard = state.shards[i];
      if (state.locking) {
        const std::scoped_lock hold{shard.lock};
        shard.keys.sweep(ch13::now_ms());
      } else {
        shard.keys.sweep(ch13::now_ms());
      }
    }
  }
}
//! [sweep]

//! [serve]
asio::awaitable<void> serve(sandbox::server_options options, ch13::server_state& state,
                            sandbox::context_pool& pool,
                            const std::vector<asio::any_io_executor>& loops,
                            std::size_t subscriber_limit) {
  // As chapter 06: the server accepts on the first loop, and the picker
  // hands each connection to the next loop in turn, where it stays.
  auto server = co_await sandbox::create_server(
      [&state, &loops, subscriber_limit, quiet = options.quiet] {
        return std::make_shared<connection>(state, loops, subscriber_limit, quiet);
      },
      options.host, options.port, pool.picker());
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  // Detached: they run until the loops stop (a signal), and their frames
  // are destroyed with the loops.
  for (std::size_t i = 0; i < loops.size(); ++i) {
    asio::co_spawn(loops[i], sweep_expired_keys(state, i, loops.size()), asio::detached);
  }
  co_await server->wait_closed();
}
//! [serve]

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
  // One loop by default, as Redis runs its commands on one thread: the
  // comparison with redis-server gives each server one core.
  auto& threads = cli.add_threads_option();
  threads = 1;
  cli.app()
      .get_option("--threads")
      ->description("Event loops, each on its own thread, sharing the keys as --keyspace says")
      ->default_str("1");
  // Locked by default: it measured as fast or faster (see the figures above).
  std::string keyspace = "locked";
  cli.app()
      .add_option("--keyspace", keyspace,
                  "How several threads share the keys: 'locked' (shards behind mutexes; any "
                  "thread runs any key) or 'owned' (shard i belongs to loop i; a request for "
                  "another loop's key is forwarded to it)")
      ->check(CLI::IsMember({"locked", "owned"}))
      ->capture_default_str();
  cli.parse(argc, argv);

  // Outlives the loops: connections destroyed with them still unsubscribe.
  ch13::server_state state{
      keyspace == "locked" ? ch13::keyspace_design::locked : ch13::keyspace_design::owned, threads};
  // A pool of one loop is marked single-threaded, as sandbox::run's is: no
  // strands; and one shard, no lock and no post (server_state).
  sandbox::context_pool pool{threads};
  // context_pool hands out its loops round-robin, from the first: N calls
  // name each loop once, in order, and leave it where it started.
  std::vector<asio::any_io_executor> loops;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    loops.push_back(pool.next_executor());
  }
  return pool.run([&] { return serve(options, state, pool, loops, subscriber_limit); });
}
