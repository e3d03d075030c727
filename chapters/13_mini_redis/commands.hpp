/// \file
/// \brief Chapter 13's commands: what each request does to the server's
/// state, and the reply it appends, in Redis 7.0's exact words.
#pragma once

#include "keyspace.hpp"
#include "pubsub.hpp"
#include "shards.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ch13 {

/// What every connection shares, on every loop: the keys and the channels.
struct server_state {
  /// `loops` event loops share the keys in `design`. One loop needs one
  /// shard and no lock, whatever the design: everything is its own.
  server_state(keyspace_design how, std::size_t loops)
      : design{how},
        shards{loops == 1 ? 1 : how == keyspace_design::owned ? loops : locked_shards(loops)},
        locking{how == keyspace_design::locked && loops > 1} {}

  /// Locked shards: a power of two, at least four a thread, at least 16, so
  /// that two threads rarely want the same one at once.
  static std::size_t locked_shards(std::size_t loops) {
    std::size_t count = 16;
    while (count < 4 * loops) {
      count *= 2;
    }
    return count;
  }

  const keyspace_design design;  ///< --keyspace: how several loops share the shards.
  shard_set shards;    ///< Locked: any of them, under its lock. Owned: shard i is loop i's.
  const bool locking;  ///< Commands lock their shards (locked design, several loops).
  pubsub channels;     ///< Has its own lock: any loop publishes.
  std::atomic<std::int64_t> next_client_id{1};  ///< CLIENT ID and HELLO's "id".
};

/// What the commands keep of one connection.
struct client_state {
  /// A new client: `connection` is how the channels reach it, `number` its CLIENT ID.
  client_state(subscriber& connection, std::int64_t number) : self{connection}, id{number} {}

  subscriber& self;                   ///< This connection, as the channels see it.
  std::int64_t id;                    ///< CLIENT ID.
  std::vector<std::string> channels;  ///< Subscribed to, in order; non-empty: subscribed mode.
  std::string name;                   ///< CLIENT SETNAME.
  bool quit = false;                  ///< QUIT: send the replies so far, then close.
};

/// Runs one request (`arguments`, never empty) and appends its reply to
/// `out`. Command names are case-insensitive, as in Redis. Its keys may be
/// in any shard: in the locked design it locks the shards it needs (in
/// increasing order, so that two multi-key commands never wait for each
/// other in a circle); in the owned design the caller has made sure they
/// are all its own loop's (see keys_of()).
void execute(server_state& server, client_state& client, std::span<const std::string> arguments,
             std::string& out);

/// The owned design, on the owner's loop: runs a request another loop
/// forwarded, whose keys all live in `owner`. Only commands with keys (and
/// DBSIZE) come here; they need nothing of the client that sent them.
void execute_forwarded(server_state& server, shard& owner, std::span<const std::string> arguments,
                       std::string& out);

/// Where a request's keys are, as Redis's command table says it:
/// arguments[first], [first + step], ... to the end, or only [first] when
/// `one`. `first == 0`: no keys, or a request that will fail before it
/// looks at any (unknown command, wrong arity, subscribed mode), which
/// therefore runs where it is. `every_shard`: DBSIZE.
struct key_layout {
  std::size_t first = 0;     ///< Index of the first key; 0: none.
  std::size_t step = 1;      ///< MSET's keys alternate with values: 2.
  bool one = true;           ///< Only arguments[first] is a key.
  bool every_shard = false;  ///< The command reads every shard (DBSIZE).
};

/// The key_layout of `arguments` as `client` would run it now.
[[nodiscard]] key_layout keys_of(std::span<const std::string> arguments,
                                 const client_state& client);

/// Leaves every channel `client` is subscribed to (its connection is gone).
void forget_subscriptions(server_state& server, client_state& client);

}  // namespace ch13
