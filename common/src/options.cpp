/// \file
/// \brief How sandbox/options.hpp declares and checks the shared options.
#include "sandbox/options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

namespace sandbox {
namespace {

// The status of a bad command line, as Python's argparse and the BSD
// convention (sysexits' EX_USAGE is 64, but 2 is what shells and argparse use).
constexpr int usage_error_status = 2;

void add_endpoint_options(CLI::App& app, std::string& host, std::uint16_t& port,
                          std::string_view host_help, std::string_view port_help,
                          std::uint16_t lowest_port) {
  app.add_option("--host", host, std::string{host_help})->capture_default_str();
  // CLI11 checks the type: "70000" or "http" fails with a clear message
  // instead of silently wrapping around to some other port. It converts an
  // empty value ("--port ''", or "--port $UNSET_VARIABLE" in a script) to 0,
  // though, and 0 means "any free port": a server would quietly listen
  // somewhere nobody looks. port_number() refuses it first.
  app.add_option("--port", port, std::string{port_help})
      ->check(port_number(lowest_port))
      ->capture_default_str();
}

}  // namespace

command_line::command_line(std::string description) : app_{std::move(description)} {
  app_.set_help_flag("-h,--help", "Print this help message and exit");
}

server_options& command_line::add_server_options(std::uint16_t port) {
  server_.port = port;  // Before the option is added: --help shows it as the default.
  add_endpoint_options(app_, server_.host, server_.port,
                       "Host name or address to listen on; a name is served on "
                       "every address it resolves to",
                       "TCP port to listen on (0 picks a free port)", 0);
  app_.add_flag("-q,--quiet", server_.quiet, "Do not print a line per message");
  return server_;
}

client_options& command_line::add_client_options() {
  add_endpoint_options(app_, client_.host, client_.port, "Server host name or address",
                       "The server's TCP port", 1);
  return client_;
}

std::size_t& command_line::add_threads_option() {
  // hardware_concurrency() may say 0 when it cannot tell.
  threads_ = std::max(1U, std::thread::hardware_concurrency());
  app_.add_option("--threads", threads_, "Threads running the event loops (default: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  return threads_;
}

CLI::Validator port_number(std::uint16_t lowest) {
  return CLI::Validator{
      [lowest](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 5 &&
                            std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || std::stoul(text) > 65535 || std::stoul(text) < lowest) {
          return "Value '" + text + "' is not a port number from " + std::to_string(lowest) +
                 " to 65535";
        }
        return {};
      },
      "PORT"};
}

CLI::Validator seconds_between(double min, double max) {
  std::ostringstream range;
  range << "a number of seconds from " << min << " to " << max;
  return CLI::Validator{
      [min, max, range = range.str()](std::string& text) -> std::string {
        // strtod, and the whole text must be the number ("2.5", "1e-3"):
        // what CLI11 itself does for a double, without its detail namespace.
        char* end = nullptr;
        const double value = text.empty() ? 0 : std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
            value < min || value > max) {
          return "Value " + text + " is not " + range;
        }
        return {};
      },
      "SECONDS"};
}

std::chrono::steady_clock::duration seconds(double count) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>{count});
}

std::optional<int> command_line::try_parse(int argc, const char* const* argv) {
  if (argc > 0) {
    // "ch01_protocol_echo_server", not the full path the shell passed.
    app_.name(std::filesystem::path{argv[0]}.filename().string());
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app_.help() << std::flush;
    return 0;
  } catch (const CLI::ParseError& error) {
    std::cerr << app_.get_name() << ": error: " << error.what() << '\n'
              << "Run with --help for the options.\n";
    return usage_error_status;
  }
  return std::nullopt;
}

void command_line::parse(int argc, const char* const* argv) {
  if (const auto status = try_parse(argc, argv)) {
    std::exit(*status);
  }
}

}  // namespace sandbox
