// stream_reader framing, fed by hand as asyncio's own tests feed a
// StreamReader: the event loop is driven step by step with poll(), so each
// test controls exactly which bytes have arrived when a read looks.
#include "sandbox/stream_reader.hpp"
#include "sandbox/streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string>

namespace {

using sandbox::incomplete_read_error;
using sandbox::limit_overrun_error;
using sandbox::stream_reader;

// The outcome of one read, filled in when its coroutine finishes.
struct outcome {
  bool done = false;
  std::string value;
  std::exception_ptr error;

  // Rethrows a failure so EXPECT_THROW can check its type.
  [[nodiscard]] std::string get() const {
    if (error) {
      std::rethrow_exception(error);
    }
    return value;
  }
};

class StreamReader : public ::testing::Test {
 protected:
  // Starts `read` and runs the loop until nothing more can happen without
  // new input.
  std::shared_ptr<outcome> start(asio::awaitable<std::string> read) {
    auto result = std::make_shared<outcome>();
    asio::co_spawn(loop_, std::move(read), [result](std::exception_ptr error, std::string value) {
      result->done = true;
      result->error = error;
      result->value = std::move(value);
    });
    settle();
    return result;
  }

  // Runs a read that must complete with what is already there.
  std::string now(asio::awaitable<std::string> read) {
    const auto result = start(std::move(read));
    EXPECT_TRUE(result->done) << "the read is still waiting for data";
    return result->get();
  }

  void feed(std::string_view data) {
    reader_.feed_data(data);
    settle();
  }

  void feed_eof() {
    reader_.feed_eof();
    settle();
  }

  void settle() {
    loop_.restart();
    loop_.poll();
  }

  asio::io_context loop_;
  stream_reader reader_{loop_.get_executor(), 16};  // A small limit: overruns are cheap to test.
};

TEST_F(StreamReader, ReadReturnsWhatIsBufferedUpToTheRequestedSize) {
  feed("hello");
  EXPECT_EQ(now(reader_.read(3)), "hel");
  EXPECT_EQ(now(reader_.read(100)), "lo");
}

TEST_F(StreamReader, ReadWaitsForTheNextArrivalAndReturnsJustThat) {
  const auto result = start(reader_.read(8192));
  EXPECT_FALSE(result->done);
  feed("ab");
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "ab");
}

TEST_F(StreamReader, ReadReturnsEmptyAtEndOfFile) {
  const auto result = start(reader_.read(8192));
  feed_eof();
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "");
  EXPECT_TRUE(reader_.at_eof());
  EXPECT_EQ(now(reader_.read(0)), "");
}

TEST_F(StreamReader, ReadWithoutSizeCollectsEverythingUntilEndOfFile) {
  const auto result = start(reader_.read());
  feed("one ");
  feed("two");
  EXPECT_FALSE(result->done);
  feed_eof();
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "one two");
}

TEST_F(StreamReader, AtEofOnlyOnceTheBufferIsEmpty) {
  feed("x");
  feed_eof();
  EXPECT_FALSE(reader_.at_eof());
  EXPECT_EQ(now(reader_.read(1)), "x");
  EXPECT_TRUE(reader_.at_eof());
}

TEST_F(StreamReader, ReadlineJoinsALineSplitAcrossArrivals) {
  const auto first = start(reader_.readline());
  feed("First li");
  EXPECT_FALSE(first->done);
  feed("ne.\nSec");
  ASSERT_TRUE(first->done);
  EXPECT_EQ(first->get(), "First line.\n");
  EXPECT_EQ(now(reader_.read(100)), "Sec");
}

TEST_F(StreamReader, ReadlineReturnsAPartialLastLineAtEndOfFile) {
  feed("no newline");
  const auto result = start(reader_.readline());
  EXPECT_FALSE(result->done);
  feed_eof();
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "no newline");
  EXPECT_EQ(now(reader_.readline()), "") << "after end of file, readline() returns b''";
}

TEST_F(StreamReader, ReaduntilFindsASeparatorSplitAcrossArrivals) {
  const auto result = start(reader_.readuntil("\r\n"));
  feed("ab\r");
  EXPECT_FALSE(result->done);
  feed("\ncd");
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "ab\r\n");
  EXPECT_EQ(now(reader_.read(10)), "cd");
}

TEST_F(StreamReader, ReaduntilAtEndOfFileThrowsWithThePartialData) {
  feed("abc");
  const auto result = start(reader_.readuntil("\n"));
  feed_eof();
  ASSERT_TRUE(result->done);
  try {
    (void)result->get();
    FAIL() << "expected incomplete_read_error";
  } catch (const incomplete_read_error& error) {
    EXPECT_EQ(error.partial(), "abc");
    EXPECT_EQ(error.expected(), std::nullopt);
    EXPECT_STREQ(error.what(), "3 bytes read on a total of undefined expected bytes");
  }
  EXPECT_TRUE(reader_.at_eof()) << "the partial data was consumed";
}

TEST_F(StreamReader, ReaduntilBeyondTheLimitThrowsAndLeavesTheData) {
  feed("0123456789abcdefXYZ");  // 19 bytes, no separator, limit 16.
  try {
    (void)now(reader_.readuntil("\n"));
    FAIL() << "expected limit_overrun_error";
  } catch (const limit_overrun_error& error) {
    EXPECT_EQ(error.consumed(), 19U);
  }
  EXPECT_EQ(now(reader_.read(100)), "0123456789abcdefXYZ");
}

TEST_F(StreamReader, ReaduntilSeparatorFoundPastTheLimitStillOverruns) {
  feed("0123456789abcdefXY\nrest");
  try {
    (void)now(reader_.readuntil("\n"));
    FAIL() << "expected limit_overrun_error";
  } catch (const limit_overrun_error& error) {
    EXPECT_EQ(error.consumed(), 18U);
    EXPECT_STREQ(error.what(), "Separator is found, but chunk is longer than limit");
  }
}

TEST_F(StreamReader, ReadlineDropsAnOverlongLineAndRecovers) {
  feed("0123456789abcdefXY\nok\n");
  EXPECT_THROW((void)now(reader_.readline()), limit_overrun_error);
  EXPECT_EQ(now(reader_.readline()), "ok\n");
}

TEST_F(StreamReader, ReadlineDropsAnOverlongLineWhoseEndHasNotArrived) {
  const auto result = start(reader_.readline());
  feed("0123456789abcdefXYZ");
  ASSERT_TRUE(result->done);
  EXPECT_THROW((void)result->get(), limit_overrun_error);
  feed("next\n");
  EXPECT_EQ(now(reader_.readline()), "next\n");
}

TEST_F(StreamReader, ReadexactlyWaitsForEveryByte) {
  const auto result = start(reader_.readexactly(4));
  feed("ab");
  EXPECT_FALSE(result->done);
  feed("cde");
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "abcd");
  EXPECT_EQ(now(reader_.read(10)), "e");
}

TEST_F(StreamReader, ReadexactlyShortOfBytesThrowsIncompleteRead) {
  feed("abc");
  const auto result = start(reader_.readexactly(5));
  feed_eof();
  ASSERT_TRUE(result->done);
  try {
    (void)result->get();
    FAIL() << "expected incomplete_read_error";
  } catch (const incomplete_read_error& error) {
    EXPECT_EQ(error.partial(), "abc");
    EXPECT_EQ(error.expected(), 5U);
    EXPECT_STREQ(error.what(), "3 bytes read on a total of 5 expected bytes");
  }
}

TEST_F(StreamReader, TwoCoroutinesWaitingAtOnceIsAnError) {
  const auto first = start(reader_.read(10));
  const auto second = start(reader_.read(10));
  ASSERT_TRUE(second->done);
  EXPECT_THROW((void)second->get(), std::logic_error);
  feed("x");
  EXPECT_EQ(first->get(), "x");
}

TEST_F(StreamReader, AConnectionErrorFailsTheWaitingRead) {
  const auto result = start(reader_.readline());
  reader_.set_exception(make_error_code(std::errc::connection_reset));
  settle();
  ASSERT_TRUE(result->done);
  EXPECT_THROW((void)result->get(), std::system_error);
}

TEST_F(StreamReader, EmptySeparatorIsRejected) {
  EXPECT_THROW((void)now(reader_.readuntil("")), std::invalid_argument);
}

TEST_F(StreamReader, DataFedOnTheReadsExecutorResumesTheReadBeforeFeedDataReturns) {
  std::string got;
  asio::co_spawn(
      loop_, [&]() -> asio::awaitable<void> { got = co_await reader_.read(8192); },
      asio::detached);
  settle();
  // As the transport feeds it: from a handler on the loop the read runs on.
  std::string seen_when_feed_data_returned;
  asio::post(loop_, [&] {
    reader_.feed_data("ab");
    seen_when_feed_data_returned = got;
  });
  settle();
  EXPECT_EQ(seen_when_feed_data_returned, "ab");
}

TEST_F(StreamReader, DataFedFromElsewhereResumesTheReadFromTheLoop) {
  const auto result = start(reader_.read(8192));
  reader_.feed_data("ab");  // From the test's body, outside the loop.
  EXPECT_FALSE(result->done);
  settle();
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), "ab");
}

// A read raced against a timer, as chapter 07 races drain() against a
// deadline: `||` cancels whichever loses.
asio::awaitable<std::string> read_or_time_out(stream_reader reader, asio::steady_timer& timer) {
  using namespace asio::experimental::awaitable_operators;
  const auto winner = co_await (reader.read(10) || timer.async_wait(asio::use_awaitable));
  co_return winner.index() == 0 ? "read" : "timed out";
}

TEST_F(StreamReader, AWaitingReadIsCancelledLikeAnyAsioOperation) {
  asio::steady_timer timer{loop_, std::chrono::milliseconds{1}};
  const auto result = start(read_or_time_out(reader_, timer));
  loop_.restart();
  loop_.run_for(std::chrono::seconds{2});  // Returns early once nothing is left to do.
  ASSERT_TRUE(result->done) << "the cancelled read never finished";
  EXPECT_EQ(result->get(), "timed out");
  feed("x");  // The reader is still usable.
  EXPECT_EQ(now(reader_.read(10)), "x");
}

TEST_F(StreamReader, AfterACancelledReadTheNextReadMayWaitAgain) {
  asio::steady_timer timer{loop_, std::chrono::milliseconds{1}};
  const auto cancelled = start(read_or_time_out(reader_, timer));
  loop_.restart();
  loop_.run_for(std::chrono::seconds{2});
  ASSERT_TRUE(cancelled->done) << "the cancelled read never finished";
  // Nothing is buffered: this read must wait, which only one read at a time
  // may do. The cancelled one must not still count as waiting.
  const auto next = start(reader_.read(10));
  feed("x");
  loop_.restart();
  loop_.run_for(std::chrono::seconds{2});
  ASSERT_TRUE(next->done) << "the second read never finished";
  EXPECT_EQ(next->get(), "x");
}

// Stands for the transport: counts what the reader asks of it.
struct recording_source final : sandbox::reading_control {
  int pauses = 0;
  int resumes = 0;
  void pause_reading() override { ++pauses; }
  void resume_reading() override { ++resumes; }
};

TEST_F(StreamReader, MoreThanTwiceTheLimitPausesTheSourceUntilReadsBringItToTheLimit) {
  const auto source = std::make_shared<recording_source>();
  reader_.set_transport(source);
  feed(std::string(32, 'x'));  // Twice the limit (16): not above it yet.
  EXPECT_EQ(source->pauses, 0);
  feed("y");
  EXPECT_EQ(source->pauses, 1);
  feed("z");  // Paused already: not asked again.
  EXPECT_EQ(source->pauses, 1);
  EXPECT_EQ(now(reader_.read(10)).size(), 10U);  // 24 left: still above the limit.
  EXPECT_EQ(source->resumes, 0);
  EXPECT_EQ(now(reader_.read(8)).size(), 8U);  // 16 left: the limit.
  EXPECT_EQ(source->resumes, 1);
}

TEST_F(StreamReader, AReadWantingMoreThanIsBufferedResumesAPausedSource) {
  const auto source = std::make_shared<recording_source>();
  reader_.set_transport(source);
  feed(std::string(33, 'x'));
  ASSERT_EQ(source->pauses, 1);
  const auto result = start(reader_.readexactly(40));
  EXPECT_FALSE(result->done);
  EXPECT_EQ(source->resumes, 1);  // Or it would wait for ever.
  feed(std::string(7, 'y'));
  ASSERT_TRUE(result->done);
  EXPECT_EQ(result->get(), std::string(33, 'x') + std::string(7, 'y'));
}

TEST(StreamReaderLifetime, AReadStillWaitingWhenTheLoopIsDestroyedIsFreed) {
  auto owned_by_the_coroutine = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = owned_by_the_coroutine;
  {
    asio::io_context loop;
    stream_reader reader{loop.get_executor()};
    asio::co_spawn(
        loop,
        [reader, held = std::move(owned_by_the_coroutine)]() mutable -> asio::awaitable<void> {
          (void)co_await reader.read(1);
        },
        asio::detached);
    loop.poll();
    // The read waits for ever. The reader handle goes first, then the loop:
    // only the suspended coroutine still owns the reader's state, and the
    // state owns the coroutine while it waits.
  }
  EXPECT_TRUE(watch.expired()) << "the waiting coroutine was leaked";
}

// --- Streams over a real connection ----------------------------------------

constexpr std::size_t a_lot = 100 * 1024;  // Past the transport's 64 KiB high-water mark.

// The server's side: one byte in, then a lot out; notes the write buffer
// when drain() returns.
asio::awaitable<void> answer_with_a_lot(stream_reader reader, sandbox::stream_writer writer,
                                        std::size_t& buffered_after_drain) {
  (void)co_await reader.read(1);  // Resumed by feed_data(), inside data_received().
  writer.write(std::string(a_lot, 'x'));
  co_await writer.drain();
  buffered_after_drain = writer.get_transport().get_write_buffer_size();
}

asio::awaitable<std::size_t> ask_for_a_lot(std::uint16_t port) {
  auto [reader, writer] = co_await sandbox::open_connection("127.0.0.1", port);
  writer.write("?");
  const std::string answer = co_await reader.readexactly(a_lot);
  writer.close();
  co_return answer.size();
}

TEST(Streams, DrainAfterAWritePastTheHighWaterMarkWaitsEvenInsideDataReceived) {
  asio::io_context loop;
  std::size_t buffered_after_drain = std::numeric_limits<std::size_t>::max();
  std::size_t received = 0;
  bool done = false;
  asio::co_spawn(
      loop,
      [&]() -> asio::awaitable<void> {
        auto server = co_await sandbox::start_server(
            [&](stream_reader reader, sandbox::stream_writer writer) {
              return answer_with_a_lot(std::move(reader), std::move(writer),
                                       buffered_after_drain);
            },
            "127.0.0.1", 0);
        received = co_await ask_for_a_lot(server->port());
        server->close();
      },
      [&](const std::exception_ptr& failure) {
        EXPECT_FALSE(failure) << "the exchange failed";
        done = true;
      });
  for (int turn = 0; turn < 100 && !done; ++turn) {
    loop.run_for(std::chrono::milliseconds{100});
  }
  ASSERT_TRUE(done) << "the exchange never finished";
  EXPECT_EQ(received, a_lot);
  // Waited for the buffer to drain to its low-water mark (16 KiB), rather
  // than returning with all 100 KiB still buffered.
  EXPECT_LE(buffered_after_drain, 16U * 1024);
}

}  // namespace
