// Google Benchmark micro-benchmarks of the hot pieces of sandbox::common:
// the stream reader's framing (what every readline() and read(n) costs once
// the bytes are in memory) and bytes_repr (what every non-quiet chapter
// server pays per message it prints).
//
//   build/release/bench/common_micro_bench
//   build/release/bench/common_micro_bench --benchmark_filter=readline
//
// Run them on the release preset: a Debug build measures the debugger's
// convenience, not the code.
#include "sandbox/bytes_repr.hpp"
#include "sandbox/histogram.hpp"
#include "sandbox/streams.hpp"

#include <benchmark/benchmark.h>

#include <string>

namespace {

// 64 KiB of lines of `line_length` bytes, the last byte of each a '\n'.
std::string lines_of(std::size_t line_length) {
  std::string line(line_length - 1, 'x');
  line += '\n';
  std::string data;
  while (data.size() + line.size() <= 64 * 1024) {
    data += line;
  }
  return data;
}

// Tells Google Benchmark how many bytes the loop went through, for its
// bytes/s column.
void count_bytes(benchmark::State& state, std::size_t bytes_per_iteration) {
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes_per_iteration));
}

// Feeds `data` to a reader in `chunk`-byte pieces, the way a transport
// hands over what each read brought, and reads it all back with `read_all`.
template <typename ReadAll>
void feed_and_read(benchmark::State& state, const std::string& data, std::size_t chunk,
                   ReadAll read_all) {
  asio::io_context context{1};
  for (auto _ : state) {
    sandbox::stream_reader reader{context.get_executor()};
    for (std::size_t at = 0; at < data.size(); at += chunk) {
      reader.feed_data(std::string_view{data}.substr(at, chunk));
    }
    reader.feed_eof();
    asio::co_spawn(context, read_all(reader), asio::detached);
    context.restart();
    context.run();
  }
  count_bytes(state, data.size());
}

// (Not `while (!(co_await reader.readline()).empty())`: GCC 12 mishandles
// the temporary of a co_await inside a loop condition and crashes.)
asio::awaitable<void> read_lines(sandbox::stream_reader reader) {
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty()) {
      co_return;
    }
  }
}

asio::awaitable<void> read_blocks(sandbox::stream_reader reader) {
  for (;;) {
    const std::string block = co_await reader.read(8192);
    if (block.empty()) {
      co_return;
    }
  }
}

// readline() over lines of 16 bytes to 4 KiB, the data arriving in 1 KiB
// pieces (so short lines are mostly already buffered, long ones span pieces).
void readline(benchmark::State& state) {
  const auto data = lines_of(static_cast<std::size_t>(state.range(0)));
  feed_and_read(state, data, 1024, read_lines);
  const auto lines = data.size() / static_cast<std::size_t>(state.range(0));
  state.counters["lines/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(lines),
      benchmark::Counter::kIsRate);
}
BENCHMARK(readline)->Arg(16)->Arg(128)->Arg(1024)->Arg(4096);

// read(8192), chapter 02's loop, with the data arriving in 64 KiB pieces
// (the transport's read size).
void read_8192(benchmark::State& state) {
  feed_and_read(state, lines_of(1024), 64 * 1024, read_blocks);
}
BENCHMARK(read_8192);

// Chapter 02's echo without the network: a coroutine waits in read(8192);
// a handler on the same loop feeds it 1 KiB, as the transport's
// data_received() does; the read wakes up, takes it, and waits again. Per
// iteration: one wait, one wake-up, one read (and the post of the feeding
// handler, the same for any reader).
asio::awaitable<void> count_reads(sandbox::stream_reader reader, std::size_t& reads) {
  for (;;) {
    const std::string block = co_await reader.read(8192);
    if (block.empty()) {
      co_return;
    }
    ++reads;
  }
}

void wake_up_and_read(benchmark::State& state) {
  asio::io_context context{1};
  sandbox::stream_reader reader{context.get_executor()};
  std::size_t reads = 0;
  asio::co_spawn(context, count_reads(reader, reads), asio::detached);
  context.poll();  // The read is waiting.
  const std::string message(1024, 'x');
  for (auto _ : state) {
    asio::post(context, [&] { reader.feed_data(message); });
    context.poll();  // Until the read waits again.
  }
  reader.feed_eof();
  context.run();
  if (reads != static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("a piece was not read");
  }
  count_bytes(state, message.size());
}
BENCHMARK(wake_up_and_read);

// bytes_repr() of 1 KiB: printable text (copied through) and binary
// (every byte escaped as \xNN), the two ends of its cost.
void bytes_repr_text(benchmark::State& state) {
  const std::string data(1024, 'a');
  for (auto _ : state) {
    benchmark::DoNotOptimize(sandbox::bytes_repr(data));
  }
  count_bytes(state, data.size());
}
BENCHMARK(bytes_repr_text);

void bytes_repr_binary(benchmark::State& state) {
  std::string data(1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>(128 + i % 128);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(sandbox::bytes_repr(data));
  }
  count_bytes(state, data.size());
}
BENCHMARK(bytes_repr_binary);

// One latency sample: chapter 04 records one per reply.
void histogram_record(benchmark::State& state) {
  sandbox::latency_histogram histogram;
  std::int64_t value = 1;
  for (auto _ : state) {
    histogram.record(std::chrono::nanoseconds{value});
    value = value * 1103515245 % 1'000'000'007;  // Spread over the buckets.
  }
  benchmark::DoNotOptimize(histogram.count());
}
BENCHMARK(histogram_record);

}  // namespace

BENCHMARK_MAIN();
