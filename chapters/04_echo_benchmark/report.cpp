#include "report.hpp"

#include "sandbox/console.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <utility>

namespace ch04 {
namespace {

using std::chrono::nanoseconds;

// The percentiles every report shows. p50 is the typical request; p99 and
// p99.9 are the ones a user with many requests per page view meets often.
constexpr std::array<std::pair<std::string_view, double>, 4> percentiles{
    {{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}}};

std::string fixed(double value, int decimals) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  return text.data();
}

double seconds(nanoseconds value) { return static_cast<double>(value.count()) / 1e9; }

// "812 ns", "41.3 us", "1.92 ms": three significant figures is all a shared
// machine's latencies are worth.
std::string human(nanoseconds value) {
  const auto ns = static_cast<double>(value.count());
  if (ns < 1e3) {
    return fixed(ns, 0) + " ns";
  }
  if (ns < 1e6) {
    return fixed(ns / 1e3, ns < 1e4 ? 2 : 1) + " us";
  }
  if (ns < 1e9) {
    return fixed(ns / 1e6, ns < 1e7 ? 2 : 1) + " ms";
  }
  return fixed(ns / 1e9, 2) + " s";
}

// A number of seconds as the user wrote it: "1", "0.25".
std::string option_seconds(double value) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%g", value);
  return text.data();
}

std::string requests(std::uint64_t count) {
  return std::to_string(count) + (count == 1 ? " request" : " requests");
}

// The slowest request: the slowest echo measured, or a longer wait that the
// histogram does not hold (an echo later than --stall, or none at all).
nanoseconds max_latency(const bench_results& results) {
  return std::max(results.latency.max(), results.longest_wait);
}

double requests_per_second(const bench_results& results) {
  const double elapsed = results.elapsed.count();
  return elapsed > 0 ? static_cast<double>(results.latency.count()) / elapsed : 0.0;
}

double mib_per_second(const bench_options& options, const bench_results& results) {
  return requests_per_second(results) * static_cast<double>(options.size) / (1024.0 * 1024.0);
}

// CPU time as a share of the window: 1.0 is one core busy all the time.
double utilization(nanoseconds cpu, const bench_results& results) {
  const double elapsed = results.elapsed.count();
  return elapsed > 0 ? seconds(cpu) / elapsed : 0.0;
}

nanoseconds per_echo(nanoseconds cpu, const bench_results& results) {
  const auto count = results.latency.count();
  return count == 0 ? nanoseconds{0} : nanoseconds{cpu.count() / static_cast<std::int64_t>(count)};
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      std::array<char, 8> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\u%04x", c);
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out + '"';
}

double microseconds(nanoseconds value) { return static_cast<double>(value.count()) / 1e3; }

}  // namespace

void print_report(const bench_options& options, const bench_results& results) {
  const auto& latency = results.latency;
  if (results.interrupted) {
    sandbox::println("Interrupted: the figures cover the part measured before Ctrl-C.");
  }
  if (results.stopped_by_stall) {
    sandbox::println("Stopped early: a request waited longer than ", option_seconds(options.stall),
                     " s for its echo; the figures cover the part measured before.");
  }
  sandbox::println("Requests:        ", latency.count(), " in ",
                   fixed(results.elapsed.count(), 2), " s");
  sandbox::println("Requests/s:      ", fixed(requests_per_second(results), 0));
  sandbox::println("Throughput:      ", fixed(mib_per_second(options, results), 1),
                   " MiB/s each way");
  sandbox::println("Latency:         mean ", human(latency.mean()));
  for (const auto& [name, percent] : percentiles) {
    sandbox::println("  ", name, std::string(14 - name.size(), ' '), human(latency.percentile(percent)));
  }
  sandbox::println("  max           ", human(max_latency(results)));
  if (results.unanswered > 0) {
    sandbox::println("Unanswered:      ", requests(results.unanswered), ", oldest waited ",
                     human(results.oldest_unanswered));
  }

  const double client_busy = utilization(results.client_cpu.total(), results);
  sandbox::println("Load generator:  ", fixed(100 * client_busy, 0), "% of a core, ",
                   options.threads, options.threads == 1 ? " thread" : " threads");
  // A load generator that is itself flat out measures its own limit, not
  // the server's. The server's CPU per echo below is still right then.
  if (client_busy > 0.9 * options.threads) {
    sandbox::println("                 (saturated: requests/s is partly its limit; "
                     "trust the server's CPU per echo)");
  }
  if (results.server_cpu) {
    const auto& cpu = *results.server_cpu;
    sandbox::println("Server CPU:      ", human(per_echo(cpu.total(), results)),
                     " per echo (user ", human(per_echo(cpu.user, results)), ", system ",
                     human(per_echo(cpu.system, results)), "), ",
                     fixed(100 * utilization(cpu.total(), results), 0), "% of a core");
  }
}

void print_json(const bench_options& options, const bench_results& results) {
  const auto& latency = results.latency;
  std::string json = "{";
  auto field = [&json](std::string_view name, const std::string& value) {
    if (json.size() > 1) {
      json += ", ";
    }
    json += json_string(name) + ": " + value;
  };
  field("host", json_string(options.host));
  field("port", std::to_string(options.port));
  field("connections", std::to_string(options.connections));
  field("size", std::to_string(options.size));
  field("pipeline", std::to_string(options.pipeline));
  field("threads", std::to_string(options.threads));
  field("interrupted", results.interrupted ? "true" : "false");
  field("elapsed_s", fixed(results.elapsed.count(), 6));
  field("requests", std::to_string(latency.count()));
  field("requests_per_s", fixed(requests_per_second(results), 1));
  field("mib_per_s", fixed(mib_per_second(options, results), 3));
  field("latency_mean_us", fixed(microseconds(latency.mean()), 3));
  for (const auto& [name, percent] : percentiles) {
    std::string key = "latency_" + std::string{name} + "_us";
    for (char& c : key) {
      c = c == '.' ? '_' : c;  // "latency_p99_9_us"
    }
    field(key, fixed(microseconds(latency.percentile(percent)), 3));
  }
  field("latency_max_us", fixed(microseconds(max_latency(results)), 3));
  field("stall_s", fixed(options.stall, 3));
  field("stopped_by_stall", results.stopped_by_stall ? "true" : "false");
  field("stalled", std::to_string(results.stalled));
  field("unanswered", std::to_string(results.unanswered));
  field("unanswered_oldest_us", fixed(microseconds(results.oldest_unanswered), 3));
  field("client_cpu_s", fixed(seconds(results.client_cpu.total()), 3));
  if (results.server_cpu) {
    const auto& cpu = *results.server_cpu;
    field("server_pid", std::to_string(options.server_pid));
    field("server_cpu_s", fixed(seconds(cpu.total()), 3));
    field("server_user_s", fixed(seconds(cpu.user), 3));
    field("server_system_s", fixed(seconds(cpu.system), 3));
    field("server_cpu_us_per_echo", fixed(microseconds(per_echo(cpu.total(), results)), 4));
  }
  sandbox::println(json, "}");
}

void print_stall_error(const bench_options& options, const bench_results& results) {
  std::cerr << "error: " << requests(results.stalled) << " waited longer than "
            << option_seconds(options.stall) << " s for "
            << (results.stalled == 1 ? "its" : "their") << " echo: the server stalled\n";
}

}  // namespace ch04
