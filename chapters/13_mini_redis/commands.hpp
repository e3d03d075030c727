/// \file
/// \brief Chapter 13's commands: what each request does to the server's
/// state, and the reply it appends, in Redis 7.0's exact words.
#pragma once

#include "keyspace.hpp"
#include "pubsub.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ch13 {

/// What every connection shares: the keys and the channels. One event loop
/// thread owns it all.
struct server_state {
  keyspace keys;
  pubsub channels;
  std::int64_t next_client_id = 1;  ///< CLIENT ID and HELLO's "id".
};

/// What the commands keep of one connection.
struct client_state {
  client_state(subscriber& connection, std::int64_t number) : self{connection}, id{number} {}

  subscriber& self;                   ///< This connection, as the channels see it.
  std::int64_t id;                    ///< CLIENT ID.
  std::vector<std::string> channels;  ///< Subscribed to, in order; non-empty: subscribed mode.
  std::string name;                   ///< CLIENT SETNAME.
  bool quit = false;                  ///< QUIT: send the replies so far, then close.
};

/// Runs one request (`arguments`, never empty) and appends its reply to
/// `out`. Command names are case-insensitive, as in Redis.
void execute(server_state& server, client_state& client, std::span<const std::string> arguments,
             std::string& out);

/// Leaves every channel `client` is subscribed to (its connection is gone).
void forget_subscriptions(server_state& server, client_state& client);

}  // namespace ch13
