/// \file
/// \brief How streams sit on a transport: the stream protocol that feeds the
/// reader and tells the writer when to wait (`drain()`), the writer, and
/// `start_server()` / `open_connection()`. The reader is in stream_reader.cpp.
#include "sandbox/streams.hpp"

#include "sandbox/address.hpp"
#include "sandbox/connect.hpp"
#include "sandbox/console.hpp"
#include "sandbox/waiter.hpp"

namespace sandbox {

// --- The protocol under the streams ----------------------------------------

namespace detail {

/// asyncio's StreamReaderProtocol: feeds the reader from the transport's
/// callbacks and tells the writer when it may write on and when it is over.
/// It is also what the reader pauses when its buffer is full
/// (reading_control): that keeps the reader free of transports.
class stream_protocol final : public protocol,
                              public reading_control,
                              public std::enable_shared_from_this<stream_protocol> {
 public:
  stream_protocol(const asio::any_io_executor& executor, std::size_t limit)
      : reader_{executor, limit}, changed_{executor} {}

  stream_reader& reader() noexcept { return reader_; }

  void connection_made(transport& t) override {
    transport_ = &t;
    reader_.set_transport(std::weak_ptr<reading_control>{shared_from_this()});
  }

  void data_received(std::string_view data) override { reader_.feed_data(data); }

  // The reader's flow control goes to the transport while there is one.
  void pause_reading() override {
    if (transport_ != nullptr) {
      transport_->pause_reading();
    }
  }

  void resume_reading() override {
    if (transport_ != nullptr) {
      transport_->resume_reading();
    }
  }

  bool eof_received() override {
    reader_.feed_eof();
    return true;  // Keep the connection half-open: our side may still write.
  }

  void connection_lost(std::error_code error) override {
    transport_ = nullptr;  // Valid until this returns: not to be used after.
    if (error) {
      reader_.set_exception(error);
    } else {
      reader_.feed_eof();
    }
    error_ = error;
    lost_ = true;
    changed_.notify_later();
  }

  void pause_writing() override { paused_ = true; }

  // Paused, or about to be. A coroutine resumed by feed_data() runs inside
  // data_received(), where the transport owes pause_writing() until the
  // callback returns (protocol.hpp); drain() must see the pause at once,
  // as after a write from anywhere else, so it also looks at the buffer.
  [[nodiscard]] bool must_wait() const noexcept {
    return paused_ || (transport_ != nullptr &&
                       transport_->get_write_buffer_size() > transport_->get_write_buffer_limits().second);
  }

  void resume_writing() override {
    paused_ = false;
    changed_.notify_later();
  }

  /// True when drain() has nothing to wait for and nothing to report.
  [[nodiscard]] bool may_write_on() const noexcept { return !must_wait() && !lost_; }

  asio::awaitable<void> drain() {
    while (!lost_ && must_wait()) {
      co_await changed_.wait();
    }
    if (lost_) {
      // As asyncio's drain(): writing to a connection that is gone fails.
      throw std::system_error{error_ ? error_ : make_error_code(std::errc::connection_reset),
                              "connection lost"};
    }
  }

  asio::awaitable<void> wait_closed() {
    while (!lost_) {
      co_await changed_.wait();
    }
    if (error_) {
      throw std::system_error{error_, "connection lost"};
    }
  }

 private:
  stream_reader reader_;
  transport* transport_ = nullptr;  // From connection_made() to connection_lost().
  // Wakes drain() and wait_closed() when writing resumes or the connection
  // is lost. One waiter serves both (each coroutine checks its own
  // condition and waits again if it is not met). They resume from the
  // loop, not inside the transport's callback: these are rare events, and
  // a coroutine resumed inside connection_lost() would run while the
  // transport is halfway through its ending.
  waiter changed_;
  bool paused_ = false;
  bool lost_ = false;
  std::error_code error_;
};

}  // namespace detail

// --- stream_writer ---------------------------------------------------------

stream_writer::stream_writer(std::shared_ptr<transport> transport,
                             std::shared_ptr<detail::stream_protocol> stream)
    : transport_{std::move(transport)}, stream_{std::move(stream)} {}

void stream_writer::write(std::string_view data) { transport_->write(data); }

void stream_writer::write_owned(std::string data) { transport_->write(std::move(data)); }

asio::awaitable<void> stream_writer::drain() {
  // The usual case, a write buffer under its high-water mark, returns here:
  // an echo calls drain() after every write, and the inner coroutine would
  // cost a frame and a reference count for nothing.
  if (stream_->may_write_on()) {
    co_return;
  }
  const auto stream = stream_;  // Kept alive while we wait, whatever the caller does.
  co_await stream->drain();
}

void stream_writer::write_eof() { transport_->write_eof(); }

void stream_writer::close() { transport_->close(); }

bool stream_writer::is_closing() const noexcept { return transport_->is_closing(); }

asio::awaitable<void> stream_writer::wait_closed() {
  const auto stream = stream_;
  co_await stream->wait_closed();
}

tcp::endpoint stream_writer::get_peername() const { return transport_->get_peername(); }

// --- start_server / open_connection ----------------------------------------

namespace {

// Wires a connected socket into a transport, a stream protocol, a reader and
// a writer: what asyncio does in open_connection and in start_server's
// factory.
std::pair<stream_reader, stream_writer> make_streams(tcp::socket socket, const tcp::endpoint& peer,
                                                     std::size_t limit,
                                                     connection_slot slot) {
  auto stream = std::make_shared<detail::stream_protocol>(socket.get_executor(), limit);
  auto conn = std::make_shared<transport>(std::move(socket), stream, std::move(slot), peer);
  conn->start();
  return {stream->reader(), stream_writer{conn, stream}};
}

// The ways a client can end a connection abruptly: a reset (RST: the
// client's program crashed, or closed with unread data, or SO_LINGER 0),
// seen by a read, or by a write as a broken pipe.
bool is_client_reset(const std::error_code& error) {
  return error == asio::error::connection_reset || error == asio::error::broken_pipe ||
         error == asio::error::connection_aborted;
}

asio::awaitable<void> serve_client(client_connected_callback client_connected,
                                   stream_reader reader, stream_writer writer,
                                   std::shared_ptr<server> owner) {
  // asyncio logs an unhandled exception in a client handler and goes on
  // serving the others; so do we. A reset is the client's doing, and on a
  // busy server a common one: counted always, logged unless the server was
  // told not to (server::set_log_client_resets()).
  std::string failure;
  try {
    co_await client_connected(reader, writer);
  } catch (const std::system_error& error) {
    const bool reset = is_client_reset(error.code());
    if (reset) {
      detail::count_client_reset(*owner);
    }
    if (!reset || owner->logs_client_resets()) {
      failure = error.what();
    }
  } catch (const std::exception& error) {
    failure = error.what();
  }
  if (!failure.empty()) {
    eprintln("error in client handler for ", to_string(writer.get_peername()), ": ", failure);
  }
  writer.close();
}

}  // namespace

asio::awaitable<std::shared_ptr<server>> start_server(client_connected_callback client_connected,
                                                      std::string host, std::uint16_t port,
                                                      std::size_t limit,
                                                      server::executor_picker pick) {
  // A named handler, not a lambda inside the co_await (see create_server()).
  server::connection_handler on_connection =
      [client_connected = std::move(client_connected), limit](
          tcp::socket socket, const tcp::endpoint& peer, connection_slot slot,
          const std::shared_ptr<server>& owner) {
        const auto executor = socket.get_executor();
        asio::dispatch(executor, [=, socket = std::move(socket), slot = std::move(slot)]() mutable {
          auto [reader, writer] = make_streams(std::move(socket), peer, limit, std::move(slot));
          // The client's coroutine runs on the connection's strand, like the
          // transport's callbacks, so the two never race.
          asio::co_spawn(executor, serve_client(client_connected, reader, writer, owner),
                         asio::detached);
        });
      };
  co_return co_await server::listen(std::move(host), port, std::move(on_connection),
                                    std::move(pick));
}

asio::awaitable<std::pair<stream_reader, stream_writer>> open_connection(std::string host,
                                                                         std::uint16_t port,
                                                                         std::size_t limit) {
  auto socket = co_await connect(std::move(host), port);
  // The peer is known once connected; a connection reset already would
  // leave it unknown here, and the first read reports that reset.
  std::error_code ignored;
  const auto endpoint = socket.remote_endpoint(ignored);
  co_return make_streams(std::move(socket), endpoint, limit, {});
}

}  // namespace sandbox
