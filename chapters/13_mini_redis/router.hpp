/// \file
/// \brief The owned keyspace design, seen from one connection: which loop
/// runs each request of a batch, and the replies put back in request order.
#pragma once

#include "commands.hpp"

#include "sandbox/asio.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ch13 {

namespace detail {

// Where one reply of the batch comes from.
struct route_piece {
  enum class kind : std::uint8_t {
    local,   // out[first, second): run here
    remote,  // the next reply of owner `first`
    sum,     // the next `second` pieces are integers: one integer, their sum
    ok,      // the next `second` pieces are SETs' OKs: one OK
    element, // the next piece is a one-key MGET's reply: its "*1\r\n" dropped
  };
  kind what;
  std::size_t first = 0;
  std::size_t second = 0;
};

// What goes to one owner, and comes back from it. Touched by this loop,
// then by the owner while this loop waits, then by this loop again: the
// posts order the two, so no lock is needed.
struct route_outbox {
  std::string requests;              // RESP, as a client would send them
  std::size_t count = 0;
  std::string replies;               // appended by the owner
  std::vector<std::size_t> ends;     // where each reply ends in `replies`
  std::size_t next = 0;              // assemble(): the next reply to take
};

}  // namespace detail

/// With `--keyspace owned`, shard i belongs to loop i. A connection on loop
/// `home` runs a request whose keys are all its loop's at once, as the
/// single-threaded server does; any other request is forwarded:
///
///     connection (loop 1)                          owner (loop 2)
///     batch: GET a  GET b  GET c
///       a is mine: run, reply kept in `out`
///       b is loop 2's: appended to outbox[2] ──post──▶ parse, run each,
///       c is mine: run, reply kept in `out`            replies in outbox[2]
///     waits; reads no more requests        ◀──post──
///     assemble: a's reply, b's, c's; one write
///
/// One post each way per owner per batch, however many requests it holds:
/// the cost of a hop is paid per batch, not per request. The pieces list
/// remembers where each reply comes from, so that replies leave in the
/// order the requests came, as a client requires.
///
/// A command whose keys live on several loops (MGET, MSET, DEL, EXISTS)
/// is split into one request per key (a one-key MGET, SET, DEL, EXISTS),
/// each run by its key's owner, and the replies are combined: MGET's array
/// holds their elements, DEL and EXISTS sum them, MSET gives one OK.
/// DBSIZE asks every loop and sums. What Redis gives up here, and we do too: MSET
/// across loops is no longer atomic (another client may see one key set
/// and not yet the other, for a few microseconds), and MGET is no longer a
/// snapshot. Redis Cluster refuses such commands instead (-CROSSSLOT)
/// unless every key hashes to one slot; the locked design keeps them
/// atomic by taking every shard's lock (commands.cpp).
class request_router {
 public:
  /// `loops[i]` runs shard i; this connection runs on `loops[home]`.
  request_router(server_state& server, const std::vector<asio::any_io_executor>& loops,
                 std::size_t home);

  request_router(const request_router&) = delete;
  request_router& operator=(const request_router&) = delete;

  /// Runs one request here, appending its reply to `out`, or keeps it to be
  /// forwarded at the end of the batch (a piece of `out` marks its place).
  void run(client_state& client, std::span<const std::string> arguments, std::string& out);

  /// Requests this batch forwards: the connection ends a batch early when
  /// there are many (their replies' size is unknown until they come back).
  [[nodiscard]] std::size_t forwarded() const noexcept { return forwarded_; }

  /// True if this batch forwarded anything: its replies must wait.
  [[nodiscard]] bool waiting() const noexcept { return !pieces_.empty(); }

  /// Posts the forwarded requests to their owners. `done` runs on this
  /// loop once every owner has replied; `keep` (the connection) is held
  /// until then, so that a connection closed meanwhile is not destroyed
  /// under the owners' feet.
  void send(std::shared_ptr<void> keep, std::function<void()> done);

  /// Once done: appends the batch's replies, in request order, to `into`,
  /// taking the local ones from `out`; then forgets the batch.
  void assemble(const std::string& out, std::string& into);

 private:
  // The two records below live in namespace detail, not in here: Doxygen
  // links the summary of a class with private nested classes to a section
  // it then leaves out.
  using piece = detail::route_piece;
  using outbox = detail::route_outbox;

  void close_local(const std::string& out);
  void forward(std::size_t owner, std::span<const std::string> arguments);
  void run_here(std::span<const std::string> arguments, std::string& out);
  void split(std::span<const std::string> arguments, const key_layout& keys, std::string& out);
  void run_for_other_loop(std::size_t owner);  // On the owner's loop.
  [[nodiscard]] std::string_view text_of(const std::string& out, const piece& p);

  server_state& server_;
  const std::vector<asio::any_io_executor>& loops_;
  const std::size_t home_;
  std::vector<outbox> outboxes_;    // One per loop (home's stays empty).
  std::vector<piece> pieces_;       // Empty while every reply so far was run here.
  std::size_t local_mark_ = 0;      // out[local_mark_, end) has no piece yet.
  std::size_t forwarded_ = 0;
  std::size_t awaiting_ = 0;        // Owners not yet replied.
  std::function<void()> done_;
  std::vector<std::string> scratch_;  // A split command's sub-request, run here.
};

}  // namespace ch13
