/// \file
/// \brief Chapter 13's connection: one client's bytes in, its replies out.
///
/// A connection is a protocol (chapter 01). data_received() parses every
/// whole request that arrived, runs each, appends each reply to one string,
/// and writes that string once: a client that pipelines 100 requests in one
/// send gets its 100 replies in one send. The rest of the class keeps that
/// promise under pressure: back-pressure on a client that does not read,
/// a subscriber dropped when it falls behind, messages from other loops'
/// publishers, the owned design's forwarded batches (router.hpp), and one
/// timer for the idle timeout and the graceful shutdown.
#pragma once

#include "commands.hpp"
#include "open_connections.hpp"

#include "sandbox/asio.hpp"
#include "sandbox/protocol.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ch13 {

/// What every connection is told at start, from the command line.
struct connection_options {
  std::size_t subscriber_limit = 0;  ///< --max-subscriber-buffer: bytes, then dropped.
  double idle_timeout = 0;           ///< --idle-timeout, in seconds; 0: never.
  bool quiet = false;                ///< --quiet: no line for a client closed.
};

/// A new connection's protocol, for the server's factory. `loops[i]` is
/// loop i's executor; the connection runs on the loop the server's picker
/// hands it to. `server`, `loops` and `open` must outlive every connection.
[[nodiscard]] std::shared_ptr<sandbox::protocol> make_connection(
    server_state& server, const std::vector<asio::any_io_executor>& loops, open_connections& open,
    const connection_options& options);

/// "0.5 s": a number of seconds as the console lines write it.
[[nodiscard]] std::string seconds_text(double seconds);

}  // namespace ch13
