/// \file
/// Chapter 10: the troublemaker, a client that misbehaves on purpose. Its
/// page is chapters/10_troublemaker/README.md.
//
//
// Every server so far trusted its clients to behave. This client does not,
// in one way per --mode, and says what it observes, with the time since it
// started:
//
//   never-reads   sends and never reads: does the server push back?
//                 (--then-read: then reads everything back and checks it)
//   slow-reader   sends, but reads only --rate bytes a second, saying how
//                 far it got once a second
//   idle          connects and says nothing: is it ever closed?
//                 (idle, trickle, long-line and flood wait --duration seconds)
//   flood         opens --connections connections at once and holds them
//   trickle       sends one byte a second, a line that never ends
//   long-line     sends one line of --bytes bytes: is it refused?
//   reset         sends half of --bytes, then resets the connection (RST)
//
// Run a server, then e.g.: ch10_troublemaker --mode never-reads --then-read
#include "sandbox/asio.hpp"
#include "sandbox/connect.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <string_view>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using sandbox::tcp;
using clock_type = std::chrono::steady_clock;

enum class mode { never_reads, slow_reader, idle, flood, trickle, long_line, reset };

struct trouble_options {
  mode what = mode::never_reads;
  std::size_t bytes = 64 * 1024 * 1024;
  bool then_read = false;
  // slow-reader's pace: 64 MiB at 32 MiB a second takes 2 s, and is still far
  // slower than the sender, so the server must hold back (at 1 KiB a second
  // the default 64 MiB would take 18 hours).
  std::size_t rate = 32 * 1024 * 1024;
  std::size_t connections = 100;
  double duration = 10.0;
};

const clock_type::time_point started = clock_type::now();

// One observation: "[  1.25 s] text".
template <typename... Args>
void observe(const Args&... args) {
  const std::chrono::duration<double> since = clock_type::now() - started;
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "[%6.2f s] ", since.count());
  sandbox::println(stamp, args...);
}

// "512 bytes", "3.2 MiB".
std::string size(std::uint64_t bytes) {
  if (bytes < 1024 * 1024) {
    return std::to_string(bytes) + " bytes";
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// The bytes this client sends. Each 8-byte word is a 64-bit mix of its index
// (splitmix64's finaliser), so the stream never repeats (not within 2^64
// words): a byte lost, doubled or reordered anywhere shifts what follows, and
// the check fails at the first shifted byte that differs (each one matches by
// chance 1 time in 256, so within a few bytes). A simpler `offset % 251`
// pattern would repeat every 251 bytes and miss a block of 251 doubled.
std::uint64_t mix(std::uint64_t word) {
  word += 0x9e3779b97f4a7c15U;
  word = (word ^ (word >> 30U)) * 0xbf58476d1ce4e5b9U;
  word = (word ^ (word >> 27U)) * 0x94d049bb133111ebU;
  return word ^ (word >> 31U);
}

char pattern_at(std::uint64_t offset) {
  return static_cast<char>(mix(offset / 8) >> (8 * (offset % 8)));
}

void fill(std::vector<char>& chunk, std::uint64_t offset) {
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    chunk[i] = pattern_at(offset + i);
  }
}

// Throws unless the `got` bytes just received at `received` are what was sent there.
void check_echo(const char* data, std::size_t got, std::uint64_t received) {
  for (std::size_t i = 0; i < got; ++i) {
    if (data[i] != pattern_at(received + i)) {
      throw std::runtime_error{"the echo differs from what was sent at byte " +
                               std::to_string(received + i)};
    }
  }
}

asio::awaitable<void> sleep_for(clock_type::duration how_long) {
  asio::steady_timer timer{co_await asio::this_coro::executor, how_long};
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> sleep_until(clock_type::time_point when) {
  asio::steady_timer timer{co_await asio::this_coro::executor, when};
  co_await timer.async_wait(asio::use_awaitable);
}

// Sends the pattern from `offset` until `total` bytes are sent or nothing
// moves for `stall`; returns the new offset. `progress`, if given, follows
// the offset as it goes (for a progress line printed by another coroutine).
asio::awaitable<std::uint64_t> send_until_stalled(tcp::socket& socket, std::uint64_t offset,
                                                  std::uint64_t total,
                                                  clock_type::duration stall,
                                                  std::uint64_t* progress = nullptr) {
  std::vector<char> chunk(64 * 1024);
  socket.non_blocking(true);
  while (offset < total) {
    chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(64 * 1024, total - offset)));
    fill(chunk, offset);
    std::error_code error;
    const std::size_t sent = socket.write_some(asio::buffer(chunk), error);
    if (!error) {
      offset += sent;
      if (progress != nullptr) {
        *progress = offset;
      }
      continue;
    }
    if (error != asio::error::would_block) {
      throw std::system_error{error, "send"};
    }
    // Wait until the socket can take more, or give up after `stall`.
    asio::steady_timer timer{socket.get_executor(), stall};
    const auto which = co_await (socket.async_wait(tcp::socket::wait_write, asio::use_awaitable) ||
                                 timer.async_wait(asio::use_awaitable));
    if (which.index() == 1) {
      break;
    }
  }
  co_return offset;
}

// How fast read_and_check() may read: at most `rate` bytes a second, saying
// once a second how far both sides got (`sent` is the sender's count).
struct pace {
  std::uint64_t rate;
  const std::uint64_t* sent;
};

// Reads everything until end of file, checking the pattern; returns the count.
// With a pace it reads no faster than the pace's rate: after each read it
// sleeps until the bytes read so far are due (received / rate seconds after
// the start). Its progress line shows a long run is alive, and the gap between
// "sent" and "read" is what the server and the kernels hold for it.
asio::awaitable<std::uint64_t> read_and_check(tcp::socket& socket,
                                              std::optional<pace> paced = std::nullopt) {
  std::vector<char> buffer(
      paced ? static_cast<std::size_t>(std::min<std::uint64_t>(paced->rate, 64 * 1024))
            : 256 * 1024);
  const auto start = clock_type::now();
  auto next_report = start + 1s;
  std::uint64_t received = 0;
  for (;;) {
    auto [error, got] = co_await socket.async_read_some(asio::buffer(buffer),
                                                        sandbox::as_tuple_awaitable);
    if (error == asio::error::eof) {
      co_return received;
    }
    if (error) {
      throw std::system_error{error, "receive"};
    }
    check_echo(buffer.data(), got, received);
    received += got;
    if (!paced) {
      continue;
    }
    co_await sleep_until(start + sandbox::seconds(static_cast<double>(received) /
                                         static_cast<double>(paced->rate)));
    if (clock_type::now() >= next_report) {
      observe("read ", size(received), " so far; sent ", size(*paced->sent));
      next_report += 1s;
    }
  }
}

// send_until_stalled(), then the end of what this client sends (a half
// close), so that the echo ends with end of file once everything is back.
asio::awaitable<void> send_then_finish(tcp::socket& socket, std::uint64_t offset,
                                       std::uint64_t total, clock_type::duration stall,
                                       std::uint64_t* progress = nullptr) {
  co_await send_until_stalled(socket, offset, total, stall, progress);
  socket.shutdown(tcp::socket::shutdown_send);
}

asio::awaitable<void> never_reads(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  observe("connected; sending ", size(options.bytes), " and reading nothing");
  const std::uint64_t sent = co_await send_until_stalled(socket, 0, options.bytes, 1s);
  if (sent < options.bytes) {
    observe("stalled after ", size(sent), ": for 1 s the server took nothing more (it pushed back)");
  } else {
    observe("sent all ", size(sent), ": nothing pushed back");
  }
  if (!options.then_read) {
    co_return;
  }
  observe("now reading, while sending the rest");
  // `&&` runs both at once and waits for both (a void result is dropped).
  const std::uint64_t received =
      co_await (send_then_finish(socket, sent, options.bytes, 60s) && read_and_check(socket));
  observe("read back ", size(received), received == options.bytes ? ", every byte in order" : ", not all of it");
}

asio::awaitable<void> slow_reader(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  observe("connected; sending ", size(options.bytes), ", reading ", size(options.rate),
          " a second");
  // Both coroutines below run on this program's one thread: `sent` needs no lock.
  std::uint64_t sent = 0;
  const std::uint64_t received =
      co_await (send_then_finish(socket, 0, options.bytes, 3600s, &sent) &&
                read_and_check(socket, pace{options.rate, &sent}));
  observe("read back ", size(received), ", every byte in order");
}

// Holds back what watch_for_close() reports until another coroutine says
// so (see long_line()). Both run on this program's one thread: no lock.
class report_gate {
 public:
  explicit report_gate(const asio::any_io_executor& executor)
      : opened_{executor, asio::steady_timer::time_point::max()} {}

  void open() {
    is_open_ = true;
    opened_.cancel();  // Wakes a wait in progress; a later wait sees is_open_.
  }

  asio::awaitable<void> wait() {
    if (!is_open_) {
      co_await opened_.async_wait(sandbox::as_tuple_awaitable);
    }
  }

 private:
  asio::steady_timer opened_;
  bool is_open_ = false;
};

// Reads whatever the server sends until it closes the connection or
// --duration passes. With `show_first_line`, prints the start of the first
// thing it says (for modes where it is the server's own words, not an echo).
// With a `gate`, what the server said and how it closed are printed only
// once the gate opens (what --duration ends is printed at once).
asio::awaitable<void> watch_for_close(tcp::socket& socket, const trouble_options& options,
                                      bool show_first_line, report_gate* gate = nullptr) {
  asio::steady_timer deadline{socket.get_executor(), sandbox::seconds(options.duration)};
  std::uint64_t received = 0;
  std::array<char, 4096> buffer{};
  for (;;) {
    auto which = co_await (socket.async_read_some(asio::buffer(buffer), sandbox::as_tuple_awaitable) ||
                           deadline.async_wait(sandbox::as_tuple_awaitable));
    if (which.index() == 1) {
      observe("still open after ", options.duration, " s; the server sent ", size(received));
      co_return;
    }
    const auto [error, got] = std::get<0>(which);
    if (gate != nullptr) {
      co_await gate->wait();
    }
    if (got > 0) {
      if (show_first_line && received == 0) {
        const std::string_view text{buffer.data(), got};
        observe("the server says: ", text.substr(0, std::min(text.find('\n'), std::size_t{100})));
      }
      received += got;
      continue;
    }
    observe("closed by the server (", error == asio::error::eof ? "end of file" : error.message(),
            ") after it sent ", size(received));
    co_return;
  }
}

asio::awaitable<void> idle(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  observe("connected; saying nothing");
  co_await watch_for_close(socket, options, true);
}

asio::awaitable<void> trickle(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  observe("connected; sending one byte a second, no newline");
  const auto drip = [](tcp::socket& s) -> asio::awaitable<void> {
    for (char c = 'a';; c = c == 'z' ? 'a' : static_cast<char>(c + 1)) {
      auto [error, n] = co_await asio::async_write(s, asio::buffer(&c, 1), sandbox::as_tuple_awaitable);
      if (error) {
        co_return;
      }
      co_await sleep_for(1s);
    }
  };
  co_await (drip(socket) || watch_for_close(socket, options, false));
}

asio::awaitable<void> long_line(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  observe("connected; sending a line of ", options.bytes, " bytes");
  // The server may refuse the line, and close, before our last byte has
  // left: its answer races the end of our send, and which one we hear of
  // first varies from run to run. So the watcher reads at once (a server
  // that stops reading must not deadlock us) but reports only after the
  // send's own line: the story then reads in the same order every time.
  report_gate line_sent{socket.get_executor()};
  const auto send_line = [&line_sent](tcp::socket& s, std::size_t length) -> asio::awaitable<void> {
    std::string line(length, 'x');
    line += '\n';
    auto [error, n] = co_await asio::async_write(s, asio::buffer(line), sandbox::as_tuple_awaitable);
    observe(error ? "the server stopped taking the line after " : "sent the whole line: ",
            size(n));
    line_sent.open();
  };
  co_await (send_line(socket, options.bytes) && watch_for_close(socket, options, true, &line_sent));
}

asio::awaitable<void> reset(sandbox::client_options where, trouble_options options) {
  auto socket = co_await sandbox::connect(where.host, where.port);
  const std::uint64_t sent = co_await send_until_stalled(socket, 0, options.bytes / 2, 1s);
  // SO_LINGER with a zero timeout: close() sends RST instead of FIN, and
  // the server's pending reads and writes fail with "connection reset".
  socket.set_option(asio::socket_base::linger{true, 0});
  socket.close();
  observe("reset the connection after sending ", size(sent), " of ", size(options.bytes));
}

asio::awaitable<void> flood(sandbox::client_options where, trouble_options options) {
  std::vector<tcp::socket> held;
  std::size_t refused = 0;
  for (std::size_t i = 0; i < options.connections; ++i) {
    try {
      held.push_back(co_await sandbox::connect(where.host, where.port));
    } catch (const std::system_error&) {
      ++refused;
    }
  }
  observe(held.size(), " connections open, ", refused, " refused; holding them ", options.duration, " s");
  co_await sleep_for(sandbox::seconds(options.duration));
  // Now look at each one without waiting: what did the server say to it,
  // and did it close it?
  std::size_t closed = 0;
  std::size_t told = 0;
  std::string first_words;
  for (auto& socket : held) {
    socket.non_blocking(true);
    std::array<char, 512> buffer{};
    std::string said;
    std::error_code error;
    for (;;) {
      const std::size_t got = socket.read_some(asio::buffer(buffer), error);
      said.append(buffer.data(), got);
      if (error) {
        break;
      }
    }
    if (error != asio::error::would_block) {
      ++closed;  // End of file or reset: the server let it go.
    }
    if (!said.empty() && told++ == 0) {
      first_words = said.substr(0, std::min(said.find('\n'), std::size_t{100}));
    }
  }
  if (told > 0) {
    observe("the server said something to ", told, " of them, first: ", first_words);
  }
  observe(closed, " of them were closed by the server");
}

asio::awaitable<void> make_trouble(sandbox::client_options where, trouble_options options) {
  switch (options.what) {
    case mode::never_reads: co_await never_reads(where, options); break;
    case mode::slow_reader: co_await slow_reader(where, options); break;
    case mode::idle: co_await idle(where, options); break;
    case mode::flood: co_await flood(where, options); break;
    case mode::trickle: co_await trickle(where, options); break;
    case mode::long_line: co_await long_line(where, options); break;
    case mode::reset: co_await reset(where, options); break;
  }
}

}  // namespace

/// Parses the command line, then misbehaves once, as --mode says.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 10: a client that misbehaves on purpose"};
  const auto& where = cli.add_client_options();
  trouble_options options;
  const std::map<std::string, mode> modes{
      {"never-reads", mode::never_reads}, {"slow-reader", mode::slow_reader},
      {"idle", mode::idle},               {"flood", mode::flood},
      {"trickle", mode::trickle},         {"long-line", mode::long_line},
      {"reset", mode::reset}};
  std::string chosen;
  cli.app().add_option("--mode", chosen, "never-reads, slow-reader, idle, flood, trickle, "
                                         "long-line or reset")
      ->required()->check(CLI::IsMember(modes));
  cli.app().add_option("--bytes", options.bytes, "Bytes to send (never-reads, slow-reader, "
                                                 "long-line, reset)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))->capture_default_str();
  cli.app().add_flag("--then-read", options.then_read,
                     "never-reads: afterwards, read everything back and check it");
  cli.app().add_option("--rate", options.rate, "slow-reader: bytes read per second")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))->capture_default_str();
  cli.app().add_option("--connections", options.connections, "flood: connections to open")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))->capture_default_str();
  cli.app().add_option("--duration", options.duration,
                       "idle, trickle, flood: seconds to wait for the server")
      ->check(sandbox::seconds_between(0, 86400))->capture_default_str();
  cli.parse(argc, argv);
  options.what = modes.at(chosen);

  return sandbox::run([&] { return make_trouble(where, options); });
}
