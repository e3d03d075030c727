/// \file
/// \brief How the streams work: the reader's buffer and its waits
/// (`readline()`, `readuntil()`), `feed_data()` and flow control, the writer's
/// `drain()`.
#include "sandbox/streams.hpp"

#include "sandbox/address.hpp"
#include "sandbox/connect.hpp"
#include "sandbox/console.hpp"

#include <algorithm>
#include <limits>

namespace sandbox {

// --- Errors ----------------------------------------------------------------

namespace {

std::string incomplete_message(std::size_t got, std::optional<std::size_t> expected) {
  std::string message = std::to_string(got) + " bytes read on a total of ";
  message += expected ? std::to_string(*expected) + " expected bytes" : "undefined expected bytes";
  return message;  // asyncio's wording, so the two consoles match.
}

// A timer that never expires is the classic Asio "condition variable" for
// coroutines on one strand: a waiter awaits it, and cancel() wakes every
// waiter. Nothing else needs locking, because everything that touches the
// stream runs on the connection's strand.
asio::steady_timer make_waiter(const asio::any_io_executor& executor) {
  return asio::steady_timer{executor, asio::steady_timer::time_point::max()};
}

asio::awaitable<void> wait_on(asio::steady_timer& waiter) {
  // Cancellation is the wake-up, so its "error" is expected.
  [[maybe_unused]] auto [error] = co_await waiter.async_wait(as_tuple_awaitable);
}

}  // namespace

incomplete_read_error::incomplete_read_error(std::string partial,
                                             std::optional<std::size_t> expected)
    : std::runtime_error{incomplete_message(partial.size(), expected)},
      partial_{std::move(partial)},
      expected_{expected} {}

limit_overrun_error::limit_overrun_error(const std::string& message, std::size_t consumed)
    : std::runtime_error{message}, consumed_{consumed} {}

// --- stream_reader ---------------------------------------------------------

struct stream_reader::state {
  state(const asio::any_io_executor& executor, std::size_t buffer_limit)
      : limit{buffer_limit}, waiter{make_waiter(executor)} {}

  // The buffer is data[begin..]: consuming from the front only moves begin,
  // so reading many short lines does not shift the whole buffer each time.
  std::string data;
  static constexpr std::size_t kept_capacity = 4 * 1024;  // See take().
  std::size_t begin = 0;
  bool eof = false;
  std::error_code error;
  std::size_t limit;
  asio::steady_timer waiter;
  bool waiting = false;
  std::weak_ptr<sandbox::transport> source;  // The transport feeding us, for flow control.
  bool transport_paused = false;

  [[nodiscard]] std::string_view buffered() const noexcept {
    return std::string_view{data}.substr(begin);
  }

  std::string take(std::size_t count) {
    std::string out{buffered().substr(0, count)};
    begin += out.size();
    if (begin == data.size()) {
      // Emptied. clear() alone would keep the capacity: a connection that
      // once sent a 64 KiB line would hold 64 KiB for the rest of its life,
      // idle or not. A small buffer is kept (the next short line needs no
      // allocation); a large one goes back to the allocator.
      if (data.capacity() > kept_capacity) {
        std::string{}.swap(data);
      } else {
        data.clear();
      }
      begin = 0;
    } else if (begin > data.size() / 2) {
      data.erase(0, begin);  // Compact now and then; amortised O(1) per byte.
      begin = 0;
    }
    maybe_resume_transport();
    return out;
  }

  void wake() {
    if (waiting) {
      waiter.cancel();
    }
  }

  void maybe_resume_transport() {
    if (transport_paused && buffered().size() <= limit) {
      transport_paused = false;
      if (auto t = source.lock()) {
        t->resume_reading();
      }
    }
  }

  void throw_if_failed() const {
    if (error) {
      throw std::system_error{error, "connection lost"};
    }
  }

  // asyncio's _wait_for_data(): at most one coroutine may wait for data.
  asio::awaitable<void> wait_for_data(std::string_view caller) {
    if (waiting) {
      throw std::logic_error{std::string{caller} +
                             "() called while another coroutine is already waiting for "
                             "incoming data"};
    }
    // Asked for more than is buffered: a paused transport must deliver
    // again, or we would wait forever.
    if (transport_paused) {
      transport_paused = false;
      if (auto t = source.lock()) {
        t->resume_reading();
      }
    }
    waiting = true;
    co_await wait_on(waiter);
    waiting = false;
  }
};

stream_reader::stream_reader(const asio::any_io_executor& executor, std::size_t limit)
    : state_{std::make_shared<state>(executor, limit)} {
  if (limit == 0) {
    throw std::invalid_argument{"stream_reader limit must be positive"};
  }
}

void stream_reader::feed_data(std::string_view data) {
  if (data.empty()) {
    return;
  }
  state_->data += data;
  state_->wake();
  // Above twice the limit, stop the transport: the kernel buffers fill and
  // TCP makes the sender wait. (asyncio's StreamReader does the same.)
  if (!state_->transport_paused && state_->buffered().size() > 2 * state_->limit) {
    if (auto t = state_->source.lock()) {
      t->pause_reading();
      state_->transport_paused = true;
    }
  }
}

void stream_reader::feed_eof() {
  state_->eof = true;
  state_->wake();
}

void stream_reader::set_exception(std::error_code error) {
  state_->error = error;
  state_->wake();
}

void stream_reader::set_transport(std::weak_ptr<transport> transport) {
  state_->source = std::move(transport);
}

bool stream_reader::at_eof() const noexcept {
  return state_->eof && state_->buffered().empty();
}

std::size_t stream_reader::limit() const noexcept { return state_->limit; }

asio::awaitable<std::string> stream_reader::read(std::size_t max_bytes) {
  // Keep the state alive across suspensions even if the caller drops its
  // copy of the handle meanwhile.
  const auto s = state_;
  s->throw_if_failed();
  if (max_bytes == 0) {
    co_return std::string{};
  }
  while (s->buffered().empty() && !s->eof) {
    co_await s->wait_for_data("read");
    s->throw_if_failed();
  }
  co_return s->take(max_bytes);
}

asio::awaitable<std::string> stream_reader::read() {
  // asyncio reads limit-sized blocks until an empty one: end of file.
  std::string all;
  for (;;) {
    std::string block = co_await read(limit());
    if (block.empty()) {
      co_return all;
    }
    all += block;
  }
}

asio::awaitable<std::string> stream_reader::readline() {
  constexpr std::string_view separator = "\n";
  std::optional<limit_overrun_error> overrun;
  try {
    co_return co_await readuntil(separator);
  } catch (const incomplete_read_error& error) {
    co_return error.partial();  // The last line of a stream may lack "\n".
  } catch (const limit_overrun_error& error) {
    overrun = error;  // (No co_await is allowed inside a handler.)
  }
  // Too long: drop the line (through its "\n" if it arrived), so that the
  // next readline() starts afresh, then report it.
  const auto s = state_;
  if (s->buffered().substr(overrun->consumed()).starts_with(separator)) {
    s->take(overrun->consumed() + separator.size());
  } else {
    s->take(s->buffered().size());
  }
  throw *overrun;
}

asio::awaitable<std::string> stream_reader::readuntil(std::string_view separator) {
  if (separator.empty()) {
    throw std::invalid_argument{"readuntil() separator must not be empty"};
  }
  const auto s = state_;
  s->throw_if_failed();
  // `offset` is where the next search starts: bytes before it were searched
  // already, so a separator split across two arrivals is still found, and
  // each byte is examined about once.
  std::size_t offset = 0;
  std::size_t found = std::string_view::npos;
  for (;;) {
    const std::string_view buffered = s->buffered();
    if (buffered.size() >= offset + separator.size()) {
      found = buffered.find(separator, offset);
      if (found != std::string_view::npos) {
        break;
      }
      offset = buffered.size() + 1 - separator.size();
      if (offset > s->limit) {
        throw limit_overrun_error{"Separator is not found, and chunk exceed the limit", offset};
      }
    }
    if (s->eof) {
      throw incomplete_read_error{s->take(buffered.size()), std::nullopt};
    }
    co_await s->wait_for_data("readuntil");
    s->throw_if_failed();
  }
  if (found > s->limit) {
    throw limit_overrun_error{"Separator is found, but chunk is longer than limit", found};
  }
  co_return s->take(found + separator.size());
}

asio::awaitable<std::string> stream_reader::readexactly(std::size_t count) {
  const auto s = state_;
  s->throw_if_failed();
  while (s->buffered().size() < count) {
    if (s->eof) {
      throw incomplete_read_error{s->take(s->buffered().size()), count};
    }
    co_await s->wait_for_data("readexactly");
    s->throw_if_failed();
  }
  co_return s->take(count);
}

// --- The protocol under the streams ----------------------------------------

namespace detail {

/// asyncio's StreamReaderProtocol: feeds the reader from the transport's
/// callbacks and tells the writer when it may write on and when it is over.
class stream_protocol final : public protocol {
 public:
  stream_protocol(const asio::any_io_executor& executor, std::size_t limit)
      : reader_{executor, limit}, changed_{make_waiter(executor)} {}

  stream_reader& reader() noexcept { return reader_; }

  void connection_made(transport& t) override { reader_.set_transport(t.weak_from_this()); }
  void data_received(std::string_view data) override { reader_.feed_data(data); }

  bool eof_received() override {
    reader_.feed_eof();
    return true;  // Keep the connection half-open: our side may still write.
  }

  void connection_lost(std::error_code error) override {
    if (error) {
      reader_.set_exception(error);
    } else {
      reader_.feed_eof();
    }
    error_ = error;
    lost_ = true;
    changed_.cancel();
  }

  void pause_writing() override { paused_ = true; }

  void resume_writing() override {
    paused_ = false;
    changed_.cancel();
  }

  asio::awaitable<void> drain() {
    while (!lost_ && paused_) {
      co_await wait_on(changed_);
    }
    if (lost_) {
      // As asyncio's drain(): writing to a connection that is gone fails.
      throw std::system_error{error_ ? error_ : make_error_code(std::errc::connection_reset),
                              "connection lost"};
    }
  }

  asio::awaitable<void> wait_closed() {
    while (!lost_) {
      co_await wait_on(changed_);
    }
    if (error_) {
      throw std::system_error{error_, "connection lost"};
    }
  }

 private:
  stream_reader reader_;
  // Wakes drain() and wait_closed() when writing resumes or the connection
  // is lost. One timer serves both (each waiter checks its own condition
  // and waits again if it is not met): a timer is 120 bytes, and every
  // connection has one of these.
  asio::steady_timer changed_;
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

asio::awaitable<void> stream_writer::drain() {
  const auto stream = stream_;
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
