// The shared command line: defaults, values, and the exit statuses a user
// and a script rely on (0 for --help, 2 for a bad option).
#include "sandbox/options.hpp"

#include "capture.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using sandbox::testing::captured_stderr;
using sandbox::testing::captured_stdout;

std::optional<int> parse(sandbox::command_line& cli, std::vector<const char*> args) {
  args.insert(args.begin(), "ch99_test");
  return cli.try_parse(static_cast<int>(args.size()), args.data());
}

// The server options that `args` give: they parse, and are these.
void expect_server_options(std::vector<const char*> args, const std::string& host, int port,
                           bool quiet) {
  sandbox::command_line cli{"test"};
  const auto& options = cli.add_server_options();
  EXPECT_EQ(parse(cli, std::move(args)), std::nullopt);
  EXPECT_EQ(options.host, host);
  EXPECT_EQ(options.port, port);
  EXPECT_EQ(options.quiet, quiet);
}

TEST(CommandLine, ServerDefaultsAreTheLessons) {
  expect_server_options({}, "localhost", 2222, false);
}

TEST(CommandLine, ReadsHostPortAndQuiet) {
  expect_server_options({"--host", "::1", "--port", "0", "--quiet"}, "::1", 0, true);
}

TEST(CommandLine, ClientTakesHostAndPort) {
  sandbox::command_line cli{"test"};
  const auto& options = cli.add_client_options();
  EXPECT_EQ(parse(cli, {"--port=4000", "--host=127.0.0.1"}), std::nullopt);
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, 4000);
  EXPECT_EQ(parse(cli, {"--quiet"}), 2) << "clients have no --quiet";
}

// Port 0 means "any free port" to a server; a client would try to connect
// to it and fail later with a confusing error, so its options refuse it.
TEST(CommandLine, AClientRefusesPortZeroAndItsHelpSaysWhatThePortIs) {
  sandbox::command_line cli{"test"};
  cli.add_client_options();
  std::optional<int> status;
  const std::string message = captured_stderr([&] { status = parse(cli, {"--port", "0"}); });
  EXPECT_EQ(status, 2);
  EXPECT_NE(message.find("from 1 to 65535"), std::string::npos) << message;

  sandbox::command_line again{"test"};
  again.add_client_options();
  const std::string help = captured_stdout([&] { status = parse(again, {"--help"}); });
  EXPECT_EQ(status, 0);
  EXPECT_NE(help.find("--port"), std::string::npos) << help;
  EXPECT_EQ(help.find("free port"), std::string::npos) << help;
}

TEST(CommandLine, HelpExitsWithZero) {
  sandbox::command_line cli{"test"};
  cli.add_server_options();
  std::optional<int> status;
  const std::string help = captured_stdout([&] { status = parse(cli, {"--help"}); });
  EXPECT_EQ(status, 0);
  EXPECT_NE(help.find("--port"), std::string::npos) << help;
}

TEST(CommandLine, BadOptionsExitWithTwoAndSayWhy) {
  for (const auto& args : std::vector<std::vector<const char*>>{
           {"--no-such-option"}, {"--port", "70000"}, {"--port", "-1"},
           {"--port", "http"}, {"--port"}, {"--port", ""}, {"--port", " 80"}, {"extra"}}) {
    sandbox::command_line cli{"test"};
    cli.add_server_options();
    std::optional<int> status;
    const std::string message = captured_stderr([&] { status = parse(cli, args); });
    EXPECT_EQ(status, 2) << args.front();
    EXPECT_NE(message.find("ch99_test: error: "), std::string::npos) << message;
  }
}

TEST(CommandLine, SecondsMustBeAFiniteNumberInRange) {
  for (const char* bad : {"-1", "0", "nan", "inf", "-inf", "soon", "100.5"}) {
    sandbox::command_line cli{"test"};
    double timeout = 30;
    cli.app().add_option("--timeout", timeout)->check(sandbox::seconds_between(0.001, 100));
    EXPECT_EQ(parse(cli, {"--timeout", bad}), 2) << bad;
  }
  sandbox::command_line cli{"test"};
  double timeout = 30;
  cli.app().add_option("--timeout", timeout)->check(sandbox::seconds_between(0.001, 100));
  EXPECT_EQ(parse(cli, {"--timeout", "2.5"}), std::nullopt);
  EXPECT_EQ(timeout, 2.5);
}

// The seconds an option holds, as the duration a timer takes: chapters 04, 09
// and 10 all turn their --stall, --idle-timeout, --grace and --duration so.
TEST(Seconds, TurnsADoubleIntoASteadyClockDuration) {
  using namespace std::chrono_literals;
  EXPECT_EQ(sandbox::seconds(0), std::chrono::steady_clock::duration::zero());
  EXPECT_EQ(sandbox::seconds(0.5), 500ms);
  EXPECT_EQ(sandbox::seconds(2.5), 2500ms);
  EXPECT_EQ(sandbox::seconds(86400), 24h);
  EXPECT_EQ(sandbox::seconds(0.001), 1ms);
  // What the clock cannot hold is dropped, not rounded up.
  EXPECT_EQ(sandbox::seconds(1.5e-9), std::chrono::steady_clock::duration{1ns});
}

}  // namespace
