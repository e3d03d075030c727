// Chapter 07, the chat server: every line reaches every other client, in
// the order its sender sent them; the counters are exact; a client that
// stops reading is disconnected before it can grow the server's memory,
// while the others keep chatting; a signal ends it with clients connected.
#include "client.hpp"
#include "programs.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <set>
#include <thread>

namespace sandbox::testing {
namespace {

const program chat_server{"cpp", {SANDBOX_CH07_EXE}};

// A chat client for tests: a test_client that reads whole lines.
class chat_client {
 public:
  // Sends each line at once (TCP_NODELAY), as an interactive client would
  // not: Nagle's algorithm would hold a line back until the last is acked.
  explicit chat_client(unsigned short port) : connection_{"127.0.0.1", port} {
    connection_.no_delay();
  }

  void say(const std::string& text) { connection_.send(text + "\n"); }

  // The next line, without its '\n'; throws on timeout or end of file.
  std::string line(std::chrono::milliseconds timeout = 20s) {
    for (;;) {
      if (const auto end = buffered_.find('\n', start_); end != std::string::npos) {
        std::string result = buffered_.substr(start_, end - start_);
        start_ = end + 1;
        if (start_ > 64 * 1024) {  // Drop what was read, now and then, not per line.
          buffered_.erase(0, start_);
          start_ = 0;
        }
        return result;
      }
      const std::string more = connection_.receive_some(timeout);
      if (more.empty()) {
        throw std::runtime_error{"end of file; unfinished line: " + buffered_.substr(start_)};
      }
      buffered_ += more;
    }
  }

  // Lines until one equals `wanted` (which is returned last).
  std::vector<std::string> lines_until(const std::string& wanted) {
    std::vector<std::string> lines;
    do {
      lines.push_back(line());
    } while (lines.back() != wanted);
    return lines;
  }

  test_client& connection() noexcept { return connection_; }

 private:
  test_client connection_;
  std::string buffered_;
  std::size_t start_ = 0;  // Where the unread part of buffered_ begins.
};

std::string welcome(int number, int others) {
  return "Welcome, guest" + std::to_string(number) + "! Others here: " + std::to_string(others) +
         ". Each line you type goes to all of them.";
}

TEST(ChatServer, SaysWhereItServesThenHowManyThreads) {
  auto server = start_server(chat_server, {"--threads", "2"});
  EXPECT_EQ(server.first_line, "Serving on 127.0.0.1:" + std::to_string(server.port));
  EXPECT_EQ(server.process->read_line(), "Running on 2 threads");
}

TEST(ChatServer, EveryLineReachesEveryOtherClientAndTheCountersAreExact) {
  constexpr int clients = 20;
  auto server = start_server(chat_server, {"--threads", "4"});
  std::vector<std::unique_ptr<chat_client>> chatters;
  for (int i = 1; i <= clients; ++i) {
    chatters.push_back(std::make_unique<chat_client>(server.port));
    EXPECT_EQ(chatters.back()->line(), welcome(i, i - 1));  // Joined: the room knows it.
  }
  for (int i = 1; i <= clients; ++i) {
    chatters[static_cast<std::size_t>(i - 1)]->say("hello from " + std::to_string(i));
  }
  for (int i = 1; i <= clients; ++i) {
    // First the later arrivals, in the order they came; then one line from
    // each other client, in any order; never one's own.
    for (int later = i + 1; later <= clients; ++later) {
      EXPECT_EQ(chatters[static_cast<std::size_t>(i - 1)]->line(), "* guest" + std::to_string(later) + " joined");
    }
    std::set<std::string> heard;
    for (int k = 1; k < clients; ++k) {
      heard.insert(chatters[static_cast<std::size_t>(i - 1)]->line());
    }
    std::set<std::string> expected;
    for (int other = 1; other <= clients; ++other) {
      if (other != i) {
        expected.insert("guest" + std::to_string(other) + ": hello from " + std::to_string(other));
      }
    }
    EXPECT_EQ(heard, expected) << "guest" << i;
  }
  // Leave one by one, each after the next has heard every leave so far
  // (it hears them all, in order: they are the room's own notices).
  for (int i = 1; i < clients; ++i) {
    chatters[static_cast<std::size_t>(i - 1)].reset();
    for (int gone = 1; gone <= i; ++gone) {
      EXPECT_EQ(chatters[static_cast<std::size_t>(i)]->line(),
                "* guest" + std::to_string(gone) + " left");
    }
  }
  chatters.back().reset();
  for (;;) {  // The console says when the server has seen the last one go.
    const auto line = server.process->read_line(20s);
    ASSERT_TRUE(line) << "the server did not see guest20 leave";
    if (line->ends_with("] guest20 left")) {
      break;
    }
  }
  server.process->send_signal(SIGTERM);
  const auto rest = server.process->read_remaining_lines();
  EXPECT_EQ(server.process->wait(), 0);
  ASSERT_FALSE(rest.empty());
  // Delivered: 20 welcomes, 190 "joined" notices (19 + 18 + ... + 0),
  // 380 messages (20 senders x 19 others), 190 "left" notices.
  EXPECT_EQ(rest.back(), "Chatters: 20 total, 0 connected, 0 dropped; lines: 20 received, "
                         "780 delivered");
}

TEST(ChatServer, LinesFromOneSenderArriveInTheOrderSent) {
  auto server = start_server(chat_server, {"--quiet", "--threads", "4"});
  chat_client sender{server.port};
  chat_client listener{server.port};
  EXPECT_EQ(sender.line(), welcome(1, 0));
  EXPECT_EQ(listener.line(), welcome(2, 1));
  EXPECT_EQ(sender.line(), "* guest2 joined");
  std::string burst;
  for (int i = 0; i < 2000; ++i) {
    burst += "line " + std::to_string(i) + "\n";
  }
  sender.connection().send(burst);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(listener.line(), "guest1: line " + std::to_string(i));
  }
}

TEST(ChatServer, ANonReadingClientIsDisconnectedWhileTheOthersKeepChatting) {
  auto server = start_server(chat_server, {"--quiet", "--threads", "2", "--max-queue", "65536"});
  // guest1 never reads a byte; guest2 talks, guest3 listens.
  chat_client stalled{server.port};
  chat_client talker{server.port};
  chat_client listener{server.port};
  EXPECT_EQ(talker.line(), welcome(2, 1));
  EXPECT_EQ(listener.line(), welcome(3, 2));
  EXPECT_EQ(talker.line(), "* guest3 joined");

  const long before = server.process->resident_kib();
  std::atomic<long> peak{before};
  std::atomic<bool> done{false};
  std::jthread sampler{[&] {
    while (!done) {
      peak = std::max(peak.load(), server.process->resident_kib());
      std::this_thread::sleep_for(20ms);
    }
  }};
  // 64 MiB through the room: what guest1's queue would hold without a
  // bound. The talker keeps at most 32 KB ahead of the listener, as a
  // conversation would: only guest1 falls behind.
  constexpr int lines = 16 * 1024;
  constexpr int window = 8;  // lines of 4 KB
  const std::string text(4000, 'x');
  std::atomic<int> heard{0};
  std::jthread sending{[&] {
    for (int i = 0; i < lines; ++i) {
      for (int seen = heard.load(); i - seen >= window; seen = heard.load()) {
        heard.wait(seen);
      }
      talker.say(std::to_string(i) + " " + text);
    }
  }};
  bool saw_drop = false;
  std::string failure;
  try {
    for (int i = 0; i < lines;) {
      const std::string line = listener.line(60s);
      if (line == "* guest1 was disconnected: too slow") {
        saw_drop = true;
        continue;
      }
      if (line != "guest2: " + std::to_string(i) + " " + text) {
        failure = "line " + std::to_string(i) + " is: " + line.substr(0, 80);
        break;
      }
      ++i;
      heard.store(i);
      heard.notify_one();
    }
  } catch (const std::exception& error) {
    failure = error.what();
  }
  heard.store(lines);  // Whatever happened, the talker stops waiting.
  heard.notify_one();
  sending.join();
  ASSERT_EQ(failure, "") << "the listener lost lines";
  done = true;
  sampler.join();
  EXPECT_TRUE(saw_drop) << "the stalled client was never disconnected";
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine (256 MiB by default)
  // to catch uses after free, so resident memory says nothing here; the
  // normal and ThreadSanitizer builds check the bound.
  std::cout << "[ skipped  ] the memory bound, under AddressSanitizer\n";
#else
  const long growth_mib = (peak - before) / 1024;
  EXPECT_LT(growth_mib, 24) << "the server grew by " << growth_mib << " MiB for 64 MiB sent";
#endif
  std::cout << "[ figures  ] resident memory: " << before / 1024 << " MiB before, peak "
            << peak / 1024 << " MiB while 64 MiB went through the room\n";

  server.process->send_signal(SIGTERM);
  const auto rest = server.process->read_remaining_lines();
  ASSERT_FALSE(rest.empty());
  EXPECT_TRUE(rest.back().starts_with("Chatters: 3 total, 2 connected, 1 dropped; lines: 16384 "
                                      "received"))
      << rest.back();
}

TEST(ChatServer, ASignalEndsItWithClientsStillConnected) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = start_server(chat_server, {"--quiet", "--threads", "2"});
    std::vector<std::unique_ptr<chat_client>> chatters;
    for (int i = 1; i <= 3; ++i) {
      chatters.push_back(std::make_unique<chat_client>(server.port));
      EXPECT_EQ(chatters.back()->line(), welcome(i, i - 1));
    }
    EXPECT_EQ(chatters[0]->line(), "* guest2 joined");
    EXPECT_EQ(chatters[0]->line(), "* guest3 joined");
    EXPECT_EQ(chatters[1]->line(), "* guest3 joined");
    server.process->send_signal(signal_number);
    const auto rest = server.process->read_remaining_lines();
    EXPECT_EQ(server.process->wait(), 0);
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back(), "Chatters: 3 total, 3 connected, 0 dropped; lines: 0 received, "
                           "6 delivered");
    for (auto& chatter : chatters) {
      EXPECT_THROW(chatter->line(5s), std::runtime_error);  // End of file or reset, not a hang.
    }
    EXPECT_EQ(server.process->stderr_text(), "");
  }
}

TEST(ChatServer, AnOverlongLineEndsOnlyThatClient) {
  auto server = start_server(chat_server, {"--quiet", "--threads", "2"});
  chat_client rude{server.port};
  chat_client polite{server.port};
  EXPECT_EQ(rude.line(), welcome(1, 0));
  EXPECT_EQ(polite.line(), welcome(2, 1));
  rude.connection().send(std::string(100 * 1024, 'z'));
  EXPECT_EQ(rude.line(), "* guest2 joined");
  EXPECT_EQ(rude.line(), "* your line is too long; goodbye");
  EXPECT_EQ(polite.line(), "* guest1 left");
  chat_client later{server.port};
  EXPECT_EQ(later.line(), welcome(3, 1));
  later.say("still open");
  EXPECT_EQ(polite.line(), "* guest3 joined");
  EXPECT_EQ(polite.line(), "guest3: still open");
}

TEST(ChatServer, BadOptionsExitWithStatusTwo) {
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"--max-queue", "0"}, {"--max-queue", "lots"}, {"--threads", "0"}}) {
    std::string errors;
    EXPECT_EQ(run_to_end(chat_server, options, nullptr, &errors), 2) << options[0];
    EXPECT_NE(errors.find(options[0]), std::string::npos) << errors;
  }
}

}  // namespace
}  // namespace sandbox::testing
