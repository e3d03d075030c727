/// \file
/// Chapter 01: the protocol echo server: the whole program. Its page is chapters/01_protocol_echo_server/README.md.
//
//
// The lesson's SimpleEchoProtocol, callback for callback. asyncio calls a
// Protocol's methods as things happen on a connection; sandbox::transport does
// the same for a sandbox::protocol. Nothing here blocks, and nothing here is a
// coroutine except main's small setup: callbacks are the oldest style of
// asynchronous code, and the one everything else is built on.
//
// Run it, then in another terminal: telnet localhost 2222
#include "sandbox/address.hpp"
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <memory>
#include <string_view>
#include <system_error>

namespace {

//! [protocol]
// One object per connection: create_server() calls the factory below for
// every client, exactly as asyncio calls SimpleEchoProtocol().
class simple_echo_protocol : public sandbox::protocol {
 public:
  simple_echo_protocol(sandbox::server& server, bool quiet, bool forever)
      : server_{server}, quiet_{quiet}, forever_{forever} {}

  void connection_made(sandbox::transport& transport) override {
    sandbox::println("Connection received!");
    // The transport outlives every callback up to connection_lost(), so a
    // plain pointer is enough, as `self.transport = transport` is in Python.
    transport_ = &transport;
    // asyncio's transports keep reading however full their write buffer
    // gets, and so does the lesson's server: turn off the library's
    // safety net (read back-pressure, chapter 08) to behave the same.
    transport.set_read_backpressure(false);
  }

  void data_received(std::string_view data) override {
    if (!quiet_) {
      sandbox::println(sandbox::bytes_repr(data));  // print(data): b'a'
    }
    // Two writes, as in the lesson. They are only buffered here, and leave
    // together in one send when this callback returns (one TCP segment, as
    // long as they fit in one).
    transport_->write("echo:");
    transport_->write(data);
  }

  void connection_lost(std::error_code /*error*/) override {
    if (forever_) {
      sandbox::println("Connection lost!");
      return;
    }
    sandbox::println("Connection lost! Closing server...");
    // Stops listening; main's wait_closed() then returns and the program
    // ends. This connection is already gone, so nothing else is waited for.
    server_.close();
  }

 private:
  sandbox::server& server_;
  sandbox::transport* transport_ = nullptr;
  bool quiet_;
  bool forever_;
};
//! [protocol]

//! [serve]
// The lesson's module-level code, as a coroutine: the counterpart of
// `async def main()`. A plain function, not a lambda: a coroutine lambda with
// captures is a trap (C++ Core Guidelines CP.51), since the lambda object may
// be gone before the coroutine finishes.
asio::awaitable<void> serve(sandbox::server_options options, bool forever) {
  std::shared_ptr<sandbox::server> server;
  // loop.create_server(SimpleEchoProtocol, 'localhost', 2222). The factory
  // runs once per client, never before `server` is assigned below.
  server = co_await sandbox::create_server(
      [&server, quiet = options.quiet, forever] {
        return std::make_shared<simple_echo_protocol>(*server, quiet, forever);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));

  // loop.run_until_complete(server.wait_closed())
  co_await server->wait_closed();
}
//! [serve]

}  // namespace

/// Parses the command line, then runs the chapter until it ends or a signal stops it.
int main(int argc, char* argv[]) {
  //! [options]
  sandbox::command_line cli{"Chapter 01: the asyncio lesson's protocol echo server"};
  const auto& options = cli.add_server_options();
  bool forever = false;
  cli.app().add_flag("--forever", forever,
                     "Keep serving after a connection is lost (the lesson stops after one)");
  cli.parse(argc, argv);
  //! [options]

  // asyncio.run(main()): an event loop runs the coroutine; Ctrl-C ends it.
  return sandbox::run([&] { return serve(options, forever); });
}
