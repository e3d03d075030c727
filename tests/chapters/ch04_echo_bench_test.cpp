// Chapter 04, the load generator, driving the real servers: the epoll
// baseline, chapter 02, and chapter 01 with its "echo:" prefix. Also what
// it does with wrong replies, a server that stalls or dies, nobody
// listening, an unknown host and bad options, and the baseline server's
// own echo.
#include "programs.hpp"

#include "client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace sandbox::testing {
namespace {

const program bench = cpp_program(executables::ch04_echo_bench);
const program epoll_server = cpp_program(executables::epoll_echo_server);
const program ch01 = cpp_program(executables::ch01_protocol_echo_server);
const program ch02 = cpp_program(executables::ch02_stream_echo_server);
const program ch09 = cpp_program(executables::ch09_robust_server);

// A misbehaving echo server, on plain POSIX sockets in a thread of the
// test. It echoes until `echo_for` has passed since the first byte it
// received, then stops reading and answering while it keeps every
// connection open: a stalled server. Given a `reply`, it answers each read
// with that instead of the echo.
class scripted_server {
 public:
  struct script {
    std::chrono::milliseconds echo_for = 1h;
    std::string reply;  // Empty: echo.
  };

  explicit scripted_server(script what) : script_{std::move(what)} {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 128) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error{"the scripted server cannot listen"};
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::jthread{[this](const std::stop_token& stop) { serve(stop); }};
  }
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;
  ~scripted_server() {
    thread_.request_stop();
    thread_.join();
    ::close(listener_);
  }

  [[nodiscard]] unsigned short port() const { return port_; }

 private:
  void serve(const std::stop_token& stop) {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    std::optional<std::chrono::steady_clock::time_point> first_byte;
    while (!stop.stop_requested()) {
      const bool stalled =
          first_byte && std::chrono::steady_clock::now() - *first_byte > script_.echo_for;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        fds[i].events = stalled ? 0 : POLLIN;  // Stalled: read nothing more.
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) {
        continue;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        fds.push_back({::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC), POLLIN, 0});
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if ((fds[i].revents & POLLIN) == 0) {
          continue;
        }
        std::array<char, 65536> data{};
        const ssize_t got = ::read(fds[i].fd, data.data(), data.size());
        if (got > 0) {
          first_byte = first_byte.value_or(std::chrono::steady_clock::now());
          const std::string_view answer =
              script_.reply.empty() ? std::string_view{data.data(), static_cast<std::size_t>(got)}
                                    : std::string_view{script_.reply};
          // Blocking: the load generator always reads its echoes.
          [[maybe_unused]] const auto sent =
              ::send(fds[i].fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        } else {  // The client has gone: poll() skips a negative descriptor.
          ::close(std::exchange(fds[i].fd, -1));
        }
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].fd >= 0) {
        ::close(fds[i].fd);
      }
    }
  }

  script script_;
  int listener_ = -1;
  unsigned short port_ = 0;
  std::jthread thread_;  // Last: it uses the members above.
};

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

// A generous --stall: these runs check healthy servers, and a sanitizer
// build on a loaded machine can keep a healthy echo waiting over a second
// (four 256 KiB messages in flight per connection did, under ThreadSanitizer
// with other tests running). The stall tests below use the default.
const std::vector<std::string> short_run = {"--duration", "0.4", "--warmup", "0.1", "--quiet",
                                            "--stall", "30"};

std::vector<std::string> with(std::vector<std::string> options,
                              const std::vector<std::string>& more) {
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

// Every reported figure is there and consistent with the others, and
// every request was answered in time.
void expect_sane_figures(const std::string& json, double connections) {
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json_number(json, "unanswered"), 0) << json;
  EXPECT_EQ(json_number(json, "stalled"), 0) << json;
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

TEST(EchoBench, MeasuresChapter02AndReportsItsCpuPerEcho) {
  auto server = launch_server(ch02, {"--quiet"});
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

TEST(EchoBench, DrivesChapter01WhenToldItsPrefix) {
  auto server = launch_server(ch01, {"--quiet", "--forever"});
  // 100 KiB messages reach chapter 01 in several reads, so each reply is
  // "echo:" + piece, several times over; the check must accept that.
  const auto run = run_bench(server.port, with(short_run, {"--connections", "2", "--size",
                                                           "102400", "--prefix", "echo:",
                                                           "--json"}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 2);
}

TEST(EchoBench, RefusesRepliesThatAreNotEchoes) {
  auto server = launch_server(ch01, {"--quiet", "--forever"});
  const auto run = run_bench(server.port, short_run);  // No --prefix: "echo:..." is wrong.
  EXPECT_EQ(run.status, 1);
  // It quotes the reply and, since it is the echo behind "echo:", says so.
  EXPECT_NE(run.errors.find("error: the server answered \"echo:"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("instead of the echo; it is the echo behind \"echo:\": pass that with "
                            "--prefix\n"),
            std::string::npos) << run.errors;
}

TEST(EchoBench, QuotesWhatTheServerSaidInsteadOfTheEcho) {
  scripted_server server{{.reply = "error: server busy; try again later\n"}};
  const auto run = run_bench(server.port(), short_run);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("error: the server answered \"error: server busy; try again later\" "
                            "instead of the echo\n"),
            std::string::npos) << run.errors;
  // It is not the echo behind a prefix: no hint about --prefix.
  EXPECT_EQ(run.errors.find("--prefix"), std::string::npos) << run.errors;
}

TEST(EchoBench, QuotesChapter09sRefusal) {
  // Two connections to a server that takes one: the second is refused
  // with a line, which the load generator must show, not misread.
  auto server = launch_server(ch09, {"--quiet", "--max-connections", "1"});
  const auto run = run_bench(server.port, with(short_run, {"--connections", "2"}));
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("error: the server answered \"error: server busy"), std::string::npos)
      << run.errors;
  EXPECT_NE(run.errors.find("instead of the echo"), std::string::npos) << run.errors;
  EXPECT_EQ(run.errors.find("--prefix"), std::string::npos) << run.errors;
}

// The seconds in "1.13 s" or "812.0 ms"; -1 for anything else.
double seconds_in(const std::string& text) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex{R"(([0-9.]+) (s|ms|us|ns)$)"})) {
    return -1;
  }
  const double value = std::stod(match[1].str());
  const std::string unit = match[2].str();
  const double per_second = unit == "s" ? 1 : unit == "ms" ? 1e3 : unit == "us" ? 1e6 : 1e9;
  return value / per_second;
}

std::string line_starting(const std::vector<std::string>& lines, const std::string& start) {
  for (const auto& line : lines) {
    if (line.starts_with(start)) {
      return line;
    }
  }
  return "";
}

TEST(EchoBench, StopsAndFailsWhenTheServerStalls) {
  // The server answers for 300 ms, then not at all. A run of a minute: it
  // ends (run_bench gives it 20 s) only because the stall is seen while the
  // run goes on, once a request has waited longer than the default 1 s.
  scripted_server server{{.echo_for = 300ms, .reply = {}}};
  const auto run = run_bench(server.port(), {"--duration", "60", "--warmup", "0.1", "--quiet"});
  ASSERT_EQ(run.status, 1) << run.errors;
  EXPECT_EQ(run.errors, "error: 10 requests waited longer than 1 s for their echo: the server "
                        "stalled\n");
  EXPECT_NE(line_starting(run.lines, "Stopped early: a request waited longer than 1 s"), "");
  // Each connection waits for one echo; their age is at least the stall's.
  const auto unanswered = line_starting(run.lines, "Unanswered:      10 requests, oldest waited ");
  ASSERT_NE(unanswered, "") << ::testing::PrintToString(run.lines);
  EXPECT_GE(seconds_in(unanswered), 1.0) << unanswered;
  // And the maximum latency shows it, though no echo took that long.
  const auto max = line_starting(run.lines, "  max ");
  EXPECT_GE(seconds_in(max), seconds_in(unanswered)) << max;
}

TEST(EchoBench, WaitsForTheLastEchoesNoLongerThanTheStall) {
  // The server stops answering 300 ms in; the window ends at 600 ms, before
  // any request has waited --stall 2 s. The end of the run waits for the
  // echoes in flight until they are 2 s old, no longer, then reports them.
  scripted_server server{{.echo_for = 300ms, .reply = {}}};
  const auto run = run_bench(server.port(), {"--duration", "0.5", "--warmup", "0.1", "--stall",
                                             "2", "--quiet", "--json"});
  ASSERT_EQ(run.status, 1) << run.errors;
  EXPECT_EQ(run.errors, "error: 10 requests waited longer than 2 s for their echo: the server "
                        "stalled\n");
  EXPECT_EQ(json_number(run.json(), "unanswered"), 10) << run.json();
  EXPECT_EQ(json_number(run.json(), "stalled"), 10) << run.json();
  EXPECT_EQ(json_number(run.json(), "stall_s"), 2) << run.json();
  EXPECT_GE(json_number(run.json(), "unanswered_oldest_us"), 2e6) << run.json();
  EXPECT_GE(json_number(run.json(), "latency_max_us"),
            json_number(run.json(), "unanswered_oldest_us")) << run.json();
}

TEST(EchoBench, ACtrlCEndsTheWaitForTheLastEchoes) {
  // With --stall 30 the end of the run would wait up to 30 s for echoes
  // from a server that stopped answering; Ctrl-C there ends the wait and
  // the run reports them, younger than --stall: unanswered, not stalled.
  scripted_server server{{.echo_for = 100ms, .reply = {}}};
  child_process load{{executables::ch04_echo_bench, "--host", "127.0.0.1", "--port",
                      std::to_string(server.port()), "--warmup", "0.1", "--duration", "0.3",
                      "--stall", "30"}};
  // The window is over once the last progress line is out (stderr is a
  // file here: one line per update).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (load.stderr_text().find("measuring   0.3/0.3 s") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  load.send_signal(SIGINT);
  const auto lines = load.read_remaining_lines(10s);
  EXPECT_EQ(load.wait(10s), 0) << load.stderr_text();
  EXPECT_NE(line_starting(lines, "Unanswered:      10 requests, oldest waited "), "")
      << ::testing::PrintToString(lines);
  EXPECT_EQ(line_starting(lines, "Interrupted"), "");  // The window itself was whole.
  EXPECT_EQ(load.stderr_text().find("error"), std::string::npos) << load.stderr_text();
}

TEST(EchoBench, PipelinesLargeMessagesWithoutDeadlock) {
  // 4 x 256 KiB in flight per connection is more than the socket buffers
  // hold: with one coroutine both writing and reading, client and server
  // would each wait for the other to read. A second measured, not 0.4: a
  // sanitizer build on a loaded machine echoes only a few of these in 0.4 s.
  auto server = launch_server(epoll_server);
  const auto run = run_bench(server.port, {"--duration", "1", "--warmup", "0.1", "--quiet",
                                           "--stall", "30", "--connections", "3", "--size",
                                           "262144", "--pipeline", "4", "--json"});
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 3);
}

TEST(EchoBench, SpreadsConnectionsOverThreads) {
  auto server = launch_server(ch02, {"--quiet"});
  const auto run = run_bench(server.port, with(short_run, {"--connections", "6", "--threads",
                                                           "3", "--pipeline", "2", "--json"}));
  ASSERT_EQ(run.status, 0) << run.errors;
  expect_sane_figures(run.json(), 6);
  EXPECT_EQ(json_number(run.json(), "threads"), 3);
}

TEST(EchoBench, PrintsAHumanReport) {
  auto server = launch_server(epoll_server);
  const auto run = run_bench(server.port, short_run);
  ASSERT_EQ(run.status, 0) << run.errors;
  ASSERT_GE(run.lines.size(), 10U);
  EXPECT_EQ(line_starting(run.lines, "Unanswered"), "");  // Every echo came back.
  EXPECT_EQ(run.lines[0], "Benchmarking 127.0.0.1:" + std::to_string(server.port) +
                              ": 10 connections x 1024-byte messages, pipeline 1, 1 thread, "
                              "0.1 s warm-up, 0.4 s measured");
  EXPECT_TRUE(run.lines[1].starts_with("Requests:")) << run.lines[1];
  EXPECT_TRUE(run.lines[2].starts_with("Requests/s:")) << run.lines[2];
  EXPECT_TRUE(run.lines[4].starts_with("Latency:         mean")) << run.lines[4];
}

TEST(EchoBench, ShowsProgressUnlessQuiet) {
  auto server = launch_server(epoll_server);
  const auto run =
      run_bench(server.port, {"--duration", "1.2", "--warmup", "0.2", "--stall", "30"});
  ASSERT_EQ(run.status, 0) << run.errors;
  // stderr is a file here, not a terminal: one line per update.
  EXPECT_NE(run.errors.find("warm-up"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("measuring   1.0/1.2 s"), std::string::npos) << run.errors;
  EXPECT_NE(run.errors.find("requests/s"), std::string::npos) << run.errors;
}

TEST(EchoBench, FailsClearlyWhenTheServerDies) {
  auto server = launch_server(ch02, {"--quiet"});
  child_process load{{executables::ch04_echo_bench, "--host", "127.0.0.1", "--port",
                      std::to_string(server.port), "--duration", "20", "--quiet"}};
  std::this_thread::sleep_for(500ms);
  server.process->send_signal(SIGKILL);
  const auto status = load.wait(10s);
  EXPECT_EQ(status, 1);
  EXPECT_NE(load.stderr_text().find("error: "), std::string::npos) << load.stderr_text();
}

TEST(EchoBench, FailsClearlyWhenTheServerPidIsGone) {
  // A --server-pid whose process ends (and is reaped) during the run: its
  // CPU time cannot be read. The run must end with status 1 and say so, not
  // wait forever for a signal.
  auto server = launch_server(epoll_server);
  child_process gone{{"/bin/sleep", "0.3"}};
  const auto pid = std::to_string(gone.pid());
  child_process load{{executables::ch04_echo_bench, "--host", "127.0.0.1", "--port",
                      std::to_string(server.port), "--warmup", "0.1", "--duration", "1",
                      "--server-pid", pid, "--quiet"}};
  EXPECT_EQ(gone.wait(), 0);
  EXPECT_EQ(load.wait(20s), 1);
  EXPECT_NE(load.stderr_text().find("error: cannot read the CPU time of process " + pid),
            std::string::npos) << load.stderr_text();
}

TEST(EchoBench, SaysWhenNobodyListens) {
  // A port that was free a moment ago: bound, then closed.
  auto server = launch_server(epoll_server);
  const auto port = server.port;
  server.process->send_signal(SIGTERM);
  ASSERT_EQ(server.process->wait(), 0);
  const auto run = run_bench(port, short_run);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos) << run.errors;
}

TEST(EchoBench, NamesAHostItCannotResolve) {
  std::string errors;
  EXPECT_EQ(run_to_end(bench, {"--host", "nosuchhost.invalid", "--quiet"}, nullptr, &errors), 1);
  EXPECT_TRUE(errors.starts_with("error: cannot resolve nosuchhost.invalid:2222: ")) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
}

TEST(EchoBench, RejectsBadOptionsWithStatus2) {
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--connections", "0"},
           {"--size", "0"},
           {"--duration", "-1"},
           {"--duration", "nan"},
           {"--duration", "inf"},
           {"--warmup", "nan"},
           {"--stall", "nan"},
           {"--stall", "0"},
           {"--threads", "0"},
           {"--pipeline", "0"},
           {"--server-pid", "-5"},
           {"--prefix", "abcdefghijklmnopqrstuvwxyz0123456789"},
           {"--no-such-option"}}) {
    std::string errors;
    EXPECT_EQ(run_to_end(bench, bad, nullptr, &errors), 2) << bad.front();
    // One short line that names the option ("--server-pid: Value -5 not in
    // range 0.000000 to 1797693134862315708145...", 300 digits, was not).
    const auto first_line = errors.substr(0, errors.find('\n'));
    EXPECT_NE(first_line.find("error"), std::string::npos) << bad.front() << ": " << errors;
    EXPECT_NE(first_line.find(bad.front()), std::string::npos) << bad.front() << ": " << errors;
    EXPECT_LT(first_line.size(), 160U) << first_line;
  }
}

TEST(EpollEchoServer, EchoesALargePayloadWhileItIsBeingSent) {
  auto server = launch_server(epoll_server);
  test_client client{"127.0.0.1", server.port};
  std::string payload(4 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7 % 251);
  }
  EXPECT_EQ(client.exchange(payload, payload.size()), payload);
  client.shutdown_write();
  EXPECT_EQ(client.receive_until_eof(), "");
}

TEST(EpollEchoServer, KeepsTheServerContract) {
  auto server = launch_server(epoll_server, {"--quiet"});
  EXPECT_TRUE(server.first_line.starts_with("Serving on 127.0.0.1:")) << server.first_line;
  server.process->send_signal(SIGINT);
  EXPECT_EQ(server.process->wait(), 0);
  std::string errors;
  EXPECT_EQ(run_to_end(epoll_server, {"--bogus"}, nullptr, &errors), 2);
  EXPECT_NE(errors.find("--bogus"), std::string::npos) << errors;
}

}  // namespace
}  // namespace sandbox::testing
