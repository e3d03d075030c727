// Chapter 12: cancellation and timeouts. The demonstrations print in an
// order fixed by construction, so their whole output is the specification;
// the graceful-stop server is checked with real clients that are waiting
// (mid-read) or sending when the stop comes.
#include "client.hpp"
#include "programs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

namespace sandbox::testing {
namespace {

const program demos{"Cpp", {executables::ch12_cancellation}};
const program stop_server{"Cpp", {executables::ch12_graceful_stop_server}};

const std::string goodbye = "server stopping; goodbye\n";

std::vector<std::string> demo_output(const std::string& name) {
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(demos, {"--demo", name}, &lines, &errors), 0) << errors;
  EXPECT_EQ(errors, "");
  return lines;
}

TEST(Chapter12Cancellation, WithinReturnsNothingAfterCancellingTheReadOrTheReadsResult) {
  EXPECT_EQ(demo_output("timeout"), (std::vector<std::string>{
                                        "== timeout ==",
                                        "within(0.1 s, read), the peer silent:",
                                        "  the read ended: Operation aborted.",
                                        "  within() returned nothing: the timeout passed first",
                                        "within(0.1 s, read), the peer has sent \"pong\\n\":",
                                        "  within() returned b'pong\\n'",
                                    }));
}

// Which operation honours which cancellation type, and what it promises.
TEST(Chapter12Cancellation, EachOperationHonoursTheTypesItCanKeepThePromiseOf) {
  EXPECT_EQ(
      demo_output("types"),
      (std::vector<std::string>{
          "== types ==",
          "  timer.async_wait               total    -> ended: Operation aborted.",
          "  socket.async_read_some         partial  -> ended: Operation aborted. Then a read gets "
          "b'ping'",
          "  async_read (3 of 8 bytes come) total    -> ignored, still waiting",
          "  the same async_read            partial  -> ended: Operation aborted. It had read 3 "
          "bytes: b'abc'",
          "  a coroutine (co_spawn)         partial  -> ignored, still waiting",
          "  the same coroutine             terminal -> ended: Operation aborted.",
          "  one that lets partial in       partial  -> ended: Operation aborted.",
      }));
}

TEST(Chapter12Cancellation, AGroupAndAParentCancelEveryMemberInOrder) {
  EXPECT_EQ(demo_output("group"),
            (std::vector<std::string>{
                "== group ==",
                "a task_group of 3 workers (1 h, 2 h, 3 h), cancelled after 50 ms:",
                "  worker 1: Operation aborted.",
                "  worker 2: Operation aborted.",
                "  worker 3: Operation aborted.",
                "  the loop ran dry; members left: 0",
                "a parent awaiting three workers with &&, cancelled after 50 ms:",
                "  worker 1: Operation aborted.",
                "  worker 2: Operation aborted.",
                "  worker 3: Operation aborted.",
                "  the parent ended: Operation aborted.",
            }));
}

// The race is built, not waited for: every run shows it.
TEST(Chapter12Cancellation, ACancelledTimersQueuedHandlerRunsWithSuccessUnlessGuarded) {
  for (int run = 0; run < 5; ++run) {
    EXPECT_EQ(demo_output("race"),
              (std::vector<std::string>{
                  "== race ==",
                  "cancel() a timer whose handler is already queued:",
                  "  cancel() returned 0",
                  "  then its handler runs with \"Success\"",
                  "re-armed as chapter 09's deadline does after each line (expires_after):",
                  "  a line arrived; expires_after(30 s) cancelled 0 wait(s)",
                  "  the old action runs: the client is closed as idle",
                  "the same with a guarded deadline:",
                  "  a line arrived; the deadline is armed again for 30 s",
                  "  the old handler runs with \"Success\", but it is stale: ignored",
              }))
        << "run " << run;
  }
}

TEST(Chapter12Cancellation, BadValuesExitWithStatusTwoAndSayWhy) {
  const auto expect_refused = [](const program& prog, std::vector<std::string> options,
                                 const std::string& why) {
    std::string errors;
    EXPECT_EQ(run_to_end(prog, options, nullptr, &errors), 2) << options.front();
    EXPECT_NE(errors.find(why), std::string::npos) << errors;
  };
  expect_refused(demos, {"--demo", "nope"}, "error: --demo: nope not in");
  expect_refused(demos, {"--bogus"}, "error: The following argument was not expected: --bogus");
  expect_refused(stop_server, {"--stop", "nope"}, "error: --stop: nope not in");
}

// --- the graceful stop -----------------------------------------------------

// Starts the server and connects `count` clients, each seen accepted.
running_server start_with_clients(std::vector<test_client>& clients, int count,
                                  std::vector<std::string> options = {}) {
  auto server = launch_server(stop_server, std::move(options));
  for (int i = 1; i <= count; ++i) {
    clients.emplace_back("127.0.0.1", server.port);
    EXPECT_EQ(server.process->read_line(), "connection " + std::to_string(i) + ": opened");
  }
  return server;
}

// Nothing a coroutine did on a socket that was gone, nothing aborted.
void expect_every_coroutine_ended_cleanly(const std::vector<std::string>& lines,
                                          const std::string& errors) {
  for (const auto& line : lines) {
    EXPECT_EQ(line.find("Bad file descriptor"), std::string::npos) << line;
    EXPECT_EQ(line.find("aborted"), std::string::npos) << line;
    EXPECT_EQ(line.find("failed"), std::string::npos) << line;
  }
  EXPECT_EQ(errors, "");
}

TEST(Chapter12GracefulStop, AClientWaitingForDataGetsItsEchoThenTheGoodbye) {
  for (const int signal : {SIGINT, SIGTERM}) {
    std::vector<test_client> clients;
    auto server = start_with_clients(clients, 1);
    clients[0].send("hello\n");
    EXPECT_EQ(clients[0].receive_exactly(6), "hello\n");
    server.process->send_signal(signal);  // The client now waits, mid-read.
    EXPECT_EQ(clients[0].receive_until_eof(), goodbye);
    clients.clear();
    EXPECT_EQ(server.process->wait(), 0);
    const auto lines = server.process->read_remaining_lines();
    EXPECT_EQ(lines, (std::vector<std::string>{
                         std::string{"Stopping ("} + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                             "): no new connections; cancelling the reads of 1 connection(s)",
                         "connection 1: stopped after 1 read(s): goodbye said",
                         "Stopped: 1 connection(s) served, 1 said goodbye",
                     }));
    expect_every_coroutine_ended_cleanly(lines, server.process->stderr_text());
  }
}

// Lines sent as the stop comes: a read that completed is echoed, a read that
// was cancelled had read nothing. Each client gets its echo and the goodbye,
// or the goodbye alone; never a part of a line, never a reset.
TEST(Chapter12GracefulStop, ClientsSendingAsTheStopComesLoseNothing) {
  constexpr std::size_t count = 10;
  std::vector<test_client> clients;
  auto server = start_with_clients(clients, static_cast<int>(count));
  for (std::size_t i = 0; i < count; ++i) {
    clients[i].send("line " + std::to_string(i) + "\n");
  }
  server.process->send_signal(SIGTERM);
  int echoed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    const std::string received = clients[i].receive_until_eof();
    EXPECT_TRUE(received == line + goodbye || received == goodbye) << i << ": " << received;
    echoed += received == line + goodbye ? 1 : 0;
  }
  std::cout << "[ figures  ] " << echoed << " of " << count
            << " lines were read before the stop and echoed\n";
  clients.clear();
  EXPECT_EQ(server.process->wait(), 0);
  const auto lines = server.process->read_remaining_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "Stopped: 10 connection(s) served, 10 said goodbye");
  expect_every_coroutine_ended_cleanly(lines, server.process->stderr_text());
}

// The mistake the page compares: sockets closed under their coroutines.
// Their reads end as well, but the goodbye finds no socket, and the check
// above would catch it.
TEST(Chapter12GracefulStop, ClosingTheSocketsInsteadLosesTheGoodbye) {
  std::vector<test_client> clients;
  auto server = start_with_clients(clients, 1, {"--stop", "close"});
  server.process->send_signal(SIGTERM);
  EXPECT_EQ(clients[0].receive_until_eof(), "");
  EXPECT_EQ(server.process->wait(), 0);
  const auto lines = server.process->read_remaining_lines();
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "Stopping (SIGTERM): no new connections; closing the sockets of 1 "
                       "connection(s)",
                       "connection 1: goodbye failed: Bad file descriptor",
                       "Stopped: 1 connection(s) served, 0 said goodbye",
                   }));
}

TEST(Chapter12GracefulStop, WithNoConnectionsItStopsAtOnce) {
  auto server = launch_server(stop_server, {"--quiet"});
  server.process->send_signal(SIGINT);
  EXPECT_EQ(server.process->wait(), 0);
  EXPECT_EQ(server.process->read_remaining_lines(),
            (std::vector<std::string>{
                "Stopping (SIGINT): no new connections; cancelling the reads of 0 connection(s)",
                "Stopped: 0 connection(s) served, 0 said goodbye"}));
}

TEST(Chapter12GracefulStop, APortInUseFailsWithOneLine) {
  expect_a_port_in_use_fails_with_one_line(stop_server);
}

}  // namespace
}  // namespace sandbox::testing
