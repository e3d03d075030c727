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
#include "open_connections.hpp"
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

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

/// Redis's own port is 6379; ours is the next one, so both can run side by side.
constexpr std::uint16_t mini_redis_port = 6380;

using clock_type = std::chrono::steady_clock;

/// What every connection is told at start, from the command line.
struct connection_options {
  std::size_t subscriber_limit = 0;    // --max-subscriber-buffer
  double idle_timeout = 0;             // --idle-timeout, in seconds; 0: never
  bool quiet = false;                  // --quiet
};

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

// A graceful shutdown closes a connection once its client has been quiet
// this long with nothing owed to it: long enough for a request already on
// its way (sent before the signal, still in the kernel) to arrive.
constexpr auto quiet_enough = std::chrono::milliseconds{50};

// One client. The transport calls it; it calls the parser and the commands.
class connection final : public sandbox::protocol,
                         public ch13::subscriber,
                         public std::enable_shared_from_this<connection> {
 public:
  connection(ch13::server_state& server, const std::vector<asio::any_io_executor>& loops,
             ch13::open_connections& open, const connection_options& options)
      : server_{server},
        loops_{loops},
        open_{open},
        // Atomic: connections on every loop take numbers at once.
        client_{*this, server.next_client_id.fetch_add(1, std::memory_order_relaxed)},
        subscriber_limit_{options.subscriber_limit},
        idle_seconds_{options.idle_timeout},
        idle_timeout_{sandbox::seconds(options.idle_timeout)},
        quiet_{options.quiet} {}

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
    timer_.emplace(transport.get_executor());
    last_heard_ = clock_type::now();
    if (idle_timeout_ > clock_type::duration::zero()) {
      wake_at(last_heard_ + idle_timeout_);
    }
    // Last: a shutdown under way calls finish right here, and it posts.
    ticket_ = open_.add([self = weak_from_this(), executor = transport.get_executor()] {
      asio::post(executor, [self] {
        if (const auto alive = self.lock()) {
          alive->finish();
        }
      });
    });
  }

  //! [receive]
  void data_received(std::string_view data) override {
    last_heard_ = clock_type::now();  // For the idle timeout and the shutdown.
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
    open_.remove(ticket_);
    transport_ = nullptr;  // A batch still in flight (owned design) finds it gone.
    held_.reset();
    if (timer_) {
      timer_->cancel();  // Nothing left to watch; and the loop may end.
    }
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

  //! [timer]
  // One timer a connection serves the idle timeout and the shutdown. It is
  // not re-armed on every request (that would cost a timer operation per
  // read, on the hot path); each read only notes the time, and the timer,
  // when it fires, looks at that time and sleeps again if the client spoke
  // since. Redis checks its clients' last interaction the same way, in a
  // periodic sweep (clientsCron) rather than a timer each.
  void wake_at(clock_type::time_point when) {
    timer_->expires_at(when);  // Cancels a wait already pending: one chain at a time.
    timer_->async_wait([self = weak_from_this()](std::error_code error) {
      if (const auto alive = self.lock(); alive && !error) {
        alive->on_timer();
      }
    });
  }

  // Nothing received waits to be run, no forwarded request is out, and
  // every reply has been handed to the kernel.
  [[nodiscard]] bool owes_nothing() const {
    return buffer_.empty() && !waiting() && transport_->get_write_buffer_size() == 0;
  }

  void on_timer() {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    const auto now = clock_type::now();
    if (finishing_) {
      if (now - last_heard_ >= quiet_enough && owes_nothing()) {
        transport_->close();
      } else {
        wake_at(now + quiet_enough);  // Still talking, or still owed replies.
      }
      return;
    }
    // A client still taking its replies is not idle, though it sends
    // nothing: what waits for it has shrunk since the last look.
    const std::size_t unsent = transport_->get_write_buffer_size();
    if (unsent < std::exchange(unsent_at_last_look_, unsent)) {
      last_heard_ = now;
    }
    // Subscribers are never idle (as in Redis): they only listen. A batch
    // in flight to other loops will soon have its replies.
    if (!client_.channels.empty() || waiting()) {
      wake_at(now + idle_timeout_);
    } else if (now - last_heard_ >= idle_timeout_) {
      if (!quiet_) {
        sandbox::println("Client ", client_.id, ": idle for ", seconds_text(idle_seconds_),
                         "; closing");
      }
      if (transport_->get_write_buffer_size() == 0) {
        transport_->close();
      } else {
        transport_->abort();  // Replies it stopped reading: dropped, as Redis drops them.
      }
    } else {
      wake_at(last_heard_ + idle_timeout_);
    }
  }

  // SIGINT or SIGTERM: the server no longer accepts. This connection runs
  // what it has received, sends every reply, and closes once its client has
  // been quiet for a moment. Until then it serves as usual: a request sent
  // just before the signal gets its reply. The grace period bounds it.
  void finish() {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    finishing_ = true;
    wake_at(clock_type::now() + quiet_enough);
  }
  //! [timer]

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
  ch13::open_connections& open_;                     // Where a shutdown finds us.
  std::uint64_t ticket_ = 0;                         // Our place there.
  std::size_t home_ = 0;                             // The loop we run on.
  std::unique_ptr<ch13::request_router> router_;     // Owned design, several loops.
  ch13::client_state client_;
  const std::size_t subscriber_limit_;
  const double idle_seconds_;                // For the console line.
  const clock_type::duration idle_timeout_;  // Zero: never.
  const bool quiet_;
  std::optional<asio::steady_timer> timer_;  // Made once we know our executor.
  clock_type::time_point last_heard_;        // The last read of anything from the client.
  std::size_t unsent_at_last_look_ = 0;      // Replies waiting when the timer last fired.
  bool finishing_ = false;                   // A shutdown has begun.
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
                                         std::size_t loops, const std::atomic<bool>& stopping) {
  asio::steady_timer timer{co_await asio::this_coro::executor};
  while (!stopping.load()) {
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

//! [shutdown]
// Waits for SIGINT or SIGTERM, then shuts down gracefully: no new
// connections, every open one finishes (its requests run, its replies
// sent, closed once its client is quiet), within the grace period. What is
// still open then is aborted; so it is at once on a second signal.
asio::awaitable<void> shut_down_on_signal(asio::signal_set& signals,
                                          std::shared_ptr<sandbox::server> server,
                                          ch13::open_connections& open, double grace) {
  const int signal = co_await signals.async_wait(asio::use_awaitable);
  server->close();  // Those in the accept queue are taken, and finish too.
  const std::size_t count = open.finish_all();
  sandbox::println("Shutting down (", signal == SIGINT ? "SIGINT" : "SIGTERM",
                   "): no new connections; ", count, " open get up to ", seconds_text(grace),
                   " to get their replies");
  // The handlers below may run after this coroutine has returned (with
  // operation_aborted): they hold only what they share.
  auto grace_period = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                           sandbox::seconds(grace));
  auto over = std::make_shared<bool>(false);
  const auto abort_the_rest = [server, over](const char* why) {
    if (std::exchange(*over, true)) {
      return;
    }
    if (const std::size_t left = server->active_connections(); left > 0) {
      sandbox::println(why, ": aborting ", left, " connection(s)");
      server->abort_clients();
    }
  };
  grace_period->async_wait([abort_the_rest](std::error_code error) {
    if (!error) {
      abort_the_rest("Grace period over");
    }
  });
  signals.async_wait([abort_the_rest](std::error_code error, int /*signal*/) {
    if (!error) {
      abort_the_rest("Second signal");
    }
  });
  co_await server->wait_closed();
  grace_period->cancel();
  signals.cancel();
}
//! [shutdown]

//! [serve]
asio::awaitable<void> serve(sandbox::server_options options, std::size_t max_connections,
                            double grace, connection_options each, ch13::server_state& state,
                            sandbox::context_pool& pool,
                            const std::vector<asio::any_io_executor>& loops,
                            ch13::open_connections& open, std::atomic<bool>& stopping) {
  // Caught before "Serving on": from then on a signal means "shut down
  // gracefully", never "die".
  asio::signal_set signals{co_await asio::this_coro::executor, SIGINT, SIGTERM};
  // As chapter 06: the server accepts on the first loop, and the picker
  // hands each connection to the next loop in turn, where it stays.
  auto server = co_await sandbox::create_server(
      [&state, &loops, &open, each] { return std::make_shared<connection>(state, loops, open, each); },
      options.host, options.port, pool.picker());
  // Past the limit a client is told so, in Redis's words, and closed.
  server->set_max_connections(max_connections);
  server->set_refusal("-ERR max number of clients reached\r\n");
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  for (std::size_t i = 0; i < loops.size(); ++i) {
    asio::co_spawn(loops[i], sweep_expired_keys(state, i, loops.size(), stopping), asio::detached);
  }
  co_await shut_down_on_signal(signals, server, open, grace);
  // Every connection has ended; the sweeps end at their next tick, and the
  // loops once nothing is left for them to do.
  stopping = true;
}
//! [serve]

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM asks for a graceful shutdown.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 13: a mini Redis (RESP2, strings, expiry, pub/sub)"};
  const auto& options = cli.add_server_options(mini_redis_port);
  // Redis's default hard limit for a pub/sub client's output is 32 MiB.
  connection_options each{.subscriber_limit = 32 * 1024 * 1024};
  cli.app()
      .add_option("--max-subscriber-buffer", each.subscriber_limit,
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
  // Redis's defaults: maxclients 10000 and timeout 0 (never). Ours serves
  // the library's 512, which fits the usual 1024 open files (chapter 09).
  std::size_t max_connections = sandbox::server::default_max_connections;
  cli.app()
      .add_option("--max-connections", max_connections,
                  "Clients served at once; more are told '-ERR max number of clients reached'")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  cli.app()
      .add_option("--idle-timeout", each.idle_timeout,
                  "Close a client that sends nothing for this many seconds (0: never; "
                  "subscribers never)")
      ->check(sandbox::seconds_between(0, 86400))
      ->capture_default_str();
  double grace = 5;
  cli.app()
      .add_option("--grace", grace,
                  "On SIGINT or SIGTERM, seconds the open clients get to receive their replies")
      ->check(sandbox::seconds_between(0, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);
  each.quiet = options.quiet;

  // Outlives the loops: connections destroyed with them still unsubscribe.
  ch13::server_state state{
      keyspace == "locked" ? ch13::keyspace_design::locked : ch13::keyspace_design::owned, threads};
  ch13::open_connections open;     // Outlives the loops too, as does:
  std::atomic<bool> stopping{false};  // Set once every connection has ended.
  // A pool of one loop is marked single-threaded, as sandbox::run's is: no
  // strands; and one shard, no lock and no post (server_state).
  sandbox::context_pool pool{threads};
  // Every loop by its number: a connection posts to its own, and the owned
  // design forwards requests to the owner of their keys.
  std::vector<asio::any_io_executor> loops;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    loops.push_back(pool.executor(i));
  }
  return pool.run_and_leave_signals_to_main([&] {
    return serve(options, max_connections, grace, each, state, pool, loops, open, stopping);
  });
}
