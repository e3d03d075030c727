/// \file
/// Chapter 08: flow control. Its page is chapters/08_flow_control/README.md.
//
//
// An echo server (bytes back unchanged) on the protocol layer, like chapter
// 01, that survives a client which sends and never reads. Every echo waits
// in the transport's write buffer until the kernel takes it; the kernel
// takes it only as fast as the client reads. So the buffer is watched:
//
//   client ──bytes──► [kernel] ──data_received──► write(data) ──► write buffer ──► [kernel] ──► client
//                                                                     │
//                         above the high-water mark: pause_writing() ─┤
//                         → transport.pause_reading(): we stop reading,
//                           the kernel's receive buffer fills, and TCP tells
//                           the client to stop sending.
//                         at or below the low-water mark: resume_writing()
//                         → transport.resume_reading()
//
// The server's memory per connection is bounded by the high-water mark plus
// one read, however much the client sends. With --no-flow-control the
// protocol ignores pause_writing(), as the lesson's server does, and the
// buffer grows for as long as the client keeps sending.
//
// Since this chapter, sandbox's transports push back like this by default
// (read back-pressure: see transport::set_read_backpressure), so every later
// server is safe even if its protocol forgets. This chapter still does it by
// hand, because here is where you learn how it works.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

namespace {

struct flow_options {
  std::size_t high_water = sandbox::transport::default_high_water;  // 64 KiB, as asyncio
  std::size_t low_water = sandbox::transport::default_high_water / 4;  // 16 KiB
  bool flow_control = true;
};

//! [protocol]
class flow_controlled_echo : public sandbox::protocol {
 public:
  flow_controlled_echo(std::size_t number, flow_options options, bool quiet)
      : number_{number}, options_{options}, quiet_{quiet} {}

  void connection_made(sandbox::transport& transport) override {
    transport_ = &transport;
    transport.set_write_buffer_limits(options_.high_water, options_.low_water);
    if (!options_.flow_control) {
      // Switch off the library's own safety net too: asyncio has none.
      transport.set_read_backpressure(false);
    }
    say("opened");
  }

  void data_received(std::string_view data) override {
    transport_->write(data);  // Buffered; sent when this callback returns.
    echoed_ += data.size();
    peak_ = std::max(peak_, transport_->get_write_buffer_size());
  }

  // The write buffer rose above the high-water mark: the client is not
  // reading as fast as it sends. Stop reading what it sends.
  void pause_writing() override {
    ++pauses_;
    if (options_.flow_control) {
      transport_->pause_reading();
      say("paused reading: ", transport_->get_write_buffer_size(), " bytes wait to be sent");
    }
  }

  // The client caught up (the buffer fell to the low-water mark): read again.
  void resume_writing() override {
    if (options_.flow_control) {
      transport_->resume_reading();
      say("resumed reading");
    }
  }

  void connection_lost(std::error_code error) override {
    say("closed", error ? " (" + error.message() + ")" : std::string{}, ": ", echoed_,
        " bytes echoed, write buffer peaked at ", peak_, " bytes, ", pauses_, " pause",
        pauses_ == 1 ? "" : "s");
    transport_ = nullptr;
  }
//! [protocol]

 private:
  template <typename... Args>
  void say(const Args&... args) {
    if (!quiet_) {
      sandbox::println("connection ", number_, ": ", args...);
    }
  }

  std::size_t number_;
  flow_options options_;
  bool quiet_;
  sandbox::transport* transport_ = nullptr;
  std::uint64_t echoed_ = 0;
  std::size_t peak_ = 0;   // The largest write buffer seen: the memory this connection held.
  std::size_t pauses_ = 0;
};

asio::awaitable<void> serve(sandbox::server_options options, flow_options flow) {
  // A named factory, not a lambda written inside the co_await: GCC 12
  // mishandles a temporary lambda with non-trivial captures (here a
  // shared_ptr) in a co_await expression.
  auto connections = std::make_shared<std::atomic<std::size_t>>(0);
  sandbox::protocol_factory factory = [connections, flow, quiet = options.quiet] {
    return std::make_shared<flow_controlled_echo>(connections->fetch_add(1) + 1, flow, quiet);
  };
  auto server = co_await sandbox::create_server(std::move(factory), options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  sandbox::println("Flow control ",
                   flow.flow_control ? "on: high-water mark " + std::to_string(flow.high_water) +
                                           " bytes, low-water mark " +
                                           std::to_string(flow.low_water) + " bytes"
                                     : std::string{"off"});
  co_await server->wait_closed();
}

}  // namespace

/// Parses the command line, then serves until a signal stops it.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 08: an echo server with flow control"};
  const auto& options = cli.add_server_options();
  flow_options flow;
  bool no_flow_control = false;
  cli.app()
      .add_option("--high-water", flow.high_water,
                  "Pause reading when more than this many bytes wait to be sent")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  cli.app()
      .add_option("--low-water", flow.low_water,
                  "Resume reading once at most this many bytes wait to be sent")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))
      ->capture_default_str();
  cli.app().add_flag("--no-flow-control", no_flow_control,
                     "Ignore the marks, as the lesson's server does: memory grows without bound");
  cli.parse(argc, argv);
  if (flow.low_water > flow.high_water) {
    sandbox::eprintln(cli.app().get_name(), ": error: --low-water (", flow.low_water,
                      ") must not exceed --high-water (", flow.high_water, ")\nRun with --help for the options.");
    return 2;
  }
  flow.flow_control = !no_flow_control;

  return sandbox::run([&] { return serve(options, flow); });
}
