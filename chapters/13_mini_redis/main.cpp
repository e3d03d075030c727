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
//   connection.hpp  one client: its bytes in, its replies out, its timer
//   open_connections.hpp  who must finish when a shutdown begins
//   main.cpp      this file: the expiry sweep, the server, the shutdown
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
#include "connection.hpp"
#include "open_connections.hpp"
#include "shards.hpp"

#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/server.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace {

/// Redis's own port is 6379; ours is the next one, so both can run side by side.
constexpr std::uint16_t mini_redis_port = 6380;

// What the command line says.
struct settings {
  sandbox::server_options where;
  std::size_t max_connections = sandbox::server::default_max_connections;
  double grace = 5;  // seconds
  ch13::connection_options each;
};

// What every loop shares. main() makes it all before the loops run and
// destroys it after they are gone.
struct shared {
  ch13::server_state& state;
  sandbox::context_pool& pool;
  const std::vector<asio::any_io_executor>& loops;  // loops[i] runs loop i.
  ch13::open_connections& open;
  std::atomic<bool>& stopping;  // Set once every connection has ended.
  asio::signal_set& signals;    // SIGINT and SIGTERM, caught until the loops are gone.
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
  open.finish_all();
  sandbox::println("Shutting down (", signal == SIGINT ? "SIGINT" : "SIGTERM",
                   "): no new connections; ", server->active_connections(), " open get up to ",
                   ch13::seconds_text(grace), " to get their replies");
  // The handlers below may run after this coroutine has returned (with
  // operation_aborted): they hold only what they share.
  auto grace_period = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                           sandbox::seconds(grace));
  auto over = std::make_shared<bool>(false);
  const auto abort_the_rest = [server, over, &open](const char* why) {
    if (std::exchange(*over, true)) {
      return;
    }
    open.abort_all();  // Connections still starting abort as they start.
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
asio::awaitable<void> serve(const settings& wanted, shared& parts) {
  // As chapter 06: the server accepts on the first loop, and the picker
  // hands each connection to the next loop in turn, where it stays.
  auto server = co_await sandbox::create_server(
      [&parts, each = wanted.each] {
        return ch13::make_connection(parts.state, parts.loops, parts.open, each);
      },
      wanted.where.host, wanted.where.port, parts.pool.picker());
  // Past the limit a client is told so, in Redis's words, and closed.
  server->set_max_connections(wanted.max_connections);
  server->set_refusal("-ERR max number of clients reached\r\n");
  sandbox::println("Serving on ", sandbox::host_port(wanted.where.host, server->port()));
  const std::size_t loops = parts.loops.size();
  for (std::size_t i = 0; i < loops; ++i) {
    asio::co_spawn(parts.loops[i], sweep_expired_keys(parts.state, i, loops, parts.stopping),
                   asio::detached);
  }
  co_await shut_down_on_signal(parts.signals, server, parts.open, wanted.grace);
  // Every connection has ended; the sweeps end at their next tick, and the
  // loops once nothing is left for them to do.
  parts.stopping = true;
}
//! [serve]

}  // namespace

/// Parses the command line, then serves until SIGINT or SIGTERM asks for a graceful shutdown.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 13: a mini Redis (RESP2, strings, expiry, pub/sub)"};
  const auto& options = cli.add_server_options(mini_redis_port);
  settings wanted;
  // Redis's default hard limit for a pub/sub client's output is 32 MiB.
  wanted.each.subscriber_limit = 32 * 1024 * 1024;
  cli.app()
      .add_option("--max-subscriber-buffer", wanted.each.subscriber_limit,
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
  cli.app()
      .add_option("--max-connections", wanted.max_connections,
                  "Clients served at once; more are told '-ERR max number of clients reached'")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  cli.app()
      .add_option("--idle-timeout", wanted.each.idle_timeout,
                  "Close a client that sends nothing for this many seconds (0: never; "
                  "subscribers never)")
      ->check(sandbox::seconds_between(0, 86400))
      ->capture_default_str();
  cli.app()
      .add_option("--grace", wanted.grace,
                  "On SIGINT or SIGTERM, seconds the open clients get to receive their replies "
                  "(0: abort them at once)")
      ->check(sandbox::seconds_between(0, 3600))
      ->capture_default_str();
  cli.parse(argc, argv);
  wanted.where = options;
  wanted.each.quiet = options.quiet;

  // Outlives the loops: connections destroyed with them still unsubscribe.
  ch13::server_state state{
      keyspace == "locked" ? ch13::keyspace_design::locked : ch13::keyspace_design::owned, threads};
  ch13::open_connections open;     // Outlives the loops too, as does:
  std::atomic<bool> stopping{false};  // Set once every connection has ended.
  std::vector<asio::any_io_executor> loops;  // Filled below; outlives the loops too.
  // A pool of one loop is marked single-threaded, as sandbox::run's is: no
  // strands; and one shard, no lock and no post (server_state).
  sandbox::context_pool pool{threads};
  // Every loop by its number: a connection posts to its own, and the owned
  // design forwards requests to the owner of their keys.
  for (std::size_t i = 0; i < pool.size(); ++i) {
    loops.push_back(pool.executor(i));
  }
  // Caught before "Serving on" and until the loops are gone: from then on a
  // signal means "shut down gracefully", never "die".
  asio::signal_set signals{pool.executor(0), SIGINT, SIGTERM};
  shared parts{state, pool, loops, open, stopping, signals};
  return pool.run_and_leave_signals_to_main([&] { return serve(wanted, parts); });
}
