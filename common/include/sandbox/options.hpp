/// \file
/// \brief The command-line options every chapter shares, parsed by CLI11.
///
/// asyncio's lesson hard-codes `'localhost', 2222`; our chapters take them
/// as options so tests can run many servers side by side on free ports.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sandbox {

/// The lesson's port. Any free port works; `0` asks the kernel for one.
inline constexpr std::uint16_t default_port = 2222;

/// Options of every server chapter: where to listen and how chatty to be.
struct server_options {
  std::string host = "localhost";  ///< Name or address; every address it resolves to is served.
  std::uint16_t port = default_port;  ///< TCP port; 0 picks a free one.
  bool quiet = false;  ///< Drop the per-message lines (for load tests).
};

/// Options of every client chapter: where to connect.
struct client_options {
  std::string host = "localhost";  ///< Name or address of the server.
  std::uint16_t port = default_port;  ///< The server's TCP port.
};

/// A CLI11 check for a TCP port: digits only, `lowest` to 65535. It refuses
/// an empty value, which CLI11 would otherwise read as 0 ("any free port").
/// A server may ask for port 0 (the kernel picks one); a client may not,
/// since nothing listens there: its options use `lowest` = 1.
[[nodiscard]] CLI::Validator port_number(std::uint16_t lowest = 0);

/// A CLI11 check for a number of seconds between `min` and `max`. Unlike
/// `CLI::Range`, it refuses `nan` and `inf` (a timeout of "nan" seconds
/// would pass a range check, since every comparison with NaN is false).
[[nodiscard]] CLI::Validator seconds_between(double min, double max);

/// A number of seconds, as the options above read it (`--idle-timeout 0.5`),
/// turned into the duration that timers take: `seconds(0.5)` is 500 ms. The
/// fraction below the clock's tick is dropped, as `duration_cast` drops it.
[[nodiscard]] std::chrono::steady_clock::duration seconds(double count);

/// A chapter's command line: the shared options plus any of its own.
///
/// \code
/// sandbox::command_line cli{"Chapter 01: the protocol echo server"};
/// auto& options = cli.add_server_options();
/// bool forever = false;
/// cli.app().add_flag("--forever", forever, "keep serving");
/// cli.parse(argc, argv);  // exits 0 on --help, 2 on a bad option
/// \endcode
class command_line {
 public:
  /// `description` heads the `--help` text.
  explicit command_line(std::string description);

  /// Adds `--host`, `--port` and `--quiet`; the values land in the returned
  /// object when parse() runs. `port` is the default `--port`: the lesson's
  /// 2222, unless a program has a reason for another (chapter 13's mini
  /// Redis takes 6380, so that it never fights a local Redis on 6379).
  server_options& add_server_options(std::uint16_t port = default_port);

  /// Adds `--host` and `--port` for a client.
  client_options& add_client_options();

  /// Adds `--threads N` (1 to 256), by default the number of cores
  /// (`std::thread::hardware_concurrency()`): the threads that run the
  /// event loops, in chapters 05 to 07.
  std::size_t& add_threads_option();

  /// The CLI11 application, for options a single chapter adds.
  CLI::App& app() noexcept { return app_; }

  /// Parses the command line. `--help` prints the usage and returns 0; a bad
  /// option prints one clear error line and a hint to stderr and returns 2.
  /// Returns `std::nullopt` when the program should go on.
  [[nodiscard]] std::optional<int> try_parse(int argc, const char* const* argv);

  /// try_parse(), then `std::exit` with its status when there is one.
  void parse(int argc, const char* const* argv);

 private:
  CLI::App app_;
  server_options server_;
  client_options client_;
  std::size_t threads_ = 1;
};

}  // namespace sandbox
