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

#include <chrono>
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

}  // namespace
