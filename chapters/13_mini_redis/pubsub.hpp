/// \file
/// \brief Chapter 13's publish/subscribe: channels, their subscribers, and
/// a subscriber that falls behind being dropped, not waited for.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ch13 {

/// What the channels need of a subscribed connection: a way to hand it a
/// message. The connection (main.cpp) writes it to its transport, and drops
/// itself if its write buffer is past its bound: chapter 07's lesson, that
/// a reader who does not keep up is the reader's problem, never the
/// publisher's. PUBLISH therefore never waits.
class subscriber {
 public:
  /// `frame` is the whole RESP message, ready to send.
  virtual void deliver(std::string_view frame) = 0;

 protected:
  ~subscriber() = default;
};

/// The channels and who listens on each. Owned by the event loop's one
/// thread, as the keyspace is: no lock.
class pubsub {
 public:
  /// Adds `who` to `channel`; false if it was already there.
  bool subscribe(subscriber& who, const std::string& channel);

  /// Removes `who` from `channel`; false if it was not there.
  bool unsubscribe(subscriber& who, const std::string& channel);

  /// Sends `message` to every subscriber of `channel`; returns how many.
  std::size_t publish(const std::string& channel, std::string_view message);

 private:
  // A vector per channel: a channel has few subscribers, and publishing
  // walks them in order, which a vector does best. Empty channels are erased.
  std::unordered_map<std::string, std::vector<subscriber*>> channels_;
  std::string frame_;  // publish()'s message, encoded once for all its subscribers.
};

}  // namespace ch13
