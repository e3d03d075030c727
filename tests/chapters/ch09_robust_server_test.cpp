// Chapter 09, the robust server: line echo with an idle timeout, a line
// limit, a connection limit, a graceful shutdown and accept back-off, each
// checked against a client that misbehaves. Figures (times, memory, CPU) are
// printed as "[ figures  ]" lines; the bounds asserted are loose on purpose.
#include "client.hpp"
#include "programs.hpp"
#include "sandbox/cpu_time.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sandbox::testing {
namespace {

const program robust_server{"Cpp", {executables::ch09_robust_server}};

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Starts the server with `options` and skips its "Limits: ..." line.
running_server start_robust(std::vector<std::string> options) {
  auto server = launch_server(robust_server, std::move(options));
  const auto limits = server.process->read_line();
  EXPECT_TRUE(limits && limits->starts_with("Limits: ")) << limits.value_or("<none>");
  return server;
}

// Lines made of the pattern's bytes, every offset different: `count` lines
// of `length` bytes plus '\n', numbered so that a reordering shows.
std::string numbered_lines(int client, int count, std::size_t length) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    std::string line = "client " + std::to_string(client) + " line " + std::to_string(i) + " ";
    line.resize(length, static_cast<char>('a' + (i % 26)));
    text += line + '\n';
  }
  return text;
}

// What one client of a flood saw: its first line (empty if none came), and
// how long after its connect that line arrived.
struct flood_reply {
  std::string line;
  double waited = 0;
};

// Opens `count` connections to 127.0.0.1:`port` as fast as it can, each
// sending `say` (if not empty), and watches them all with poll() from this
// one thread until `wanted` of them have received a whole line, or
// `patience` has passed. Like chapter 10's flood, every client holds its
// connection open until the flood returns, even after end of file: a
// served client keeps its slot, a refused one does not hurry the server.
// Plain POSIX sockets: test_client blocks, and 3000 threads would be absurd.
std::vector<flood_reply> flood(unsigned short port, std::size_t count, const std::string& say,
                               std::size_t wanted, std::chrono::seconds patience,
                               const std::function<void()>& before_closing = [] {}) {
  struct client {
    int fd;
    clock_type::time_point connected;
    std::string received;
    std::optional<double> waited;
  };
  std::vector<pollfd> sockets;
  std::vector<client> clients;
  std::size_t replied = 0;
  const auto pump = [&](int timeout_ms) {
    if (::poll(sockets.data(), sockets.size(), timeout_ms) <= 0) {
      return;
    }
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      if (sockets[i].fd < 0 || sockets[i].revents == 0) {
        continue;
      }
      char buffer[4096];
      const ssize_t got = ::recv(sockets[i].fd, buffer, sizeof buffer, 0);
      if (got > 0) {
        clients[i].received.append(buffer, static_cast<std::size_t>(got));
        if (!clients[i].waited && clients[i].received.find('\n') != std::string::npos) {
          clients[i].waited = seconds_since(clients[i].connected);
          ++replied;
        }
      } else if (got == 0 || errno != EAGAIN) {
        sockets[i].fd = -1;  // End of file, or a reset: poll() ignores it now.
      }
    }
  };
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto connected = clock_type::now();
    // A blocking connect: on loopback the kernel completes it at once while
    // the server's accept queue has room (4096 here).
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect " << i << ": " << std::strerror(errno);
      if (fd >= 0) {
        ::close(fd);
      }
      break;
    }
    if (!say.empty()) {
      ::send(fd, say.data(), say.size(), MSG_NOSIGNAL);
    }
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    sockets.push_back({fd, POLLIN, 0});
    clients.push_back({fd, connected, {}, {}});
    if (i % 16 == 15) {
      pump(0);  // Note replies as they come, so that the waits are true.
    }
  }
  const auto deadline = clock_type::now() + patience;
  while (replied < wanted && clock_type::now() < deadline) {
    pump(20);
  }
  before_closing();
  std::vector<flood_reply> replies;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ::close(clients[i].fd);
    const auto end = clients[i].received.find('\n');
    replies.push_back({end == std::string::npos ? "" : clients[i].received.substr(0, end + 1),
                       clients[i].waited.value_or(0)});
  }
  return replies;
}

// How many descriptors process `pid` has open.
std::size_t open_descriptors(int pid) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator{"/proc/" + std::to_string(pid) + "/fd"}) {
    ++count;
  }
  return count;
}

// Makes sure this test process may open `needed` descriptors.
bool can_open(std::size_t needed) {
  rlimit limits{};
  ::getrlimit(RLIMIT_NOFILE, &limits);
  if (limits.rlim_cur >= needed) {
    return true;
  }
  limits.rlim_cur = std::min<rlim_t>(limits.rlim_max, needed);
  return ::setrlimit(RLIMIT_NOFILE, &limits) == 0 && limits.rlim_cur >= needed;
}

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The stderr lines that contain `text`.
std::vector<std::string> lines_with(const std::string& all, const std::string& text) {
  std::vector<std::string> found;
  std::size_t start = 0;
  while (start < all.size()) {
    auto end = all.find('\n', start);
    end = end == std::string::npos ? all.size() : end;
    const std::string line = all.substr(start, end - start);
    if (line.find(text) != std::string::npos) {
      found.push_back(line);
    }
    start = end + 1;
  }
  return found;
}

TEST(RobustServer, SaysWhereItServesThenItsLimits) {
  auto server = launch_server(robust_server);
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  EXPECT_EQ(server.process->read_line(),
            "Limits: idle timeout 30 s, lines up to 65536 bytes, 512 connections at once, "
            "grace period 10 s");
  auto custom = launch_server(robust_server, {"--idle-timeout", "2.5", "--max-line", "100",
                                             "--max-connections", "3", "--grace", "0"});
  EXPECT_EQ(custom.process->read_line(),
            "Limits: idle timeout 2.5 s, lines up to 100 bytes, 3 connections at once, "
            "grace period 0 s");
}

TEST(RobustServer, EchoesEachLineUnchangedEvenInPieces) {
  auto server = start_robust({"--quiet", "--max-line", "100"});
  test_client client{"127.0.0.1", server.port};
  client.send("hel");
  client.send("lo\nwor");
  EXPECT_EQ(client.receive_exactly(6), "hello\n");
  client.send("ld\n");
  EXPECT_EQ(client.receive_exactly(6), "world\n");
  const std::string at_the_limit = std::string(100, 'x') + '\n';  // 100 bytes is allowed.
  EXPECT_EQ(client.exchange(at_the_limit, at_the_limit.size()), at_the_limit);
  const std::string many = numbered_lines(1, 2000, 60);
  EXPECT_TRUE(client.exchange(many, many.size()) == many);
  // A last line without its newline is still echoed at end of file.
  client.send("tail");
  client.shutdown_write();
  EXPECT_EQ(client.receive_until_eof(), "tail");
}

TEST(RobustServer, AnIdleClientIsClosedOnTimeWithAGoodbye) {
  auto server = start_robust({"--idle-timeout", "0.5"});
  test_client client{"127.0.0.1", server.port};
  const auto start = clock_type::now();
  const std::string said = client.receive_until_eof(10s);
  const double after = seconds_since(start);
  std::cout << "[ figures  ] idle timeout 0.5 s: closed after " << after << " s\n";
  EXPECT_EQ(said, "error: no line for 0.5 s; closing\n");
  EXPECT_GE(after, 0.45);
  EXPECT_LT(after, 5.0) << "the idle connection was not closed on time";
  EXPECT_TRUE(server.process->read_line().value_or("").starts_with("connection 1: opened, from 127.0.0.1:"));
  EXPECT_EQ(server.process->read_line(), "connection 1: closed: no line for 0.5 s");
}

TEST(RobustServer, LinesInTimeKeepAConnectionOpen) {
  auto server = start_robust({"--quiet", "--idle-timeout", "0.6"});
  test_client client{"127.0.0.1", server.port};
  client.no_delay();
  // Ten lines, 0.2 s apart: 2 s in all, far past the timeout, but never
  // 0.6 s without a line.
  for (int i = 0; i < 10; ++i) {
    const std::string line = "still here " + std::to_string(i) + "\n";
    EXPECT_EQ(client.exchange(line, line.size()), line);
    std::this_thread::sleep_for(200ms);
  }
}

TEST(RobustServer, AnOverlongLineIsRefusedWhileOthersAreServed) {
  auto server = start_robust({"--max-line", "1000"});
  test_client other{"127.0.0.1", server.port};
  EXPECT_EQ(other.exchange("before\n", 7), "before\n");
  test_client offender{"127.0.0.1", server.port};
  offender.send(std::string(200000, 'x') + "\n");
  EXPECT_EQ(offender.receive_until_eof(), "error: line longer than 1000 bytes; closing\n");
  EXPECT_EQ(other.exchange("after\n", 6), "after\n");
  other.shutdown_write();
  EXPECT_EQ(other.receive_until_eof(), "");
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i) {  // Two "opened", two "closed".
    lines.push_back(server.process->read_line().value_or("<none>"));
  }
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "connection 2: closed: a line longer than 1000 bytes"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "connection 1: closed after 2 line(s)"),
            lines.end());
}

TEST(RobustServer, TheConnectionLimitIsEnforcedAndFreedSlotsAreReused) {
  auto server = start_robust({"--quiet", "--max-connections", "3"});
  std::vector<test_client> served;
  for (int i = 0; i < 3; ++i) {
    served.emplace_back("127.0.0.1", server.port);
    EXPECT_EQ(served.back().exchange("in\n", 3), "in\n");  // Accepted and served.
  }
  test_client fourth{"127.0.0.1", server.port};
  EXPECT_EQ(fourth.receive_until_eof(), "error: server busy (3 connections); try again later\n");

  // Free a slot; a new client is served once the server has seen it free.
  served.front().shutdown_write();
  EXPECT_EQ(served.front().receive_until_eof(), "");
  const int attempts = echoed_after_retries(server.port, "reused\n");
  EXPECT_GT(attempts, 0) << "the freed slot was never reused";
  std::cout << "[ figures  ] the freed slot was reused on attempt " << attempts << "\n";
  // The others were never disturbed.
  EXPECT_EQ(served[1].exchange("still\n", 6), "still\n");
}

TEST(RobustServer, SigtermDuringTrafficLosesNothingAndExitsWithinTheGrace) {
  auto server = start_robust({"--quiet", "--grace", "10"});
  constexpr std::size_t clients = 5;
  std::vector<test_client> connections;
  for (std::size_t i = 0; i < clients; ++i) {
    connections.emplace_back("127.0.0.1", server.port);
    connections.back().no_delay();
  }
  std::atomic<bool> signalled{false};
  std::vector<std::string> sent(clients);
  std::vector<std::string> echoed(clients);
  {
    std::vector<std::jthread> talkers;
    for (std::size_t c = 0; c < clients; ++c) {
      talkers.emplace_back([&, c] {
        auto& client = connections[c];
        // Lines before and after the signal, then a clean end of file.
        int after_signal = 0;
        for (int i = 0; after_signal < 20; ++i) {
          const std::string line = "client " + std::to_string(c) + " line " + std::to_string(i) + "\n";
          client.send(line);
          sent[c] += line;
          echoed[c] += client.receive_exactly(line.size());
          after_signal += signalled ? 1 : 0;
          std::this_thread::sleep_for(10ms);
        }
        client.shutdown_write();
        echoed[c] += client.receive_until_eof();
      });
    }
    std::this_thread::sleep_for(300ms);
    server.process->send_signal(SIGTERM);
    signalled = true;
  }
  const auto start = clock_type::now();
  EXPECT_EQ(server.process->wait(15s), 0);
  std::cout << "[ figures  ] exited " << seconds_since(start)
            << " s after the last client finished (grace 10 s)\n";
  for (std::size_t c = 0; c < clients; ++c) {
    EXPECT_EQ(echoed[c], sent[c]) << "client " << c;
  }
  const auto lines = server.process->read_remaining_lines();
  ASSERT_GE(lines.size(), 2U);
  EXPECT_EQ(lines.front(),
            "Shutting down (SIGTERM): no new connections; 5 still open get up to 10 s to finish");
  EXPECT_TRUE(lines.back().starts_with("Served 5 connection(s), echoed ")) << lines.back();
}

TEST(RobustServer, NewConnectionsAreRefusedOnceShutdownBegins) {
  auto server = start_robust({"--grace", "10"});
  test_client staying{"127.0.0.1", server.port};
  EXPECT_EQ(staying.exchange("hi\n", 3), "hi\n");
  server.process->send_signal(SIGINT);
  // The "Shutting down" line comes after the listening sockets are closed.
  for (;;) {
    const auto line = server.process->read_line();
    ASSERT_TRUE(line);
    if (line->starts_with("Shutting down (SIGINT)")) {
      break;
    }
  }
  EXPECT_THROW((test_client{"127.0.0.1", server.port}), std::runtime_error);
  EXPECT_EQ(staying.exchange("still served\n", 13), "still served\n");
  staying.shutdown_write();
  EXPECT_EQ(staying.receive_until_eof(), "");
  EXPECT_EQ(server.process->wait(), 0);
}

TEST(RobustServer, TheGracePeriodEndsWithTheStragglersClosed) {
  auto server = start_robust({"--quiet", "--grace", "1"});
  test_client idle{"127.0.0.1", server.port};
  EXPECT_EQ(idle.exchange("hi\n", 3), "hi\n");
  server.process->send_signal(SIGTERM);
  const auto start = clock_type::now();
  EXPECT_EQ(idle.receive_until_eof(10s), "");
  EXPECT_EQ(server.process->wait(10s), 0);
  const double took = seconds_since(start);
  std::cout << "[ figures  ] grace 1 s: the idle client was closed and the server exited after "
            << took << " s\n";
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 6.0);
  const auto lines = server.process->read_remaining_lines();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "Grace period over: closing 1 connection(s)"),
            lines.end());
}

TEST(RobustServer, ASecondSignalEndsTheGraceAtOnce) {
  auto server = start_robust({"--quiet", "--grace", "60"});
  test_client idle{"127.0.0.1", server.port};
  EXPECT_EQ(idle.exchange("hi\n", 3), "hi\n");
  server.process->send_signal(SIGTERM);
  EXPECT_TRUE(server.process->read_line().value_or("").starts_with("Shutting down (SIGTERM)"));
  server.process->send_signal(SIGINT);
  EXPECT_EQ(server.process->wait(20s), 0) << "a second signal should not wait 60 s";
  EXPECT_EQ(server.process->read_line(), "Second signal: closing 1 connection(s)");
}

TEST(RobustServer, AShutdownServesEveryConnectionAlreadyMadeEvenThoseNotYetAccepted) {
  // 50 clients connect, send 200 lines and half-close; SIGTERM follows at
  // once. Some of them are still in the kernel's accept queue then: their
  // handshake is complete, their connect() returned, their lines are sent.
  // A server that closed its listening socket first would reset them.
  constexpr int runs = 30;
  constexpr std::size_t clients = 50;
  std::size_t lost = 0;
  std::vector<double> exits;
  for (int run = 0; run < runs; ++run) {
    auto server = start_robust({"--quiet"});
    std::vector<test_client> connections;
    std::vector<std::string> sent;
    for (std::size_t c = 0; c < clients; ++c) {
      sent.push_back(numbered_lines(static_cast<int>(c), 200, 24));
      connections.emplace_back("127.0.0.1", server.port);
      connections.back().send(sent.back());
      connections.back().shutdown_write();
    }
    server.process->send_signal(SIGTERM);
    const auto start = clock_type::now();
    for (std::size_t c = 0; c < clients; ++c) {
      try {
        lost += connections[c].receive_until_eof(10s) == sent[c] ? 0U : 1U;
      } catch (const std::runtime_error& error) {  // A reset, typically.
        ++lost;
      }
    }
    EXPECT_EQ(server.process->wait(10s), 0) << "run " << run;
    exits.push_back(seconds_since(start));
  }
  std::cout << "[ figures  ] " << runs << " shutdowns, each right after " << clients
            << " clients sent 200 lines: " << lost << " client(s) lost lines; exit after "
            << median(exits) << " s (median)\n";
  EXPECT_EQ(lost, 0U) << "connections already made were lost in the shutdown";
}

// The number in a "Limits: ..., N connections at once, ..." line.
std::size_t limit_in(const std::string& limits) {
  const auto end = limits.find(" connections at once");
  const auto start = limits.rfind(", ", end);
  if (end == std::string::npos || start == std::string::npos) {
    return 0;
  }
  return std::stoul(limits.substr(start + 2, end - start - 2));
}

// What the server wrote on stderr once `text` is in it (or after 10 s).
std::string stderr_once(const child_process& process, const std::string& text) {
  const auto deadline = clock_type::now() + 10s;
  while (process.stderr_text().find(text) == std::string::npos && clock_type::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  return process.stderr_text();
}

TEST(RobustServer, AFloodIsRefusedPromptlyWithoutRunningOutOfDescriptors) {
  // 1024 descriptors and the default limit of 512: each of 3000 clients
  // that connect at once and say nothing is either served or refused with
  // the busy line at once; the server never runs out of descriptors.
  constexpr std::size_t clients = 3000;
  if (!can_open(clients + 100)) {
    // A container may cap the hard limit (the image build does, at 1024).
    GTEST_SKIP() << "this test needs 3100 descriptors itself; the hard limit is lower here";
  }
  const program limited{"Cpp", {"prlimit", "--nofile=1024:1024", executables::ch09_robust_server}};
  auto server = launch_server(limited, {"--quiet"});
  const std::size_t limit = limit_in(server.process->read_line().value_or(""));
  ASSERT_EQ(limit, 512U);
  std::size_t descriptors = 0;
  const auto replies = flood(server.port, clients, "", clients - limit, 30s, [&] {
    descriptors = open_descriptors(server.process->pid());
  });
  const std::string busy = "error: server busy (512 connections); try again later\n";
  std::vector<double> waits;
  std::size_t silent = 0;
  for (const auto& reply : replies) {
    if (reply.line == busy) {
      waits.push_back(reply.waited);
    } else {
      EXPECT_EQ(reply.line, "") << "neither silence (served) nor the busy line";
      ++silent;
    }
  }
  const double longest = waits.empty() ? 0 : *std::max_element(waits.begin(), waits.end());
  const auto errors = server.process->stderr_text();
  const auto failures = lines_with(errors, "Too many open files");
  std::cout << "[ figures  ] " << clients << " clients at 1024 descriptors: " << waits.size()
            << " refused, waiting " << median(waits) << " s (median), " << longest
            << " s (longest) for the busy line; " << silent << " served; " << failures.size()
            << " accept-failure line(s); " << descriptors << " descriptors open at the end\n";
  EXPECT_EQ(waits.size(), clients - limit) << "some clients were left without an answer";
  EXPECT_EQ(silent, limit);
  EXPECT_TRUE(failures.empty()) << errors.substr(0, 2000);
}

TEST(RobustServer, AConnectionLimitBeyondTheDescriptorsIsLoweredWithAWarning) {
#if defined(__SANITIZE_ADDRESS__)
  // As in the test below: here too the server runs out of descriptors (each
  // refusal lingers with one while its client still sends), and UBSan's
  // vptr check, which probes memory through a pipe, then reports an
  // "invalid vptr" that is not there and halts the server. Seen in CI and
  // reproduced under load, once in 8 runs: "runtime error: member call on
  // address ... which does not point to an object of type 'error_category'
  // ... <memory cannot be printed>", on std::error_code's static category.
  // The normal and TSan builds run this test.
  GTEST_SKIP() << "the sanitizer runtime cannot work without file descriptors";
#endif
  // --max-connections 5000 with 1024 descriptors (hard limit too, so it
  // cannot be raised): the server says so, serves what it can hold, and
  // refuses the rest; no client is left hanging.
  constexpr std::size_t clients = 1500;
  if (!can_open(clients + 100)) {
    GTEST_SKIP() << "this test needs 1600 descriptors itself; the hard limit is lower here";
  }
  const program limited{"Cpp", {"prlimit", "--nofile=1024:1024", executables::ch09_robust_server}};
  auto server = launch_server(limited, {"--quiet", "--max-connections", "5000"});
  const std::size_t limit = limit_in(server.process->read_line().value_or(""));
  EXPECT_GT(limit, 512U);
  EXPECT_LT(limit, 1024U);
  const auto warnings = lines_with(stderr_once(*server.process, "\n"), "warning: ");
  ASSERT_EQ(warnings.size(), 1U) << server.process->stderr_text();
  EXPECT_EQ(warnings.front(), "warning: 5000 connections at once exceed the open file limit (1024, "
                              "ulimit -n); serving at most " + std::to_string(limit));

  const auto replies = flood(server.port, clients, "hi\n", clients, 30s);
  const std::string busy =
      "error: server busy (" + std::to_string(limit) + " connections); try again later\n";
  std::size_t served = 0;
  std::size_t refused = 0;
  std::size_t hanging = 0;
  for (const auto& reply : replies) {
    served += reply.line == "hi\n" ? 1U : 0U;
    refused += reply.line == busy ? 1U : 0U;
    hanging += reply.line.empty() ? 1U : 0U;
  }
  std::cout << "[ figures  ] --max-connections 5000 at 1024 descriptors: limit " << limit << "; "
            << served << " served, " << refused << " refused, " << hanging << " without answer\n";
  EXPECT_EQ(hanging, 0U) << "the server's stderr:\n" << server.process->stderr_text().substr(0, 3000);
  EXPECT_EQ(served, limit);
  EXPECT_EQ(refused, clients - limit);
}

TEST(RobustServer, OutOfDescriptorsClientsAreStillRefusedAndFailuresLoggedOnceASecond) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' runtime needs descriptors of its own: UBSan's vptr
  // check probes memory through a pipe, and with none left it reports an
  // "invalid vptr" that is not there (seen here, in make_shared). The
  // normal and TSan builds run this test.
  GTEST_SKIP() << "the sanitizer runtime cannot work without file descriptors";
#endif
  // 24 descriptors: the server's own take about 10, so its limit is lowered
  // to 1 connection. Each refusal holds a descriptor while its client may
  // still be sending (a second at most), and these clients send a line and
  // never close: a dozen of them run the server out of descriptors, and
  // accept() fails with EMFILE for every client that comes next.
  const program limited{"Cpp", {"prlimit", "--nofile=24:24", executables::ch09_robust_server}};
  auto server = launch_server(limited, {"--quiet"});
  ASSERT_GT(server.port, 0) << server.first_line;
  ASSERT_EQ(limit_in(server.process->read_line().value_or("")), 1U);
  const auto cpu_before = read_cpu_time(server.process->pid());
  const auto start = clock_type::now();
  std::vector<test_client> clients;
  while (seconds_since(start) < 3.0) {  // A client every 10 ms, for 3 s.
    clients.emplace_back("127.0.0.1", server.port);
    clients.back().send("hi\n");
    std::this_thread::sleep_for(10ms);
  }
  const auto cpu_after = read_cpu_time(server.process->pid());
  const double took = seconds_since(start);
  ASSERT_TRUE(cpu_before && cpu_after);
  const auto cpu_used = std::chrono::duration<double>((*cpu_after - *cpu_before).total()).count();

  // Every client was answered: the first one served, every other refused
  // with the busy line, even while the server had no descriptor to spare.
  EXPECT_EQ(clients.front().receive_exactly(3), "hi\n");
  const std::string busy = "error: server busy (1 connections); try again later\n";
  std::size_t refused = 0;
  for (std::size_t i = 1; i < clients.size(); ++i) {
    try {
      refused += clients[i].receive_exactly(busy.size(), 5s) == busy ? 1U : 0U;
    } catch (const std::runtime_error& error) {
      ADD_FAILURE() << "client " << i << ": " << error.what();
    }
  }
  const auto failures = lines_with(server.process->stderr_text(), "Too many open files");
  std::cout << "[ figures  ] " << clients.size() << " clients in " << took
            << " s at 24 descriptors: " << refused << " refused with the busy line; "
            << failures.size() << " accept-failure line(s); " << cpu_used
            << " s of server CPU\n";
  for (const auto& line : failures) {
    std::cout << "[ figures  ]   " << line << "\n";
  }
  EXPECT_EQ(refused, clients.size() - 1);
  ASSERT_FALSE(failures.empty()) << "the test never ran the server out of descriptors";
  // One line at the first failure, then one a second at most, with a count.
  EXPECT_LE(failures.size(), static_cast<std::size_t>(took) + 2) << failures.back();
  EXPECT_NE(std::find_if(failures.begin(), failures.end(),
                         [](const std::string& line) {
                           return line.find(" times in the last second: ") != std::string::npos;
                         }),
            failures.end());
  EXPECT_LT(cpu_used, 2.0) << "accept errors must not make the server spin";
}

TEST(RobustServer, BadValuesExitWithStatusTwo) {
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"--idle-timeout", "-1"},
        {"--idle-timeout", "0"},
        {"--idle-timeout", "nan"},
        {"--grace", "-5"},
        {"--grace", "inf"},
        {"--max-line", "0"},
        {"--max-connections", "0"},
        {"--max-connections", "-3"},
        {"--max-connections", "many"}}) {
    std::string errors;
    EXPECT_EQ(run_to_end(robust_server, options, nullptr, &errors), 2) << options[1];
    EXPECT_NE(errors.find("error: " + options[0]), std::string::npos) << errors;
  }
}

TEST(RobustServer, AnUnknownHostFailsWithOneLineNamingIt) {
  std::string errors;
  EXPECT_EQ(run_to_end(robust_server, {"--host", "nosuchhost.invalid", "--port", "2222"}, nullptr,
                       &errors),
            1);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_TRUE(errors.starts_with("error: cannot resolve nosuchhost.invalid:2222: ")) << errors;
}

TEST(RobustServer, APortInUseFailsWithOneLine) {
  expect_a_port_in_use_fails_with_one_line(robust_server);
}

}  // namespace
}  // namespace sandbox::testing
