/// \file
/// \brief Chapter 13's keyspace: keys to values (strings, or lists of
/// strings), each with an optional expiry, and the two ways expired keys
/// leave.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ch13 {

/// Milliseconds since the Unix epoch: when a key expires, as Redis keeps it.
/// Wall-clock time, as in Redis (a TTL survives a restart there, and an
/// absolute time is what EXPIREAT and PXAT name), so a clock stepped back
/// makes keys live longer: a server that never persists could use
/// std::chrono::steady_clock instead.
using unix_ms = std::int64_t;

/// Now, in unix_ms.
[[nodiscard]] unix_ms now_ms() noexcept;

/// Every key of the server (or of one shard of it, shards.hpp). One thread (the event loop's) owns it, so it
/// needs no lock: the server is single-threaded, as Redis's command
/// execution is.
///
/// Expiry works as in Redis, in two ways at once:
/// - lazily: find() treats a key past its time as absent, and erases it then,
///   so no command ever sees an expired key;
/// - actively: sweep(), run on a timer, erases keys that nobody asks for,
///   which lazy expiry alone would keep in memory for ever.
class keyspace {
 public:
  /// "No expiry": a time no clock reaches.
  static constexpr unix_ms never = std::numeric_limits<unix_ms>::max();

  /// One key's value and its expiry time (`never` for none). The value is
  /// a string, or a list of strings: the one other type here, enough for a
  /// command on the wrong type to get Redis's WRONGTYPE error.
  struct entry {
    std::string value;  ///< A string's bytes, binary-safe; unused by a list.
    /// A list's elements, front first; null for a string. Behind a pointer
    /// so that a string, by far the most common value, pays for no deque
    /// (libstdc++'s allocates even when empty). Redis keeps lists in a
    /// "quicklist", a linked list of compact arrays.
    std::unique_ptr<std::deque<std::string>> list;
    unix_ms expires_at = never;  ///< When it expires, in Unix milliseconds.

    /// True for a list, false for a string.
    [[nodiscard]] bool is_list() const noexcept { return list != nullptr; }
  };

  /// The live entry of `key`, or nullptr. An entry past its time is erased
  /// here (lazy expiry). The pointer is valid until the next change to the
  /// keyspace. `now` is asked of the clock only for a key with an expiry.
  [[nodiscard]] entry* find(const std::string& key);

  /// The entry of `key`, made an empty string (value "", no expiry) if it
  /// was absent or expired. The reference is valid until the next change.
  [[nodiscard]] entry& find_or_add(const std::string& key);

  /// Erases `key`; true if it was there (and live).
  bool erase(const std::string& key);

  /// Keys held, expired or not yet swept included.
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }

  /// The active half of expiry: looks at a bounded number of keys and
  /// erases those past their time; returns how many it erased. Call it on a
  /// timer (main.cpp: ten times a second, as Redis's default `hz 10`).
  std::size_t sweep(unix_ms now);

 private:
  static bool expired(const entry& e, unix_ms now) noexcept { return e.expires_at <= now; }

  // std::unordered_map: one allocation per key (the node), none per lookup:
  // commands pass the parser's std::string arguments straight to find().
  // Redis's own dict is the same idea, a hash table of chained entries,
  // which it rehashes a step at a time instead of all at once.
  std::unordered_map<std::string, entry> map_;
  std::size_t sweep_cursor_ = 0;         // The bucket sweep() looks at next.
  std::vector<std::string> doomed_;      // sweep()'s scratch list, kept for its memory.
};

}  // namespace ch13
