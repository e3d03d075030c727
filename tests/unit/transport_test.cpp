// The transport's read path over a real loopback socket, on one thread: the
// test drives the event loop itself (run_for), so what the protocol saw can
// be read between turns without locks.
//
// The transport waits for readability and reads into its thread's buffer;
// when the wait ends while reading is paused, it reads nothing and the bytes
// wait in the kernel. This pins that path down: nothing is delivered while
// paused, then the bytes and the end of file come, in order.
#include "sandbox/transport.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sandbox::tcp;

// Records every callback as a line: "data:<bytes>", "eof", "lost".
class recorder : public sandbox::protocol {
 public:
  explicit recorder(std::vector<std::string>& events) : events_{events} {}
  void connection_made(sandbox::transport& transport) override { transport_ = &transport; }
  void data_received(std::string_view data) override {
    events_.push_back("data:" + std::string{data});
  }
  bool eof_received() override {
    events_.emplace_back("eof");
    return false;
  }
  void connection_lost(std::error_code) override { events_.emplace_back("lost"); }
  sandbox::transport* transport_ = nullptr;

 private:
  std::vector<std::string>& events_;
};

// Runs the loop until `done()` or 10 s (a loaded machine is slow, not wrong).
template <typename Condition>
void run_until(asio::io_context& loop, Condition done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    loop.run_for(10ms);
    loop.restart();
  }
}

TEST(TransportReading, BytesThatArriveWhilePausedWaitForResumeThenComeInOrder) {
  asio::io_context loop;
  tcp::acceptor acceptor{loop, {asio::ip::make_address("127.0.0.1"), 0}};
  tcp::socket client{loop};
  client.connect(acceptor.local_endpoint());
  std::vector<std::string> events;
  auto protocol = std::make_shared<recorder>(events);
  auto transport = std::make_shared<sandbox::transport>(acceptor.accept(), protocol);
  transport->start();          // Now waiting for the socket to become readable,
  transport->pause_reading();  // and paused while that wait is pending.

  asio::write(client, asio::buffer(std::string_view{"first"}));
  client.shutdown(tcp::socket::shutdown_send);
  const auto quiet_until = std::chrono::steady_clock::now() + 300ms;
  run_until(loop, [&] { return std::chrono::steady_clock::now() > quiet_until; });
  EXPECT_TRUE(events.empty()) << "delivered while paused: " << events.front();
  EXPECT_FALSE(transport->is_reading());

  transport->resume_reading();
  run_until(loop, [&] { return events.size() >= 3; });
  EXPECT_EQ(events, (std::vector<std::string>{"data:first", "eof", "lost"}));
}

// --- Callbacks never nest ----------------------------------------------------
//
// protocol.hpp promises that no callback runs inside another one. The one
// callback a transport could be tempted to call from inside another is
// pause_writing(): a write() past the high-water mark causes it, and writes
// come from callbacks. These pin down when it comes instead.

// Counts how deep callbacks are nested (1 inside one, 2 inside two) and logs
// them: "made", "data", "pause", "resume", "eof", "lost". It writes `burst`
// bytes in connection_made(), echoes what it receives, and writes `burst`
// again in resume_writing(): each of these writes passes the tiny high-water
// mark that connection_made() sets.
class nesting_probe : public sandbox::protocol {
 public:
  nesting_probe(std::size_t high_water, std::size_t burst) : high_{high_water}, burst_(burst, 'b') {}

  void connection_made(sandbox::transport& transport) override {
    const depth_guard guard{*this, "made"};
    transport_ = &transport;
    transport.set_read_backpressure(read_backpressure);
    transport.set_write_buffer_limits(high_, 0);
    transport.write(burst_);
  }
  void data_received(std::string_view data) override {
    const depth_guard guard{*this, "data"};
    transport_->write(data);
  }
  void pause_writing() override {
    const depth_guard guard{*this, "pause"};
    paused = true;
  }
  void resume_writing() override {
    const depth_guard guard{*this, "resume"};
    paused = false;
    if (resumes_left > 0) {
      --resumes_left;
      transport_->write(burst_);
    }
  }
  bool eof_received() override {
    const depth_guard guard{*this, "eof"};
    return false;
  }
  void connection_lost(std::error_code) override { const depth_guard guard{*this, "lost"}; }

  bool read_backpressure = true;  // Applied in connection_made().
  int resumes_left = 1;           // How many resume_writing() calls write again.
  int deepest = 0;
  bool paused = false;
  std::vector<std::string> events;
  sandbox::transport* transport_ = nullptr;

 private:
  struct depth_guard {
    depth_guard(nesting_probe& probe, const char* event) : probe_{probe} {
      probe_.events.emplace_back(event);
      probe_.deepest = std::max(probe_.deepest, ++probe_.depth_);
    }
    ~depth_guard() { --probe_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;
    nesting_probe& probe_;
  };

  std::size_t high_;
  std::string burst_;
  int depth_ = 0;
};

// A transport over a loopback connection, the client end kept by the test.
struct connected_pair {
  explicit connected_pair(asio::io_context& loop)
      : acceptor{loop, {asio::ip::make_address("127.0.0.1"), 0}}, client{loop} {
    client.connect(acceptor.local_endpoint());
  }
  std::shared_ptr<sandbox::transport> serve(std::shared_ptr<sandbox::protocol> protocol) {
    auto transport = std::make_shared<sandbox::transport>(acceptor.accept(), std::move(protocol));
    transport->start();
    return transport;
  }
  tcp::acceptor acceptor;
  tcp::socket client;
};

// Fails if pause_writing() is called from inside write(), inside the callback
// that wrote: there it runs two deep.
TEST(TransportCallbacks, PauseWritingWaitsUntilTheCallbackThatWroteReturns) {
  asio::io_context loop;
  connected_pair pair{loop};
  auto probe = std::make_shared<nesting_probe>(8, 64);
  auto transport = pair.serve(probe);
  // connection_made() wrote 64 bytes past a high-water mark of 8: the pause
  // came, but after connection_made() returned.
  EXPECT_EQ(probe->events, (std::vector<std::string>{"made", "pause"}));

  std::size_t received = 0;
  std::string reply(1024, '\0');
  const auto read_reply = [&] {
    received += pair.client.read_some(asio::buffer(reply));
  };
  // The 64 bytes leave, resume_writing() writes 64 more (paused again),
  // which leave too; then an echo of 16 bytes pauses and resumes once more.
  run_until(loop, [&] { return std::ranges::count(probe->events, "resume") >= 2; });
  asio::write(pair.client, asio::buffer(std::string(16, 'x')));
  run_until(loop, [&] { return std::ranges::count(probe->events, "resume") >= 3; });
  pair.client.shutdown(tcp::socket::shutdown_send);
  run_until(loop, [&] { return probe->events.back() == "lost"; });
  while (received < 64 + 64 + 16) {
    read_reply();
  }

  EXPECT_EQ(probe->deepest, 1) << "a callback ran inside another one";
  EXPECT_EQ(probe->events,
            (std::vector<std::string>{"made", "pause", "resume", "pause", "resume", "data",
                                      "pause", "resume", "eof", "lost"}));
}

// Fails if the pause is posted to the event loop: without read back-pressure
// the transport reads on in the same wake-up, and the protocol would hear
// data_received() again before pause_writing().
TEST(TransportCallbacks, PauseWritingComesBeforeTheNextDataReceived) {
  asio::io_context loop;
  connected_pair pair{loop};
  auto probe = std::make_shared<nesting_probe>(1, 0);  // Echoing 2 bytes pauses.
  probe->read_backpressure = false;
  auto transport = pair.serve(probe);

  // Enough for several reads in one wake-up (the transport reads again at
  // once after a read of 16 KiB or more). The client sends it from the loop
  // and never reads the echo: the server's buffer stays above its mark.
  const std::string message(192 * 1024, 'm');
  asio::async_write(pair.client, asio::buffer(message), [](std::error_code, std::size_t) {});
  run_until(loop, [&] { return std::ranges::count(probe->events, "data") >= 3; });

  ASSERT_GE(std::ranges::count(probe->events, "data"), 3);
  EXPECT_EQ(probe->deepest, 1);
  bool paused = false;
  for (std::size_t i = 0; i < probe->events.size(); ++i) {
    const std::string& event = probe->events[i];
    if (event == "data" && !paused) {
      // This echo passed the mark: the very next callback must say so.
      ASSERT_LT(i + 1, probe->events.size());
      EXPECT_EQ(probe->events[i + 1], "pause") << "after callback " << i;
    }
    if (event == "pause") {
      paused = true;
    } else if (event == "resume") {
      paused = false;
    }
  }
  transport->abort();
  run_until(loop, [&] { return probe->events.back() == "lost"; });
}

// Fails if the pause is posted when no callback is running: a coroutine
// that writes, then calls drain(), must find the transport paused already,
// as asyncio's writer does (its write() calls pause_writing() itself).
TEST(TransportCallbacks, PauseWritingOutsideACallbackComesFromWriteItself) {
  asio::io_context loop;
  connected_pair pair{loop};
  auto probe = std::make_shared<nesting_probe>(1024, 0);
  auto transport = pair.serve(probe);
  EXPECT_FALSE(probe->paused);

  transport->write(std::string(2048, 'w'));  // As a coroutine or a timer would.
  EXPECT_TRUE(probe->paused);
  EXPECT_EQ(probe->events, (std::vector<std::string>{"made", "pause"}));

  transport->abort();
  run_until(loop, [&] { return probe->events.back() == "lost"; });
  EXPECT_EQ(probe->deepest, 1);
}

}  // namespace
