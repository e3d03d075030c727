/// \file
/// \brief Chapter 13's publish/subscribe: channels, their subscribers, and
/// a subscriber that falls behind being dropped, not waited for.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
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
///
/// With several event loops, the publisher may run on another thread than
/// the subscriber; a connection is only ever touched by its own loop's
/// thread, so the message is posted there (deliver_later()).
class subscriber {
 public:
  /// `frame` is the whole RESP message, ready to send. Called on the
  /// subscriber's own thread.
  virtual void deliver(std::string_view frame) = 0;

  /// True when the caller runs on the subscriber's own thread.
  [[nodiscard]] virtual bool on_own_thread() const = 0;

  /// Called on another thread, with the channel table locked (so the
  /// subscriber cannot be destroyed meanwhile: it leaves its channels under
  /// that lock first): post `frame` to the subscriber's own loop, to be
  /// delivered there. The frame is shared by every such subscriber.
  virtual void deliver_later(std::shared_ptr<const std::string> frame) = 0;

 protected:
  ~subscriber() = default;
};

/// The channels and who listens on each, shared by every loop behind one
/// lock. Subscribing and publishing are rare next to GET and SET, and each
/// holds the lock only to walk a list: one lock serves. (Redis 7's sharded
/// pub/sub splits channels across a cluster's nodes, for the same reason
/// keys are split.)
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
  std::mutex lock_;  // Guards channels_.
  std::unordered_map<std::string, std::vector<subscriber*>> channels_;
};

}  // namespace ch13
