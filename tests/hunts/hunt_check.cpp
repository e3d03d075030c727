// The bug hunts' checks (bughunts/): one scenario per hunt, played against
// a real server over loopback. Each starts the server on a free port, does
// to it what a user did when the bug showed, and says what it saw:
//
//   hunt_check SCENARIO SERVER [SERVER OPTIONS...]
//
// The last line is a verdict: "clean: ..." (status 0) or "bug: ..." (status
// 1). Everything the server wrote to stderr is shown before it, so a
// sanitizer's report reaches CTest, whose PASS_REGULAR_EXPRESSION looks for
// its lines (tests/hunts/CMakeLists.txt). Every wait is bounded: a server
// that hangs is a verdict, not a hung test.
#include "client.hpp"
#include "process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sandbox::testing::child_process;
using sandbox::testing::test_client;

struct verdict {
  bool bug;
  std::string what;
};

// The server under test, on a free port of 127.0.0.1.
struct server {
  std::unique_ptr<child_process> process;
  unsigned short port = 0;

  server(const std::string& path, std::vector<std::string> options) {
    std::vector<std::string> argv{path, "--host", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), options.begin(), options.end());
    process = std::make_unique<child_process>(argv);
    const auto line = process->read_line(10s);
    port = line ? sandbox::testing::parse_serving_port(*line) : 0;
    if (port == 0) {
      throw std::runtime_error{"the server did not say where it serves: " +
                               process->stderr_text()};
    }
  }

  // SIGTERM, then its exit status (nullopt if it would not stop).
  std::optional<int> stop() {
    if (process->running()) {
      process->send_signal(SIGTERM);
    }
    return process->wait(5s);
  }
};

// A question and its answer on a fresh connection: the server still serves.
bool answers(const server& under_test, const std::string& question, const std::string& answer) {
  try {
    test_client client{"127.0.0.1", under_test.port};
    client.send(question);
    return client.receive_exactly(answer.size(), 3s) == answer;
  } catch (const std::exception&) {
    return false;
  }
}

// A clean end: status 0 on SIGTERM.
verdict stops_cleanly(server& under_test) {
  const auto status = under_test.stop();
  if (status != 0) {
    return {true, "the server ended with status " + (status ? std::to_string(*status) : "none")};
  }
  return {false, "the server stopped with status 0"};
}

// A clean end: the server still answers, then stops on SIGTERM with status 0.
verdict still_serves_then_stops(server& under_test, const std::string& question,
                                const std::string& answer) {
  if (!answers(under_test, question, answer)) {
    under_test.stop();
    return {true, "the server no longer answers (it crashed or hangs)"};
  }
  verdict end = stops_cleanly(under_test);
  if (!end.bug) {
    end.what = "the server answered, then stopped with status 0";
  }
  return end;
}

// Hunt 01: a client asks, then leaves before the answer (--think-ms 200).
verdict client_leaves(server& under_test) {
  {
    test_client client{"127.0.0.1", under_test.port};
    client.send("are you there?\n");
  }  // Closed at once, the question unanswered.
  std::this_thread::sleep_for(500ms);  // The answer was due after 200 ms.
  return still_serves_then_stops(under_test, "again?\n", "answer: again?\n");
}

// Hunt 02: an 8 MiB line, echoed while heartbeats go out every 5 ms. The
// client reads nothing for 300 ms, so the echo fills the socket's buffers
// and needs many write_some calls; then it reads all. Every line must be
// "heartbeat" or the whole echo.
verdict big_echo(server& under_test) {
  constexpr std::size_t size = 8 * 1024 * 1024;
  test_client client{"127.0.0.1", under_test.port};
  client.send(std::string(size, 'x') + "\n", 20s);
  std::this_thread::sleep_for(300ms);
  std::string received;
  std::size_t echoed = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (echoed < size || received.find('\n', received.find_last_of('x')) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) {
      return {true, "the echo did not come back whole within 20 s"};
    }
    const std::string some = client.receive_some(10s);
    if (some.empty()) {
      return {true, "the server closed the connection"};
    }
    echoed += static_cast<std::size_t>(std::count(some.begin(), some.end(), 'x'));
    received += some;
  }
  std::size_t heartbeats = 0;
  std::size_t start = 0;
  for (std::size_t end; (end = received.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string_view line{received.data() + start, end - start};
    if (line == "heartbeat") {
      ++heartbeats;
    } else if (line.size() != size || line.find_first_not_of('x') != std::string_view::npos) {
      const std::size_t inside = line.find("heartbeat");
      return {true, "interleaved bytes: a line of " + std::to_string(line.size()) +
                        " bytes that is neither the echo nor a heartbeat" +
                        (inside == std::string_view::npos
                             ? std::string{}
                             : " (\"heartbeat\" at byte " + std::to_string(inside) + ")")};
    }
  }
  std::cout << "the echo came back whole, with " << heartbeats << " heartbeats around it\n";
  return stops_cleanly(under_test);
}

// Hunt 03 (--threads 2): 8 clients send 300 words each at once, then read
// the answers. A server that deadlocked answers nothing more: after 3 s of
// silence the check says so and kills it (SIGTERM would need a free thread).
verdict many_words(server& under_test) {
  constexpr int clients = 8;
  constexpr int words = 300;
  std::vector<test_client> connections;
  for (int i = 0; i < clients; ++i) {
    connections.emplace_back("127.0.0.1", under_test.port);
  }
  const std::vector<std::string> fruit{"apple\n", "pear\n", "plum\n"};
  for (int i = 0; i < clients; ++i) {
    std::string request;
    for (int w = 0; w < words; ++w) {
      request += fruit[static_cast<std::size_t>(w + i) % fruit.size()];
    }
    connections[static_cast<std::size_t>(i)].send(request);
  }
  int answered = 0;
  for (auto& connection : connections) {
    std::string received;
    while (std::count(received.begin(), received.end(), '\n') < words) {
      std::string some;
      try {
        some = connection.receive_some(3s);
      } catch (const std::exception&) {
        answered += static_cast<int>(std::count(received.begin(), received.end(), '\n'));
        if (!under_test.process->running()) {
          return {true, "the server died after " + std::to_string(answered) +
                            " answers (a sanitizer's report is above)"};
        }
        under_test.process->send_signal(SIGKILL);
        under_test.process->wait(5s);
        return {true, "deadlocked: no answer for 3 s, " + std::to_string(answered) + " of " +
                          std::to_string(clients * words) + " answered; the server was killed"};
      }
      if (some.empty()) {
        return {true, "the server closed a connection before answering all its words"};
      }
      received += some;
    }
    answered += words;
  }
  std::cout << "all " << answered << " words answered\n";
  return stops_cleanly(under_test);
}

// Hunt 04 (--idle-ms 200): client A asks for 500 ms of work, which blocks
// the server's only thread. Meanwhile client B sends "quit" (at 100 ms) and
// B's idle deadline expires (at 200 ms): the next pass of the loop finds
// both, and queues the read's handler before the deadline's.
verdict quit_at_deadline(server& under_test) {
  test_client victim{"127.0.0.1", under_test.port};
  test_client busy{"127.0.0.1", under_test.port};
  busy.send("work 500\n");
  std::this_thread::sleep_for(100ms);
  victim.send("quit\n");
  try {
    // receive_exactly may return more: "idle: goodbye" follows "done" at once.
    if (!busy.receive_exactly(5, 3s).starts_with("done\n") ||
        !victim.receive_exactly(4, 3s).starts_with("bye\n")) {
      return {true, "wrong answers to work and quit"};
    }
  } catch (const std::exception& failure) {
    return {true, std::string{"no answer to work or quit: "} + failure.what()};
  }
  std::this_thread::sleep_for(100ms);  // The stale deadline's handler has run by now.
  return still_serves_then_stops(under_test, "hello\n", "hello\n");
}

// Hunt 05: a client sends 128 MiB and reads nothing. The server's resident
// memory (VmRSS) is read before and after; more than 32 MiB of growth is the
// bug. A server that pushes back makes the client's sends stall: after 1 s
// without progress, the flood ends there.
verdict flood(server& under_test) {
  constexpr std::size_t flood_bytes = 128 * 1024 * 1024;
  constexpr long bound_kib = 32 * 1024;
  const long before = under_test.process->resident_kib();
  test_client client{"127.0.0.1", under_test.port};
  const std::string chunk(1024 * 1024, 'f');
  std::size_t sent = 0;
  while (sent < flood_bytes) {
    const std::size_t taken = client.send_until_stalled(chunk, 1s);
    sent += taken;
    if (taken < chunk.size()) {
      break;  // The server has stopped reading.
    }
  }
  std::this_thread::sleep_for(200ms);  // Let it read what the kernel holds.
  const long after = under_test.process->resident_kib();
  const long growth = after - before;
  std::cout << "sent " << sent / (1024 * 1024) << " MiB without reading; the server's VmRSS went from "
            << before / 1024 << " MiB to " << after / 1024 << " MiB\n";
  if (growth > bound_kib) {
    return {true, "unbounded memory: the server grew by " + std::to_string(growth / 1024) +
                      " MiB (bound: " + std::to_string(bound_kib / 1024) + " MiB)"};
  }
  return stops_cleanly(under_test);
}

}  // namespace

int main(int argc, char* argv[]) {
  const std::map<std::string, std::pair<std::vector<std::string>, std::function<verdict(server&)>>>
      scenarios{
          {"client-leaves", {{"--think-ms", "200"}, client_leaves}},
          {"big-echo", {{"--heartbeat-ms", "5"}, big_echo}},
          {"many-words", {{"--threads", "2"}, many_words}},
          {"quit-at-deadline", {{"--idle-ms", "200"}, quit_at_deadline}},
          {"flood", {{}, flood}},
      };
  if (argc < 3 || !scenarios.contains(argv[1])) {
    std::cerr << "usage: hunt_check client-leaves|big-echo|many-words|quit-at-deadline|flood SERVER [OPTIONS...]\n";
    return 2;
  }
  const auto& [options, scenario] = scenarios.at(argv[1]);
  std::vector<std::string> all_options = options;
  all_options.insert(all_options.end(), argv + 3, argv + argc);
  try {
    server under_test{argv[2], all_options};
    const verdict seen = scenario(under_test);
    under_test.stop();
    const std::string errors = under_test.process->stderr_text();
    if (!errors.empty()) {
      std::cout << "--- the server's stderr ---\n" << errors << "--- end of the server's stderr ---\n";
    }
    std::cout << (seen.bug ? "bug: " : "clean: ") << seen.what << std::endl;
    return seen.bug ? 1 : 0;
  } catch (const std::exception& failure) {
    std::cout << "error: " << failure.what() << std::endl;
    return 2;
  }
}
