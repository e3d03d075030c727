// Chapter 04, the load generator, driving the real servers: the epoll
// baseline, chapter 02, and chapter 01 with its "echo:" prefix. Also what
// it does with wrong replies, a server that dies, nobody listening and bad
// options, and the baseline server's own echo.
#include "programs.hpp"

#include "client.hpp"

#include <csignal>
#include <regex>
#include <thread>

namespace sandbox::testing {
namespace {

const program bench = cpp_program(SANDBOX_CH04_EXE);
const program epoll_server = cpp_program(SANDBOX_EPOLL_EXE);
const program ch01 = cpp_program(SANDBOX_CH01_EXE);
const program ch02 = cpp_program(SANDBOX_CH02_EXE);

// A number from ch04_echo_bench's --json object (no JSON library needed
// for a flat object of numbers); NaN when the key is missing.
double json_number(const std::string& json, const std::string& key) {
  const std::regex pattern{"\"" + key + "\": (-?[0-9.]+)"};
  std::smatch match;
  return std::regex_search(json, match, pattern) ? std::stod(match[1].str()) : std::nan("");
}

struct bench_run {
  std::optional<int> status;
  std::vector<std::string> lines;
  std::string errors;
  [[nodiscard]] std::string json() const { return lines.empty() ? "" : lines.back(); }
};

bench_run run_bench(unsigned short port, std::vector<std::string> options) {
  bench_run result;
  options.insert(options.begin(), {"--host", "127.0.0.1", "--port", std::to_string(port)});
  result.status = run_to_end(bench, options, &result.lines, &result.errors);
  return result;
}

const std::vector<std::string> short_run = {"--duration", "0.4", "--warmup", "0.1", "--quiet"};

std::vector<std::string> with(std::vector<std::string> options,
                              const std::vector<std::string>& more) {
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

// Every reported figure is there and consistent with the others.
void expect_sane_figures(const std::string& json, double connections) {
  ASSERT_FALSE(json.empty());
  const double requests = json_number(json, "requests");
  EXPECT_GT(requests, connections) << json;
  EXPECT_GT(json_number(json, "requests_per_s"), 0) << json;
  EXPECT_NEAR(json_number(json, "requests_per_s"),
              requests / json_number(json, "elapsed_s"), 1.0) << json;
  // Percentiles never decrease, and none exceeds the maximum.
  double previous = json_number(json, "latency_p50_us");
  EXPECT_GT(previous, 0) << json;
  for (const char* key : {"latency_p90_us", "latency_p99_us", "latency_p99_9_us",
                          "latency_max_us"}) {
    const double value = json_number(json, key);
    EXPECT_GE(value, previous) << key << " in " << json;
    previous = value;
  }
}

TEST(ch04_echo_bench, measures_chapter_02_and_reports_its_cpu_per_echo) {
  auto server = start_server(ch02, {"--quiet"});
  const auto pid = std::to_string(server.process->pid());
  const auto run = run_bench(server.port, with(short_run, {"--connections", "8", "--json",
                                                           "--server-pid", pid}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 8);
  // The server did the echoing, so it used CPU time: some per echo, and
  // user + system add up.
  const double per_echo = json_number(run.json(), "server_cpu_us_per_echo");
  EXPECT_GT(per_echo, 0) << run.json();
  EXPECT_NEAR(json_number(run.json(), "server_cpu_s"),
              json_number(run.json(), "server_user_s") + json_number(run.json(), "server_system_s"),
              0.0015);
  // The load generator closes its connections cleanly: no echo left unread,
  // so the server sees end of file, not a reset.
  server.process->send_signal(SIGTERM);
  EXPECT_EQ(server.process->wait(), 0);
  EXPECT_EQ(server.process->stderr_text(), "");
}

TEST(ch04_echo_bench, drives_chapter_01_when_told_its_prefix) {
  auto server = start_server(ch01, {"--quiet", "--forever"});
  // 100 KiB messages reach chapter 01 in several reads, so each reply is
  // "echo:" + piece, several times over; the check must accept that.
  const auto run = run_bench(server.port, with(short_run, {"--connections", "2", "--size",
                                                           "102400", "--prefix", "echo:",
                                                           "--json"}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 2);
}

TEST(ch04_echo_bench, refuses_replies_that_are_not_echoes) {
  auto server = start_server(ch01, {"--quiet", "--forever"});
  const auto run = run_bench(server.port, short_run);  // No --prefix: "echo:..." is wrong.
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("not an echo"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("--prefix"), std::string::npos) << run.errors;
}

TEST(ch04_echo_bench, pipelines_large_messages_without_deadlock) {
  // 4 x 256 KiB in flight per connection is more than the socket buffers
  // hold: with one coroutine both writing and reading, client and server
  // would each wait for the other to read.
  auto server = start_server(epoll_server);
  const auto run = run_bench(server.port, with(short_run, {"--connections", "3", "--size",
                                                           "262144", "--pipeline", "4", "--json"}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 3);
}

TEST(ch04_echo_bench, spreads_connections_over_threads) {
  auto server = start_server(ch02, {"--quiet"});
  const auto run = run_bench(server.port, with(short_run, {"--connections", "6", "--threads",
                                                           "3", "--pipeline", "2", "--json"}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 6);
  EXPECT_EQ(json_number(run.json(), "threads"), 3);
}

TEST(ch04_echo_bench, prints_a_human_report) {
  auto server = start_server(epoll_server);
  const auto run = run_bench(server.port, short_run);
  ASSERT_EQ(run.status, 0) << run.errors;
  ASSERT_GE(run.lines.size(), 10U);
  EXPECT_EQ(run.lines[0], "Benchmarking 127.0.0.1:" + std::to_string(server.port) +
                              ": 10 connections x 1024-byte messages, pipeline 1, 1 thread, "
                              "0.1 s warm-up, 0.4 s measured");
  EXPECT_TRUE(run.lines[1].starts_with("Requests:")) << run.lines[1];
  EXPECT_TRUE(run.lines[2].starts_with("Requests/s:")) << run.lines[2];
  EXPECT_TRUE(run.lines[4].starts_with("Latency:         mean")) << run.lines[4];
}

TEST(ch04_echo_bench, shows_progress_unless_quiet) {
  auto server = start_server(epoll_server);
  const auto run = run_bench(server.port, {"--duration", "1.2", "--warmup", "0.2"});
  ASSERT_EQ(run.status, 0) << run.errors;
  // stderr is a file here, not a terminal: one line per update.
  EXPECT_NE(run.errors.find("warm-up"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("measuring   1.0/1.2 s"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("requests/s"), std::string::npos) << run.errors;
}

TEST(ch04_echo_bench, fails_clearly_when_the_server_dies) {
  auto server = start_server(ch02, {"--quiet"});
  child_process load{{SANDBOX_CH04_EXE, "--host", "127.0.0.1", "--port",
                      std::to_string(server.port), "--duration", "20", "--quiet"}};
  std::this_thread::sleep_for(500ms);
  server.process->send_signal(SIGKILL);
  const auto status = load.wait(10s);
  EXPECT_EQ(status, 1);
  EXPECT_NE(load.stderr_text().find("error: "), std::string::npos) << load.stderr_text();
}

TEST(ch04_echo_bench, says_when_nobody_listens) {
  // A port that was free a moment ago: bound, then closed.
  auto server = start_server(epoll_server);
  const auto port = server.port;
  server.process->send_signal(SIGTERM);
  ASSERT_EQ(server.process->wait(), 0);
  const auto run = run_bench(port, short_run);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos) << run.errors;
}

TEST(ch04_echo_bench, rejects_bad_options_with_status_2) {
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--connections", "0"},
           {"--size", "0"},
           {"--duration", "-1"},
           {"--threads", "0"},
           {"--pipeline", "0"},
           {"--server-pid", "-5"},
           {"--prefix", "abcdefghijklmnopqrstuvwxyz0123456789"},
           {"--no-such-option"}}) {
    std::string errors;
    EXPECT_EQ(run_to_end(bench, bad, nullptr, &errors), 2) << bad.front();
    EXPECT_NE(errors.find("error"), std::string::npos) << bad.front() << ": " << errors;
  }
}

TEST(epoll_echo_server, echoes_a_large_payload_while_it_is_being_sent) {
  auto server = start_server(epoll_server);
  test_client client{"127.0.0.1", server.port};
  std::string payload(4 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7 % 251);
  }
  EXPECT_EQ(client.exchange(payload, payload.size()), payload);
  client.shutdown_write();
  EXPECT_EQ(client.receive_until_eof(), "");
}

TEST(epoll_echo_server, keeps_the_server_contract) {
  auto server = start_server(epoll_server, {"--quiet"});
  EXPECT_TRUE(server.first_line.starts_with("Serving on 127.0.0.1:")) << server.first_line;
  server.process->send_signal(SIGINT);
  EXPECT_EQ(server.process->wait(), 0);
  std::string errors;
  EXPECT_EQ(run_to_end(epoll_server, {"--bogus"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("--bogus"), std::string::npos) << errors;
}

}  // namespace
}  // namespace sandbox::testing
