/// \file
/// \brief Which shard holds a key (shards.hpp).
#include "shards.hpp"

#include <functional>

namespace ch13 {

std::size_t shard_index(std::string_view key, std::size_t count) noexcept {
  if (count == 1) {
    return 0;
  }
  // std::hash's result feeds the shard's own hash table too, which hashes
  // the key again: the price of sharding, about one more hash per command.
  // (Redis Cluster picks its 16384 slots with CRC16 of the key, and lets a
  // client force keys together with a {tag}; we need neither.)
  return std::hash<std::string_view>{}(key) % count;
}

}  // namespace ch13
