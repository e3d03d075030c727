// How the behavioural tests start, run and judge the programs.
#include "programs.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <thread>

namespace sandbox::testing {

program cpp_program(const char* executable) { return {"Cpp", {executable}}; }

program plain_asio_program(const char* executable) { return {"PlainAsio", {executable}}; }

program python_program(const char* script) { return {"Python", {python3, script}}; }

std::string program_name(const ::testing::TestParamInfo<program>& info) {
  return info.param.label;
}

running_server launch_server(const program& server, std::vector<std::string> options) {
  std::vector<std::string> argv = server.command;
  argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", "0"});
  argv.insert(argv.end(), options.begin(), options.end());
  running_server started;
  started.process = std::make_unique<child_process>(argv);
  started.first_line = started.process->read_line(20s).value_or("<no output>");
  started.port = parse_serving_port(started.first_line);
  EXPECT_NE(started.port, 0) << "first line: " << started.first_line
                             << "\nstderr: " << started.process->stderr_text();
  return started;
}

std::optional<int> run_to_end(const program& prog, std::vector<std::string> options,
                              std::vector<std::string>* stdout_lines, std::string* stderr_text) {
  std::vector<std::string> argv = prog.command;
  argv.insert(argv.end(), options.begin(), options.end());
  child_process process{argv};
  auto lines = process.read_remaining_lines(20s);
  const auto status = process.wait(20s);
  if (stdout_lines != nullptr) {
    *stdout_lines = std::move(lines);
  }
  if (stderr_text != nullptr) {
    *stderr_text = process.stderr_text();
  }
  return status;
}

void expect_a_port_in_use_fails_with_one_line(const program& server) {
  auto first = launch_server(server);
  std::string errors;
  const auto status = run_to_end(server,
                                 {"--host", "127.0.0.1", "--port", std::to_string(first.port)},
                                 nullptr, &errors);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_NE(errors.find("ddress already in use"), std::string::npos) << errors;
}

void expect_resets_are_counted_when_quiet(const program& server,
                                          std::vector<std::string> options) {
  constexpr int resets = 3;
  for (const bool quiet : {true, false}) {
    auto with = options;
    if (quiet) {
      with.emplace_back("--quiet");
    }
    auto started = launch_server(server, with);
    for (int i = 0; i < resets; ++i) {
      test_client crashing{"127.0.0.1", started.port};
      crashing.send("boom");
      EXPECT_EQ(crashing.receive_exactly(4), "boom");
      crashing.reset();  // RST: the server's next read fails with ECONNRESET.
    }
    // The server must have read the resets before the signal, which stops
    // its loop at once. Without --quiet the error lines say when; with it,
    // nothing does, so give it a generous moment (a loaded CI machine).
    if (quiet) {
      std::this_thread::sleep_for(1s);
    } else {
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::ranges::count(started.process->stderr_text(), '\n') < resets &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
      }
    }
    started.process->send_signal(SIGINT);
    const auto lines = started.process->read_remaining_lines();
    EXPECT_EQ(started.process->wait(), 0);
    const std::string errors = started.process->stderr_text();
    const auto logged = std::count(errors.begin(), errors.end(), '\n');
    const std::string count_line = "Clients that reset their connection: " + std::to_string(resets);
    if (quiet) {
      EXPECT_EQ(logged, 0) << errors;
      ASSERT_FALSE(lines.empty());
      EXPECT_EQ(lines.back(), count_line);
    } else {
      EXPECT_EQ(logged, resets) << errors;
      EXPECT_NE(errors.find("Connection reset by peer"), std::string::npos) << errors;
      EXPECT_EQ(std::ranges::find(lines, count_line), lines.end()) << "the count is for --quiet";
    }
  }
}

int echoed_after_retries(unsigned short port, const std::string& line) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int attempt = 1; std::chrono::steady_clock::now() < deadline; ++attempt) {
    test_client client{"127.0.0.1", port};
    client.send(line);
    if (client.receive_exactly(line.size()) == line) {
      return attempt;
    }
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

}  // namespace sandbox::testing
