// libFuzzer target: the stream reader's framing, fed arbitrary bytes split
// at arbitrary points.
//
// The stream reader turns arrivals of any size into lines, separated
// chunks, or fixed-size pieces. Its bugs hide where arrivals split a
// separator, where a line meets the limit, and at end of file. Each input is
// read as a small plan:
//
//   byte 0      the reader's limit: 1 to 64 bytes, small so that lines overrun it
//   byte 1      how to read: bits 0-1 pick readline, readuntil("\r\n"),
//               read(n) or readexactly(n); n = 1 + (byte 1 >> 2) % 32
//   then        arrivals: a length byte L and the next L bytes, again and
//               again; then end of file
//
// and the bytes read must match the bytes fed, exactly where the reader's
// contract says they must (see check_* below). Any mismatch, hang or
// unexpected exception aborts, and libFuzzer saves the input.
//
// Build and run: ./scripts/sandbox.sh fuzz (clang, Debian's libclang-rt-14-dev).
#include "sandbox/stream_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

enum class mode { readline, readuntil, read, readexactly };

struct plan {
  std::size_t limit = 1;
  mode how = mode::readline;
  std::size_t n = 1;
  std::vector<std::string> arrivals;
  std::string stream;  // Every arrival, in order: what the reader must account for.
};

plan parse(const std::uint8_t* data, std::size_t size) {
  plan p;
  p.limit = 1 + data[0] % 64;
  p.how = static_cast<mode>(data[1] & 3);
  p.n = 1 + (data[1] >> 2) % 32;
  std::size_t at = 2;
  while (at < size) {
    const std::size_t length = std::min<std::size_t>(data[at], size - at - 1);
    p.arrivals.emplace_back(reinterpret_cast<const char*>(data + at + 1), length);
    p.stream += p.arrivals.back();
    at += 1 + length;
  }
  return p;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "stream_reader_fuzz: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) {
    fail(what);
  }
}

// The feeder: one arrival at a time, letting the reader run in between, as
// a transport would.
asio::awaitable<void> feed(sandbox::stream_reader reader, const plan& p) {
  const auto executor = co_await asio::this_coro::executor;
  for (const auto& arrival : p.arrivals) {
    reader.feed_data(arrival);
    co_await asio::post(executor, asio::use_awaitable);
  }
  reader.feed_eof();
}

// read(n): pieces of 1 to n bytes, then "" at end of file; nothing lost.
asio::awaitable<std::string> check_read(sandbox::stream_reader reader, const plan& p) {
  std::string out;
  for (;;) {
    std::string piece = co_await reader.read(p.n);
    require(piece.size() <= p.n, "read(n) returned more than n bytes");
    if (piece.empty()) {
      co_return out;
    }
    out += piece;
  }
}

// readexactly(n): whole pieces, then a shorter partial one at end of file.
asio::awaitable<std::string> check_readexactly(sandbox::stream_reader reader, const plan& p) {
  std::string out;
  for (;;) {
    std::string partial;
    try {
      std::string piece = co_await reader.readexactly(p.n);
      require(piece.size() == p.n, "readexactly(n) returned other than n bytes");
      out += piece;
      continue;
    } catch (const sandbox::incomplete_read_error& error) {
      require(error.partial().size() < p.n, "incomplete_read_error with a whole piece");
      require(error.expected() == p.n, "incomplete_read_error expected the wrong count");
      partial = error.partial();
    }
    co_return out + partial;
  }
}

// readuntil(sep): each chunk ends at the first separator and is within the
// limit; an overrun leaves the bytes in the buffer, and `consumed` of them
// can be skipped. Nothing is lost.
asio::awaitable<std::string> check_readuntil(sandbox::stream_reader reader, const plan& p) {
  constexpr std::string_view separator = "\r\n";
  std::string out;
  for (;;) {
    std::size_t skip = 0;
    std::string rest;
    bool ended = false;
    try {
      std::string chunk = co_await reader.readuntil(separator);
      require(chunk.ends_with(separator), "readuntil() chunk without its separator");
      require(chunk.find(separator) == chunk.size() - separator.size(),
              "readuntil() went past the first separator");
      require(chunk.size() - separator.size() <= p.limit, "readuntil() chunk over the limit");
      out += chunk;
      continue;
    } catch (const sandbox::limit_overrun_error& error) {
      require(error.consumed() > 0, "limit_overrun_error that consumes nothing");
      skip = error.consumed();
    } catch (const sandbox::incomplete_read_error& error) {
      require(error.partial().find(separator) == std::string::npos,
              "incomplete_read_error although a separator was there");
      rest = error.partial();
      ended = true;
    }
    if (ended) {
      co_return out + rest;
    }
    out += co_await reader.readexactly(skip);  // The overrun bytes are still buffered.
  }
}

// readline(): lines within the limit, each ending in "\n" but perhaps the
// last; an over-long line is dropped. When no line is over the limit, the
// lines are the stream exactly, however it was split.
asio::awaitable<std::string> check_readline(sandbox::stream_reader reader, const plan& p) {
  std::string out;
  std::size_t cursor = 0;  // Lines come out in stream order.
  bool overran = false;
  for (;;) {
    std::string line;
    try {
      line = co_await reader.readline();
    } catch (const sandbox::limit_overrun_error&) {
      overran = true;
      continue;
    }
    if (line.empty()) {
      break;
    }
    require(line.size() <= p.limit + 1, "readline() line over the limit");
    const auto newline = line.find('\n');
    require(newline == std::string::npos || newline == line.size() - 1,
            "readline() line with a newline inside");
    const auto found = p.stream.find(line, cursor);
    require(found != std::string::npos, "readline() line not in the stream, in order");
    cursor = found + line.size();
    out += line;
  }
  std::size_t longest = 0;
  for (std::size_t start = 0; start < p.stream.size();) {
    const auto end = p.stream.find('\n', start);
    const auto stop = end == std::string::npos ? p.stream.size() : end;
    longest = std::max(longest, stop - start);
    start = stop + 1;
  }
  if (longest <= p.limit) {
    require(!overran, "readline() overran with every line within the limit");
    co_return out;
  }
  require(overran, "readline() accepted a line over the limit");
  co_return p.stream;  // Bytes were dropped: only the checks above apply.
}

asio::awaitable<std::string> check(sandbox::stream_reader reader, const plan& p) {
  switch (p.how) {
    case mode::read:
      co_return co_await check_read(reader, p);
    case mode::readexactly:
      co_return co_await check_readexactly(reader, p);
    case mode::readuntil:
      co_return co_await check_readuntil(reader, p);
    case mode::readline:
      break;
  }
  co_return co_await check_readline(reader, p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return -1;  // Not a plan: not added to the corpus.
  }
  const plan p = parse(data, size);
  asio::io_context loop{1};
  sandbox::stream_reader reader{loop.get_executor(), p.limit};
  bool finished = false;
  asio::co_spawn(loop, check(reader, p), [&](std::exception_ptr failure, std::string out) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "stream_reader_fuzz: unexpected exception: %s\n", error.what());
      }
      std::abort();
    }
    require(out == p.stream, "the bytes read differ from the bytes fed");
    require(reader.at_eof(), "the reader is not at end of file after reading everything");
    finished = true;
  });
  asio::co_spawn(loop, feed(reader, p), asio::detached);
  loop.run();
  require(finished, "the reader was still waiting after end of file");
  return 0;
}
