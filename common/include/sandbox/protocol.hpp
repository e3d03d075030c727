/// \file
/// \brief `asyncio.Protocol`: the callbacks a connection calls as things happen.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

namespace sandbox {

class transport;

/// The C++ counterpart of `asyncio.Protocol`: override the callbacks you need.
///
/// A transport owns the socket and calls these, one at a time and always on
/// the connection's own executor, in this order:
///
///     connection_made  (data_received)*  [eof_received]  connection_lost
///
/// The pause_writing() / resume_writing() pair may come at any point between
/// the first and the last.
///
/// No callback of a connection ever runs inside another one of the same
/// connection. What a callback sets off comes after it returns: when it
/// calls transport::close(), connection_lost() comes later, from the event
/// loop; when it writes past the high-water mark, pause_writing() comes as
/// soon as it returns, before any other callback (so a protocol that writes
/// a lot in one data_received() hears pause_writing() before the next
/// data_received()). A write from outside any callback (a coroutine, a
/// timer) past the mark calls pause_writing() from inside write(), as
/// asyncio's write() always does, so that the writer's very next step (a
/// drain(), say) already knows. (A callback of one connection that writes
/// to another connection is outside the other's callbacks: it may hear that
/// one's pause_writing() from inside its write().)
class protocol {
 public:
  virtual ~protocol() = default;

  /// A connection is up. `transport` stays valid until connection_lost()
  /// returns, so keeping a pointer to it is the usual thing to do.
  virtual void connection_made(transport& transport);

  /// Some bytes arrived. How many per call is up to TCP: a message sent in
  /// one write may arrive in pieces, and several messages may arrive in one.
  /// `data` is valid only during the call; copy what you keep.
  virtual void data_received(std::string_view data);

  /// The peer closed its sending side (it sent FIN). Return `false` (the
  /// default) and the transport closes itself; return `true` to keep the
  /// connection half-open and still write to the peer.
  virtual bool eof_received();

  /// The connection is gone. `error` is empty after an orderly close or
  /// abort, and holds the reason otherwise (for example a connection reset).
  /// Called exactly once, after which the transport is not used again.
  virtual void connection_lost(std::error_code error);

  /// The transport's write buffer rose above its high-water mark: stop
  /// producing data until resume_writing().
  virtual void pause_writing();

  /// The write buffer drained to its low-water mark or below: writing may go on.
  virtual void resume_writing();

 protected:
  /// Only derived protocols are made.
  protocol() = default;
};

/// asyncio's `protocol_factory`: called once per accepted connection, so that
/// every connection has a protocol object of its own.
using protocol_factory = std::function<std::shared_ptr<protocol>()>;

}  // namespace sandbox
