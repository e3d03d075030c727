/// \file
/// \brief Chapters 05 and 06 share this: the echo handler, with counters
/// that every connection updates, and the thread each line came from.
#pragma once

#include "sandbox/streams.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace chapter05 {

//! [counters]
/// State shared by every connection, and so by every thread. A strand cannot
/// protect it: a strand orders the handlers of *one* connection, while two
/// connections run on two threads at the same moment. std::atomic makes each
/// update indivisible. memory_order_relaxed is enough: each counter stands
/// alone (no other data is published through it), and main() reads them
/// only after joining the threads, which orders everything before it.
struct echo_counters {
  std::atomic<std::size_t> open{0};     ///< Connections now open.
  std::atomic<std::size_t> total{0};    ///< Connections ever accepted.
  std::atomic<std::uint64_t> bytes{0};  ///< Bytes echoed back.
};
//! [counters]

/// Chapter 02's echo handler, with the counters kept and, unless `quiet`,
/// a line per event saying which loop thread ran it.
asio::awaitable<void> client_connected_handler(sandbox::stream_reader reader,
                                               sandbox::stream_writer writer,
                                               echo_counters& counters, bool quiet);

/// The last line, "Connections: T total, O open; bytes echoed: B", and with
/// `quiet` one more, "Clients that reset their connection: R" (the resets
/// `server` counted instead of logging them). Call it once the threads are
/// joined.
void print_counters(const echo_counters& counters, const sandbox::server* server, bool quiet);

}  // namespace chapter05
