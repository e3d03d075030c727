/// \file
/// \brief The keyspace (keyspace.hpp): lookups with lazy expiry, and the
/// active sweep.
#include "keyspace.hpp"

#include <chrono>

namespace ch13 {

unix_ms now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

keyspace::entry* keyspace::find(const std::string& key) {
  const auto found = map_.find(key);
  if (found == map_.end()) {
    return nullptr;
  }
  // Most keys have no expiry: for them the clock is not even read.
  if (found->second.expires_at != never && expired(found->second, now_ms())) {
    map_.erase(found);
    return nullptr;
  }
  return &found->second;
}

keyspace::entry& keyspace::find_or_add(const std::string& key) {
  // try_emplace copies the key only when it adds one.
  auto [it, added] = map_.try_emplace(key);
  entry& e = it->second;
  if (!added && e.expires_at != never && expired(e, now_ms())) {
    e.value.clear();
    e.list.reset();
    e.expires_at = never;
  }
  return e;
}

bool keyspace::erase(const std::string& key) {
  const auto found = map_.find(key);
  if (found == map_.end()) {
    return false;
  }
  const bool live = found->second.expires_at == never || !expired(found->second, now_ms());
  map_.erase(found);
  return live;
}

//! [sweep]
std::size_t keyspace::sweep(unix_ms now) {
  // Redis's activeExpireCycle, simplified. Redis samples 20 keys at random
  // among those with an expiry, erases the expired ones, and samples again
  // while more than a quarter of a sample had expired (then many more
  // probably have), within a time budget. We have no separate table of keys
  // with an expiry, so we walk the hash table's buckets from where the last
  // sweep stopped, a bounded number of them per round: the work per tick
  // stays small however large the keyspace, and every bucket's turn comes.
  // (A rehash renumbers the buckets; the walk then simply goes on from the
  // same number, as Redis's SCAN cursor survives a resize.)
  constexpr std::size_t keys_per_round = 20;      // keys with an expiry looked at
  constexpr std::size_t buckets_per_round = 400;  // bounds the walk over keys without one
  constexpr int max_rounds = 16;                  // bounds a tick, even when all expire
  std::size_t erased = 0;
  for (int round = 0; round < max_rounds && !map_.empty(); ++round) {
    std::size_t looked_at = 0;
    doomed_.clear();
    for (std::size_t buckets = 0; buckets < buckets_per_round && looked_at < keys_per_round;
         ++buckets) {
      if (sweep_cursor_ >= map_.bucket_count()) {
        sweep_cursor_ = 0;
      }
      for (auto it = map_.begin(sweep_cursor_); it != map_.end(sweep_cursor_); ++it) {
        if (it->second.expires_at == never) {
          continue;
        }
        ++looked_at;
        if (expired(it->second, now)) {
          doomed_.push_back(it->first);  // Not erased here: that would break the walk.
        }
      }
      ++sweep_cursor_;
    }
    for (const auto& key : doomed_) {
      map_.erase(key);
    }
    erased += doomed_.size();
    if (doomed_.size() * 4 <= looked_at || looked_at == 0) {
      break;  // Few expired: the next tick will do.
    }
  }
  return erased;
}
//! [sweep]

}  // namespace ch13
