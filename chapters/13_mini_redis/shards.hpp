/// \file
/// \brief Chapter 13's keyspace cut into shards, for more than one thread,
/// in the two designs a reader should know: each shard behind a lock, or
/// each shard owned by one event loop.
#pragma once

#include "keyspace.hpp"
#include "resp.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>

namespace ch13 {

/// How the threads share the keys (`--keyspace`).
enum class keyspace_design {
  /// Any thread touches any shard, after locking the shard's mutex. A
  /// command runs where its connection runs; threads meet only when two of
  /// them want the same shard at the same moment.
  locked,
  /// Shard i belongs to loop i, and only loop i's thread ever touches it:
  /// no lock at all. A request for a key of another loop is posted to that
  /// loop, run there, and its reply posted back (main.cpp's connection).
  /// Chapter 06's shared-nothing idea, applied to data instead of sockets.
  owned,
};

/// One piece of the keyspace. alignas(64): shards sit side by side in one
/// array, and two threads writing two neighbouring shards must not fight
/// over one cache line (false sharing), which would cost what the split
/// meant to save.
struct alignas(64) shard {
  /// The keys of this shard, with their expiry.
  keyspace keys;
  /// The locked design: held by whoever touches `keys`. Unused when owned.
  std::mutex lock;
  /// The owned design: the owner's parser for the requests other loops
  /// forward to it (it reads them as RESP, as if a client had sent them).
  request_parser forwarded;
};

/// Which of `count` shards holds `key`: a hash of the key, so that keys
/// spread evenly and every thread computes the same answer. One shard (one
/// thread) needs no hash at all: the single-threaded fast path pays nothing.
[[nodiscard]] std::size_t shard_index(std::string_view key, std::size_t count) noexcept;

/// The shards, made once at start and never resized, so that a shard's
/// address stays valid for every thread.
class shard_set {
 public:
  /// `count` empty shards.
  explicit shard_set(std::size_t count) : shards_{std::make_unique<shard[]>(count)}, count_{count} {}

  /// How many shards there are.
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  /// Shard `index` (the owned design: loop `index`'s).
  [[nodiscard]] shard& operator[](std::size_t index) noexcept { return shards_[index]; }
  /// The shard that holds `key`.
  [[nodiscard]] shard& of(std::string_view key) noexcept { return shards_[shard_index(key, count_)]; }

 private:
  std::unique_ptr<shard[]> shards_;  // NOLINT(*-avoid-c-arrays): a fixed array of mutexes.
  std::size_t count_;
};

}  // namespace ch13
