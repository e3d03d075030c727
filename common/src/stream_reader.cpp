/// \file
/// \brief How a stream reader works: its buffer and its waits (`readline()`,
/// `readuntil()`), `feed_data()` and flow control. Nothing here touches the
/// network: the fuzz target and the unit tests feed it by hand.
#include "sandbox/stream_reader.hpp"

#include "sandbox/waiter.hpp"

#include <utility>

namespace sandbox {

// --- Errors ----------------------------------------------------------------

namespace {

std::string incomplete_message(std::size_t got, std::optional<std::size_t> expected) {
  std::string message = std::to_string(got) + " bytes read on a total of ";
  message += expected ? std::to_string(*expected) + " expected bytes" : "undefined expected bytes";
  return message;  // asyncio's wording, so the two consoles match.
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
      : limit{buffer_limit}, arrival{executor} {}

  // The buffer is data[begin..]: consuming from the front only moves begin,
  // so reading many short lines does not shift the whole buffer each time.
  std::string data;
  static constexpr std::size_t kept_capacity = 4 * 1024;  // See take().
  std::size_t begin = 0;
  bool eof = false;
  std::error_code error;
  std::size_t limit;
  // What a read waits on when the buffer does not hold what it wants; fed
  // data, end of file and errors wake it. Nothing needs locking, because
  // everything that touches the stream runs on the connection's strand.
  waiter arrival;
  bool waiting = false;  // From a read's wait until it runs again.
  std::weak_ptr<reading_control> source;  // What feeds us (a transport), for flow control.
  bool transport_paused = false;

  [[nodiscard]] std::string_view buffered() const noexcept {
    return std::string_view{data}.substr(begin);
  }

  std::string take(std::size_t count) {
    if (begin == 0 && count >= data.size()) {
      // Everything: the buffer itself becomes the result, no copy. (An echo
      // reading whatever arrived takes this way every time.) The next
      // arrival starts a new buffer, just as the copy would have needed
      // a new string.
      std::string out = std::exchange(data, std::string{});
      maybe_resume_transport();
      return out;
    }
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

  void maybe_resume_transport() {
    if (transport_paused && buffered().size() <= limit) {
      resume_transport();
    }
  }

  void resume_transport() {
    transport_paused = false;
    if (auto t = source.lock()) {
      t->resume_reading();
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
      resume_transport();
    }
    waiting = true;
    co_await arrival.wait();
    waiting = false;
  }
};

stream_reader::stream_reader(const asio::any_io_executor& executor, std::size_t limit)
    : state_{std::make_shared<state>(executor, limit)} {
  if (limit == 0) {
    throw std::invalid_argument{"stream_reader limit must be positive"};
  }
}

//! [feed_data]
void stream_reader::feed_data(std::string_view data) {
  if (data.empty()) {
    return;
  }
  state_->data += data;
  // Above twice the limit, stop the transport: the kernel buffers fill and
  // TCP makes the sender wait. (asyncio's StreamReader does the same.)
  if (!state_->transport_paused && state_->buffered().size() > 2 * state_->limit) {
    if (auto t = state_->source.lock()) {
      t->pause_reading();
      state_->transport_paused = true;
    }
  }
  // Last, once the state is complete: the read may run inside this call
  // (see the header). That saves a trip through the loop's queue per
  // arrival, and lets the coroutine's reply leave in the send that follows
  // data_received() instead of one posted for it.
  state_->arrival.notify();
}
//! [feed_data]

// The end and errors come once per connection, often from inside the
// transport's own ending: the read runs later, from the loop, as any
// handler would.
void stream_reader::feed_eof() {
  state_->eof = true;
  state_->arrival.notify_later();
}

void stream_reader::set_exception(std::error_code error) {
  state_->error = error;
  state_->arrival.notify_later();
}

void stream_reader::set_transport(std::weak_ptr<reading_control> source) {
  state_->source = std::move(source);
}

bool stream_reader::at_eof() const noexcept {
  return state_->eof && state_->buffered().empty();
}

std::size_t stream_reader::limit() const noexcept { return state_->limit; }

//! [read]
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
//! [read]

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

}  // namespace sandbox
