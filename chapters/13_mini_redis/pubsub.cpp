/// \file
/// \brief Publish/subscribe (pubsub.hpp).
#include "pubsub.hpp"

#include "reply.hpp"

#include <algorithm>

namespace ch13 {

bool pubsub::subscribe(subscriber& who, const std::string& channel) {
  auto& listeners = channels_[channel];
  if (std::ranges::find(listeners, &who) != listeners.end()) {
    return false;
  }
  listeners.push_back(&who);
  return true;
}

bool pubsub::unsubscribe(subscriber& who, const std::string& channel) {
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
  const auto found = channels_.find(channel);
  if (found == channels_.end()) {
    return 0;
  }
  // *3 $7 message $<channel> $<message>: what Redis pushes to a subscriber.
  frame_.clear();
  reply::array(frame_, 3);
  reply::bulk(frame_, "message");
  reply::bulk(frame_, channel);
  reply::bulk(frame_, message);
  // deliver() may drop a subscriber, but the drop only closes its
  // connection: it leaves the channel later, from connection_lost(), so the
  // list is not changed while we walk it.
  const auto& listeners = found->second;
  for (subscriber* listener : listeners) {
    listener->deliver(frame_);
  }
  return listeners.size();
}

}  // namespace ch13
