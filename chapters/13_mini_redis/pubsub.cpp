/// \file
/// \brief Publish/subscribe (pubsub.hpp).
#include "pubsub.hpp"

#include "reply.hpp"

#include <algorithm>

namespace ch13 {

bool pubsub::subscribe(subscriber& who, const std::string& channel) {
  const std::scoped_lock hold{lock_};
  auto& listeners = channels_[channel];
  if (std::ranges::find(listeners, &who) != listeners.end()) {
    return false;
  }
  listeners.push_back(&who);
  return true;
}

bool pubsub::unsubscribe(subscriber& who, const std::string& channel) {
  const std::scoped_lock hold{lock_};
  const auto found = channels_.find(channel);
  if (found == channels_.end()) {
    return false;
  }
  auto& listeners = found->second;
  const auto at = std::ranges::find(listeners, &who);
  if (at == listeners.end()) {
    return false;
  }
  listeners.erase(at);
  if (listeners.empty()) {
    channels_.erase(found);
  }
  return true;
}

std::size_t pubsub::publish(const std::string& channel, std::string_view message) {
  // Subscribers on this thread are served after the lock is let go: a
  // delivery writes to a socket, which need not hold up other threads.
  // thread_local: each thread's list keeps its memory between publishes.
  thread_local std::vector<subscriber*> here;
  thread_local std::string frame;
  here.clear();
  std::size_t receivers = 0;
  {
    const std::scoped_lock hold{lock_};
    const auto found = channels_.find(channel);
    if (found == channels_.end()) {
      return 0;
    }
    // *3 $7 message $<channel> $<message>: what Redis pushes to a subscriber.
    frame.clear();
    reply::array(frame, 3);
    reply::bulk(frame, "message");
    reply::bulk(frame, channel);
    reply::bulk(frame, message);
    // One copy, shared by the subscribers of other loops, made only if there
    // are any: with one loop, publishing allocates nothing.
    std::shared_ptr<const std::string> shared;
    for (subscriber* listener : found->second) {
      if (listener->on_own_thread()) {
        here.push_back(listener);
      } else {
        if (!shared) {
          shared = std::make_shared<const std::string>(frame);
        }
        listener->deliver_later(shared);
      }
    }
    receivers = found->second.size();
  }
  // deliver() may drop a subscriber, but the drop only closes its
  // connection: it leaves the channel later, from connection_lost(), so no
  // subscriber on this thread goes away while we walk the list.
  for (subscriber* listener : here) {
    listener->deliver(frame);
  }
  return receivers;
}

}  // namespace ch13
