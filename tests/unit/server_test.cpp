// server, transport and streams over real loopback sockets. The event loop
// runs on a background thread; the test thread plays the client with plain
// blocking sockets, and looks at loop-owned state only through the loop.
#include "sandbox/goodbye.hpp"
#include "sandbox/server.hpp"
#include "sandbox/streams.hpp"
#include "sandbox/transport.hpp"

#include "client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <netdb.h>
#include <sys/resource.h>
#include <stdexcept>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using sandbox::testing::test_client;

// Records what a transport tells its protocol, and echoes.
class recording_echo : public sandbox::protocol {
 public:
  void connection_made(sandbox::transport& transport) override { transport_ = &transport; }
  void data_received(std::string_view data) override { transport_->write(data); }
  void connection_lost(std::error_code) override {}

 private:
  sandbox::transport* transport_ = nullptr;
};

// An echo that ignores pause_writing(), as the lesson's does, and records
// the most its write buffer ever held. `backpressure` is the transport's
// read back-pressure.
class ignoring_echo : public sandbox::protocol {
 public:
  ignoring_echo(std::shared_ptr<std::atomic<std::size_t>> peak, bool backpressure)
      : peak_{std::move(peak)}, backpressure_{backpressure} {}
  void connection_made(sandbox::transport& transport) override {
    transport_ = &transport;
    transport.set_read_backpressure(backpressure_);
  }
  void data_received(std::string_view data) override {
    transport_->write(data);
    *peak_ = std::max(peak_->load(), transport_->get_write_buffer_size());
  }

 private:
  std::shared_ptr<std::atomic<std::size_t>> peak_;
  bool backpressure_;
  sandbox::transport* transport_ = nullptr;
};

// Tells, once, the peer address its transport reports.
class peer_recorder : public sandbox::protocol {
 public:
  explicit peer_recorder(std::shared_ptr<std::promise<asio::ip::tcp::endpoint>> peer)
      : peer_{std::move(peer)} {}
  void connection_made(sandbox::transport& transport) override {
    peer_->set_value(transport.get_peername());
  }

 private:
  std::shared_ptr<std::promise<asio::ip::tcp::endpoint>> peer_;
};

// Says goodbye with `line` as soon as the connection is made, and drops
// whatever the client still sends.
class goodbye_at_once : public sandbox::protocol {
 public:
  explicit goodbye_at_once(std::string line) : line_{std::move(line)} {}
  void connection_made(sandbox::transport& transport) override {
    sandbox::say_goodbye(transport, line_);
  }

 private:
  std::string line_;
};

class LoopbackServer : public ::testing::Test {
 protected:
  LoopbackServer() : thread_{[this] { loop_.run(); }} {}

  ~LoopbackServer() override {
    work_.reset();
    loop_.stop();
    thread_.join();
  }

  // What starting a server gave: the server, or the error and its message.
  struct started {
    std::shared_ptr<sandbox::server> server;
    std::error_code error;
    std::string what;
  };

  // Starts an echo server on the loop. A failure is turned into values on
  // the loop's thread: an exception object handed to this thread through a
  // std::future would be freed by whichever thread drops the last reference,
  // which ThreadSanitizer (with an uninstrumented libstdc++) reports as a race.
  started try_start_echo(const std::string& host, std::uint16_t port = 0,
                         sandbox::protocol_factory factory = [] {
                           return std::make_shared<recording_echo>();
                         }) {
    std::promise<started> result;
    asio::co_spawn(
        loop_, sandbox::create_server(std::move(factory), host, port),
        [&result](std::exception_ptr failure, std::shared_ptr<sandbox::server> server) {
          started outcome{std::move(server), {}, {}};
          if (failure) {
            try {
              std::rethrow_exception(failure);
            } catch (const std::system_error& error) {
              outcome.error = error.code();
              outcome.what = error.what();
            } catch (const std::exception& error) {
              outcome.error = std::make_error_code(std::errc::invalid_argument);
              outcome.what = error.what();
            }
          }
          result.set_value(std::move(outcome));
        });
    return result.get_future().get();
  }

  std::shared_ptr<sandbox::server> start_echo(const std::string& host, std::uint16_t port = 0,
                                              sandbox::protocol_factory factory = {}) {
    auto outcome = factory ? try_start_echo(host, port, std::move(factory))
                           : try_start_echo(host, port);
    if (!outcome.server) {
      throw std::runtime_error{"cannot start the echo server: " + outcome.what};
    }
    return outcome.server;
  }

  // Runs `f` on the loop's thread and returns its result.
  template <typename F>
  auto on_loop(F f) {
    return asio::post(loop_, asio::use_future(std::move(f))).get();
  }

  // Polls `condition` (on the loop thread) until it holds, for up to 10 s.
  template <typename F>
  bool eventually(F condition) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (on_loop(condition)) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  // Keeps the loop's thread busy until the returned promise is set: what
  // reaches the server meanwhile waits, connections in the accept queue.
  std::promise<void> hold_loop() {
    std::promise<void> release;
    auto holding = std::make_shared<std::promise<void>>();
    auto held = holding->get_future();
    asio::post(loop_, [until = release.get_future().share(), holding] {
      holding->set_value();
      until.wait();
    });
    held.wait();
    return release;
  }

  asio::io_context loop_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{loop_.get_executor()};
  std::thread thread_;
};

TEST_F(LoopbackServer, PortZeroBindsARealPortThatEchoes) {
  const auto server = start_echo("127.0.0.1");
  ASSERT_NE(server->port(), 0);
  test_client client{"127.0.0.1", server->port()};
  client.send("ping");
  EXPECT_EQ(client.receive_exactly(4), "ping");
  server->close();
}

TEST_F(LoopbackServer, CloseStopsListeningButWaitClosedWaitsForConnections) {
  const auto server = start_echo("127.0.0.1");
  auto client = std::make_unique<test_client>("127.0.0.1", server->port());
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 1; }));

  server->close();
  EXPECT_FALSE(server->is_serving());
  auto closed = asio::co_spawn(loop_, server->wait_closed(), asio::use_future);
  EXPECT_EQ(closed.wait_for(200ms), std::future_status::timeout)
      << "wait_closed() returned while a connection was still open";
  EXPECT_THROW(test_client("127.0.0.1", server->port()), std::runtime_error)
      << "a closed server must refuse new connections";

  client.reset();  // The last connection ends...
  EXPECT_EQ(closed.wait_for(10s), std::future_status::ready);  // ...and so does the wait.
}

TEST_F(LoopbackServer, APortInUseIsReportedWithTheAddress) {
  const auto first = start_echo("127.0.0.1");
  const auto second = try_start_echo("127.0.0.1", first->port());
  EXPECT_EQ(second.server, nullptr) << "binding a port in use must fail";
  EXPECT_EQ(second.error, asio::error::address_in_use);
  EXPECT_NE(second.what.find("cannot listen on 127.0.0.1:"), std::string::npos) << second.what;
  first->close();
}

TEST_F(LoopbackServer, AHostNameIsServedOnEveryAddressItResolvesToOnOnePort) {
  // What getaddrinfo() says "localhost" is here: 127.0.0.1, and ::1 where
  // /etc/hosts lists it.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  ASSERT_EQ(::getaddrinfo("localhost", nullptr, &hints, &found), 0);
  std::set<std::string> addresses;
  for (auto* entry = found; entry != nullptr; entry = entry->ai_next) {
    char text[NI_MAXHOST];
    ::getnameinfo(entry->ai_addr, entry->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST);
    addresses.insert(text);
  }
  ::freeaddrinfo(found);

  const auto server = start_echo("localhost");
  ASSERT_EQ(server->sockets().size(), addresses.size());
  for (const auto& address : addresses) {
    test_client client{address, server->port()};
    client.send("hi " + address);
    EXPECT_EQ(client.receive_exactly(3 + address.size()), "hi " + address);
  }
  server->close();
}

TEST_F(LoopbackServer, AnIpv6LiteralIsServed) {
  const auto outcome = try_start_echo("::1");
  if (!outcome.server) {
    GTEST_SKIP() << "no IPv6 loopback here: " << outcome.what;
  }
  const auto& server = outcome.server;
  EXPECT_TRUE(server->sockets().front().address().is_v6());
  test_client client{"::1", server->port()};
  client.send("six");
  EXPECT_EQ(client.receive_exactly(3), "six");
  server->close();
}

TEST_F(LoopbackServer, AReaderFarBehindPausesItsTransportUntilItCatchesUp) {
  // The peer sends 1 MiB; our reader's limit is 1 KiB and nobody reads
  // yet. Reading must pause (the rest waits in kernel buffers, not in ours),
  // and resume once the reader consumes.
  constexpr std::size_t total = 1024 * 1024;
  asio::ip::tcp::acceptor acceptor{loop_, {asio::ip::make_address("127.0.0.1"), 0}};
  const auto port = acceptor.local_endpoint().port();
  auto streams = asio::co_spawn(loop_, sandbox::open_connection("127.0.0.1", port, 1024),
                                asio::use_future);
  asio::ip::tcp::socket peer = acceptor.accept();
  auto [reader, writer] = streams.get();
  std::thread sender{[&] { asio::write(peer, asio::buffer(std::string(total, 'x'))); }};

  EXPECT_TRUE(eventually([&] { return !writer.get_transport().is_reading(); }))
      << "the transport never paused";

  auto everything = asio::co_spawn(
      loop_,
      [](sandbox::stream_reader r) -> asio::awaitable<std::size_t> {
        std::size_t received = 0;
        while (received < total) {
          received += (co_await r.read(8192)).size();
        }
        co_return received;
      }(reader),
      asio::use_future);
  EXPECT_EQ(everything.get(), total);
  sender.join();
  EXPECT_TRUE(on_loop([&] { return writer.get_transport().is_reading(); }));
  on_loop([&] { writer.close(); });
}

TEST_F(LoopbackServer, AFullWriteBufferStopsReadingEvenIfTheProtocolIgnoresIt) {
  // The client sends 32 MiB and reads nothing. The protocol ignores
  // pause_writing(); the transport's read back-pressure (the default) stops
  // reading anyway, so the write buffer never holds much more than the
  // high-water mark plus one read (the rest waits in kernel buffers). With
  // it off (asyncio's behaviour) the buffer takes everything the kernel's
  // buffers could not.
  const std::string bytes(32 * 1024 * 1024, 'x');
  for (const bool backpressure : {true, false}) {
    auto peak = std::make_shared<std::atomic<std::size_t>>(0);
    const auto server = start_echo("127.0.0.1", 0, [peak, backpressure] {
      return std::make_shared<ignoring_echo>(peak, backpressure);
    });
    test_client client{"127.0.0.1", server->port()};
    const std::size_t sent = client.send_until_stalled(bytes);
    if (backpressure) {
      EXPECT_LT(sent, bytes.size()) << "nothing pushed back";
      EXPECT_LE(peak->load(), 1024U * 1024U) << "the server kept reading past its write buffer";
    } else {
      EXPECT_EQ(sent, bytes.size());
      EXPECT_TRUE(eventually([&] { return peak->load() >= 16U * 1024U * 1024U; }))
          << "without back-pressure the write buffer should hold what the client did not read";
    }
    client.reset();
    server->close();
  }
}

TEST_F(LoopbackServer, PastTheConnectionLimitClientsAreRefusedWithALineAndSlotsAreReused) {
  const auto server = start_echo("127.0.0.1");
  EXPECT_EQ(server->max_connections(), sandbox::server::default_max_connections);
  server->set_max_connections(1);
  server->set_refusal("busy\n");
  auto first = std::make_unique<test_client>("127.0.0.1", server->port());
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 1; }));
  test_client refused{"127.0.0.1", server->port()};
  EXPECT_EQ(refused.receive_until_eof(), "busy\n");
  EXPECT_EQ(server->refused_connections(), 1U);
  EXPECT_EQ(server->active_connections(), 1U) << "a refusal does not take a slot";

  first.reset();
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 0; }));
  test_client next{"127.0.0.1", server->port()};
  next.send("ping");
  EXPECT_EQ(next.receive_exactly(4), "ping");
  server->close();
}

TEST_F(LoopbackServer, CloseClientsWaitsForBuffersWhileAbortClientsDoesNot) {
  const auto server = start_echo("127.0.0.1");
  test_client polite{"127.0.0.1", server->port()};
  test_client stuck{"127.0.0.1", server->port()};
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 2; }));
  // `stuck` fills the server's write buffer by never reading its echo.
  stuck.send_until_stalled(std::string(32 * 1024 * 1024, 'x'));

  server->close_clients();
  EXPECT_EQ(polite.receive_until_eof(), "");
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server->active_connections(), 1U) << "close() cannot finish: its echo is unread";

  server->abort_clients();
  EXPECT_TRUE(eventually([&] { return server->active_connections() == 0; }));
  server->close();
}

TEST_F(LoopbackServer, CloseServesTheConnectionsStillInTheAcceptQueue) {
  // Three clients connect and send while the server cannot accept (its loop
  // is busy); then close() is called. Their connections were made: the
  // server accepts and serves them before it stops listening.
  const auto server = start_echo("127.0.0.1");
  auto release = hold_loop();
  std::vector<test_client> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back("127.0.0.1", server->port());
    clients.back().send("queued " + std::to_string(i));
  }
  server->close();
  release.set_value();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::string line = "queued " + std::to_string(i);
    EXPECT_EQ(clients[i].receive_exactly(line.size()), line) << "client " << i;
  }
  EXPECT_THROW(test_client("127.0.0.1", server->port()), std::runtime_error)
      << "a closed server must refuse new connections";
  auto closed = asio::co_spawn(loop_, server->wait_closed(), asio::use_future);
  EXPECT_EQ(closed.wait_for(200ms), std::future_status::timeout);
  clients.clear();
  EXPECT_EQ(closed.wait_for(10s), std::future_status::ready);
}

// A client that connects and resets before the server accepts it: the
// server still knows its address, from accept() itself (asking the socket
// afterwards, getpeername(), fails once the peer has reset).
asio::ip::tcp::endpoint connect_and_reset(std::uint16_t port) {
  asio::io_context context;
  asio::ip::tcp::socket socket{context};
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  const auto local = socket.local_endpoint();
  socket.set_option(asio::socket_base::linger{true, 0});  // close() sends RST
  socket.close();
  return local;
}

TEST_F(LoopbackServer, APeerThatResetsBeforeItIsAcceptedIsStillNamed) {
  auto peer = std::make_shared<std::promise<asio::ip::tcp::endpoint>>();
  const auto server =
      start_echo("127.0.0.1", 0, [peer] { return std::make_shared<peer_recorder>(peer); });
  auto release = hold_loop();
  const auto client = connect_and_reset(server->port());
  release.set_value();
  auto named = peer->get_future();
  ASSERT_EQ(named.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(named.get(), client);
  server->close();
}

TEST_F(LoopbackServer, AStreamClientThatResetsBeforeItIsAcceptedIsStillNamed) {
  std::promise<asio::ip::tcp::endpoint> peer;
  std::promise<std::shared_ptr<sandbox::server>> ready;
  sandbox::client_connected_callback handler =
      [&peer](sandbox::stream_reader, sandbox::stream_writer writer) -> asio::awaitable<void> {
    peer.set_value(writer.get_peername());
    co_return;
  };
  asio::co_spawn(loop_, sandbox::start_server(handler, "127.0.0.1", 0),
                 [&ready](std::exception_ptr, std::shared_ptr<sandbox::server> server) {
                   ready.set_value(std::move(server));
                 });
  const auto server = ready.get_future().get();
  ASSERT_NE(server, nullptr);
  auto release = hold_loop();
  const auto client = connect_and_reset(server->port());
  release.set_value();
  auto named = peer.get_future();
  ASSERT_EQ(named.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(named.get(), client);
  server->close();
}

TEST_F(LoopbackServer, AConnectionLimitBeyondTheOpenFileLimitIsLowered) {
  // This process may open at most RLIMIT_NOFILE files (the server raises
  // the soft limit to the hard one first); a server cannot hold more
  // connections than that, less what the process needs besides.
  const auto server = start_echo("127.0.0.1");
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur == RLIM_INFINITY || files.rlim_cur > 1'000'000) {
    GTEST_SKIP() << "no open file limit to speak of here";
  }
  const std::size_t limit = server->set_max_connections(2'000'000);
  EXPECT_EQ(limit, server->max_connections());
  EXPECT_LT(limit, files.rlim_cur);
  EXPECT_GE(limit, files.rlim_cur / 2);
  EXPECT_EQ(server->set_max_connections(10), 10U) << "a limit that fits is kept";
  server->close();
}

TEST(ServerOnAPool, CloseServesTheAcceptQueueWhileOtherThreadsRunConnections) {
  // As CloseServesTheConnectionsStillInTheAcceptQueue, on a loop run by two
  // threads, where connections run on strands: four rounds of 20 clients
  // exercise accepts in flight; in the fifth, both threads are held while
  // the clients connect and close() is called, so all 20 wait in the queue.
  asio::io_context pool{2};
  auto work = asio::make_work_guard(pool);
  std::vector<std::jthread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&pool] { pool.run(); });
  }
  // Stops the loop before the threads are joined, even if a check throws.
  struct stopper {
    asio::io_context& loop;
    ~stopper() { loop.stop(); }
  } const stop_at_exit{pool};
  auto started = asio::co_spawn(
      pool,
      sandbox::create_server([] { return std::make_shared<recording_echo>(); }, "127.0.0.1", 0),
      asio::use_future);
  const auto server = started.get();
  for (int round = 0; round < 5; ++round) {
    const bool last = round == 4;
    std::promise<void> release;
    if (last) {
      auto holding = std::make_shared<std::latch>(2);
      const auto until = release.get_future().share();
      for (int i = 0; i < 2; ++i) {
        asio::post(pool, [until, holding] {
          holding->count_down();
          until.wait();
        });
      }
      holding->wait();
    }
    std::vector<test_client> clients;
    for (int i = 0; i < 20; ++i) {
      clients.emplace_back("127.0.0.1", server->port());
      clients.back().send("x");
    }
    if (last) {
      server->close();
      release.set_value();
    }
    for (auto& client : clients) {
      EXPECT_EQ(client.receive_exactly(1), "x");
    }
  }
  auto closed = asio::co_spawn(pool, server->wait_closed(), asio::use_future);
  EXPECT_EQ(closed.wait_for(10s), std::future_status::ready);
}

// --- The connection slot: the transport holds a place, not the server ------

TEST_F(LoopbackServer, AConnectionDoesNotKeepItsServerAliveYetWaitClosedWaitsForIt) {
  // The transport holds its server's slot, not the server: a server closed
  // and let go is destroyed while its last client is still served, and
  // wait_closed(), begun before, still completes only when that client leaves.
  auto server = start_echo("127.0.0.1");
  auto client = std::make_unique<test_client>("127.0.0.1", server->port());
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 1; }));
  const std::weak_ptr<sandbox::server> watch = server;
  server->close();
  auto closed = asio::co_spawn(loop_, server->wait_closed(), asio::use_future);
  server.reset();
  EXPECT_TRUE(eventually([&] { return watch.expired(); }))
      << "a live connection kept its closed server alive";
  client->send("still here");
  EXPECT_EQ(client->receive_exactly(10), "still here");
  EXPECT_EQ(closed.wait_for(200ms), std::future_status::timeout)
      << "wait_closed() returned while a connection was open";
  client.reset();
  EXPECT_EQ(closed.wait_for(10s), std::future_status::ready);
}

TEST_F(LoopbackServer, AConnectionItsHandlerDropsGivesItsSlotBack) {
  // A handler that serves nobody (it drops the socket and the slot with it):
  // the connection does not count as active, and wait_closed() does not hang.
  sandbox::server::connection_handler drop_it =
      [](asio::ip::tcp::socket, const asio::ip::tcp::endpoint&, sandbox::connection_slot,
         const std::shared_ptr<sandbox::server>&) {};
  const auto server = asio::co_spawn(loop_, sandbox::server::listen("127.0.0.1", 0, drop_it),
                                     asio::use_future)
                          .get();
  test_client dropped{"127.0.0.1", server->port()};
  EXPECT_EQ(dropped.receive_until_eof(), "");
  EXPECT_TRUE(eventually([&] { return server->active_connections() == 0; }))
      << "a dropped connection still counts as active";
  server->close();
  auto closed = asio::co_spawn(loop_, server->wait_closed(), asio::use_future);
  EXPECT_EQ(closed.wait_for(10s), std::future_status::ready);
}

// --- The polite goodbye ------------------------------------------------------

TEST_F(LoopbackServer, AGoodbyeIsReadWholeThenEndOfFileAndEndsWhenTheClientCloses) {
  const auto server =
      start_echo("127.0.0.1", 0, [] { return std::make_shared<goodbye_at_once>("bye\n"); });
  auto client = std::make_unique<test_client>("127.0.0.1", server->port());
  client->send("what the client still sends is dropped");
  EXPECT_EQ(client->receive_until_eof(), "bye\n");
  // Half-closed, not closed: the server still reads, so that nothing the
  // client sends is left unread (which would make closing send a reset).
  EXPECT_EQ(server->active_connections(), 1U);
  client->shutdown_write();
  EXPECT_TRUE(eventually([&] { return server->active_connections() == 0; }))
      << "the client's end of file did not end the goodbye";
  server->close();
}

TEST_F(LoopbackServer, AGoodbyeToAClientThatNeverClosesEndsAfterItsLinger) {
  const auto server =
      start_echo("127.0.0.1", 0, [] { return std::make_shared<goodbye_at_once>("bye\n"); });
  test_client client{"127.0.0.1", server->port()};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.receive_until_eof(), "bye\n");
  ASSERT_TRUE(eventually([&] { return server->active_connections() == 0; }))
      << "a client that never closes held its goodbye open";
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, sandbox::goodbye_linger - 100ms) << "the goodbye did not linger";
  server->close();
}

}  // namespace
