// Chapter 13, the mini Redis, checked with clients nobody here wrote
// (redis-cli, redis-benchmark, redis-py) and with exact bytes over a plain
// socket. The same cases run against the real redis-server where it is
// installed (Debian's redis-server): suite RedisServer. Both must give the
// same replies, byte for byte; the expectations below are what Redis 7.0 says.
#include "client.hpp"
#include "programs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sandbox::testing {
namespace {

using clock_type = std::chrono::steady_clock;

// The full path of `name` on PATH, or "" when it is not installed.
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const std::filesystem::path candidate =
        std::filesystem::path{std::string{dirs.substr(0, colon)}} / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
  }
  return {};
}

// A port nobody listens on now (the kernel's pick, released at once): for
// redis-server, which cannot take port 0 and say which port it got.
unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(fd, generic, sizeof address) != 0 || ::getsockname(fd, generic, &length) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A RESP request, as every client library sends one: an array of bulk strings.
std::string resp(std::initializer_list<std::string_view> arguments) {
  std::string request = "*" + std::to_string(arguments.size()) + "\r\n";
  for (const auto argument : arguments) {
    request += "$" + std::to_string(argument.size()) + "\r\n";
    request += argument;
    request += "\r\n";
  }
  return request;
}

// What arrives until `expected` bytes have, the server closes, or 3 s
// pass: a reply of the wrong length shows as itself, not as a timeout.
std::string receive_up_to(test_client& client, std::size_t expected) {
  std::string received;
  const auto deadline = clock_type::now() + 3s;
  while (received.size() < expected && clock_type::now() < deadline) {
    try {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      const std::string piece = client.receive_some(std::max(left, 1ms));
      if (piece.empty()) {
        break;  // End of file.
      }
      received += piece;
    } catch (const std::exception&) {
      break;  // Nothing more within the deadline.
    }
  }
  return received;
}

// One request and its exact reply.
struct exchange {
  std::string request;
  std::string reply;
};

// Sends each request in turn and checks its reply, byte for byte.
void expect_replies(test_client& client, const std::vector<exchange>& exchanges) {
  for (const auto& [request, reply] : exchanges) {
    client.send(request);
    EXPECT_EQ(receive_up_to(client, reply.size()), reply) << "request: " << request;
  }
}

// --- The servers under test ----------------------------------------------

// A running Redis, ours or the real one, on 127.0.0.1:port.
struct redis_server {
  std::unique_ptr<child_process> process;
  unsigned short port = 0;
};

redis_server start_mini_redis(std::vector<std::string> options = {}) {
  options.emplace_back("--quiet");
  auto started = launch_server(cpp_program(executables::ch13_mini_redis), std::move(options));
  return {std::move(started.process), started.port};
}

// redis-server without persistence, as the benchmark will run it; ready
// once it accepts a connection.
redis_server start_real_redis(const std::string& executable,
                              const std::vector<std::string>& extra = {}) {
  redis_server started;
  started.port = free_port();
  std::vector<std::string> argv{executable, "--save",   "",          "--appendonly",
                                "no",       "--bind",   "127.0.0.1", "--port",
                                std::to_string(started.port)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  started.process = std::make_unique<child_process>(argv);
  const auto deadline = clock_type::now() + 10s;
  while (clock_type::now() < deadline) {
    try {
      test_client probe{"127.0.0.1", started.port};
      return started;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  ADD_FAILURE() << "redis-server did not start: " << started.process->stderr_text();
  return started;
}

// Ours with two event loops, in each keyspace design: what a parameter
// name adds to the command line.
std::vector<std::string> design_options(const std::string& name) {
  if (name.ends_with("Locked2")) {
    return {"--threads", "2", "--keyspace", "locked"};
  }
  if (name.ends_with("Owned2")) {
    return {"--threads", "2", "--keyspace", "owned"};
  }
  return {"--threads", "1"};
}

// The cases below run once per server: "MiniRedis" (ours, one loop),
// "MiniRedisLocked2" and "MiniRedisOwned2" (ours, two loops sharing the
// keys in each design), and "RedisServer" (the real one, skipped where it
// is not installed).
class RedisReplies : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "RedisServer") {
      const auto executable = on_path("redis-server");
      if (executable.empty()) {
        GTEST_SKIP() << "redis-server not installed";
      }
      server_ = start_real_redis(executable);
    } else {
      server_ = start_mini_redis(design_options(GetParam()));
    }
    ASSERT_NE(server_.port, 0);
  }

  [[nodiscard]] unsigned short port() const { return server_.port; }
  [[nodiscard]] test_client connect() const { return test_client{"127.0.0.1", server_.port}; }

  // A client program (redis-cli, redis-benchmark) run to its end against
  // the server: its status and stdout lines.
  std::optional<int> run_client(const std::string& executable, std::vector<std::string> options,
                                std::vector<std::string>* lines, std::string* errors = nullptr) {
    options.insert(options.begin(), {"-h", "127.0.0.1", "-p", std::to_string(port())});
    return run_to_end(program{"Client", {executable}}, options, lines, errors);
  }

 private:
  redis_server server_;
};

std::string server_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Chapter13, RedisReplies,
                         ::testing::Values("MiniRedis", "MiniRedisLocked2", "MiniRedisOwned2",
                                           "RedisServer"),
                         server_name);

// --- Replies, byte for byte -----------------------------------------------

TEST_P(RedisReplies, StringCommandsReplyAsRedisDoes) {
  auto client = connect();
  expect_replies(client, {
      {resp({"PING"}), "+PONG\r\n"},
      {resp({"ping", "hi"}), "$2\r\nhi\r\n"},
      {resp({"ECHO", "hello world"}), "$11\r\nhello world\r\n"},
      {resp({"GET", "k"}), "$-1\r\n"},
      {resp({"SET", "k", "v"}), "+OK\r\n"},
      {resp({"get", "k"}), "$1\r\nv\r\n"},
      {resp({"SET", "k", "v2", "NX"}), "$-1\r\n"},
      {resp({"SET", "k", "v3", "xx"}), "+OK\r\n"},
      {resp({"SET", "new", "v", "XX"}), "$-1\r\n"},
      {resp({"SET", "k", "v4", "GET"}), "$2\r\nv3\r\n"},
      {resp({"SET", "k", "v5", "nx", "get"}), "$2\r\nv4\r\n"},
      {resp({"SET", "empty", ""}), "+OK\r\n"},
      {resp({"GET", "empty"}), "$0\r\n\r\n"},
      {resp({"MSET", "a", "1", "b", "2"}), "+OK\r\n"},
      {resp({"MGET", "a", "b", "c"}), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"},
      {resp({"EXISTS", "a", "a", "b", "c"}), ":3\r\n"},
      {resp({"DEL", "a", "b", "c"}), ":2\r\n"},
      {resp({"EXISTS", "a"}), ":0\r\n"},
      // Any bytes are a value: a NUL and a "\r\n" inside it included.
      {resp({"SET", "bin", std::string_view{"a\0\r\nb", 5}}), "+OK\r\n"},
      {resp({"GET", "bin"}), std::string{"$5\r\na\0\r\nb\r\n", 11}},
  });
}

// Lists, the one type beside strings: enough for the commands of one type
// to meet a key of the other, and get Redis's WRONGTYPE.
TEST_P(RedisReplies, ListsAndTheWrongTypeError) {
  auto client = connect();
  const std::string wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  const std::string not_positive = "-ERR value is out of range, must be positive\r\n";
  expect_replies(client, {
      {resp({"RPUSH", "l", "a", "b", "c"}), ":3\r\n"},
      {resp({"LPUSH", "l", "z", "y"}), ":5\r\n"},  // y z a b c: one at a time.
      {resp({"LRANGE", "l", "0", "-1"}),
       "*5\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
      {resp({"LRANGE", "l", "-2", "100"}), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"},
      {resp({"LRANGE", "l", "3", "1"}), "*0\r\n"},
      {resp({"LRANGE", "l", "x", "1"}), "-ERR value is not an integer or out of range\r\n"},
      {resp({"LLEN", "l"}), ":5\r\n"},
      {resp({"TYPE", "l"}), "+list\r\n"},
      {resp({"LPOP", "l"}), "$1\r\ny\r\n"},
      {resp({"RPOP", "l", "2"}), "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"},
      {resp({"LPOP", "l", "0"}), "*0\r\n"},
      {resp({"LPOP", "l", "-1"}), not_positive},
      {resp({"LPOP", "l", "1", "2"}), "-ERR wrong number of arguments for 'lpop' command\r\n"},
      // The strings' commands on a list, and the lists' on a string.
      {resp({"GET", "l"}), wrong},
      {resp({"INCR", "l"}), wrong},
      {resp({"SET", "l", "v", "GET"}), wrong},
      {resp({"SET", "s", "v"}), "+OK\r\n"},
      {resp({"LPUSH", "s", "x"}), wrong},
      {resp({"LLEN", "s"}), wrong},
      {resp({"LRANGE", "s", "0", "1"}), wrong},
      {resp({"RPOP", "s"}), wrong},
      {resp({"MGET", "s", "l"}), "*2\r\n$1\r\nv\r\n$-1\r\n"},  // Not an error: nil.
      {resp({"TYPE", "s"}), "+string\r\n"},
      // A list emptied is gone; a missing list reads as empty.
      {resp({"LPOP", "l", "5"}), "*2\r\n$1\r\nz\r\n$1\r\na\r\n"},
      {resp({"EXISTS", "l"}), ":0\r\n"},
      {resp({"TYPE", "l"}), "+none\r\n"},
      {resp({"LPOP", "l"}), "$-1\r\n"},
      {resp({"LPOP", "l", "2"}), "*-1\r\n"},
      {resp({"LLEN", "l"}), ":0\r\n"},
      {resp({"LRANGE", "l", "0", "-1"}), "*0\r\n"},
      // SET replaces a list; a list keeps its expiry as it changes.
      {resp({"RPUSH", "l2", "a"}), ":1\r\n"},
      {resp({"SET", "l2", "now a string"}), "+OK\r\n"},
      {resp({"TYPE", "l2"}), "+string\r\n"},
      {resp({"RPUSH", "l3", "a"}), ":1\r\n"},
      {resp({"EXPIRE", "l3", "100"}), ":1\r\n"},
      {resp({"RPUSH", "l3", "b"}), ":2\r\n"},
      {resp({"TTL", "l3"}), ":100\r\n"},
      {resp({"LPUSH", "l3"}), "-ERR wrong number of arguments for 'lpush' command\r\n"},
  });
}

TEST_P(RedisReplies, SetOptionsAreCheckedAsRedisChecksThem) {
  auto client = connect();
  const std::string invalid = "-ERR invalid expire time in 'set' command\r\n";
  expect_replies(client, {
      {resp({"SET", "k", "v", "EX", "10", "PX", "5"}), "-ERR syntax error\r\n"},
      {resp({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n"},
      {resp({"SET", "k", "v", "KEEPTTL", "EX", "5"}), "-ERR syntax error\r\n"},
      {resp({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n"},
      {resp({"SET", "k", "v", "FOO"}), "-ERR syntax error\r\n"},
      {resp({"SET", "k", "v", "EX", "abc"}), "-ERR value is not an integer or out of range\r\n"},
      {resp({"SET", "k", "v", "EX", "0"}), invalid},
      {resp({"SET", "k", "v", "EX", "-1"}), invalid},
      {resp({"SET", "k", "v", "EX", "9999999999999999"}), invalid},
      {resp({"SET", "k", "v", "PX", "9223372036854775807"}), invalid},
      {resp({"SET", "k", "v", "EX", "100"}), "+OK\r\n"},
      {resp({"TTL", "k"}), ":100\r\n"},
      {resp({"SET", "k", "v2", "KEEPTTL"}), "+OK\r\n"},
      {resp({"TTL", "k"}), ":100\r\n"},
      {resp({"SET", "k", "v3"}), "+OK\r\n"},  // Without KEEPTTL, SET forgets the expiry.
      {resp({"TTL", "k"}), ":-1\r\n"},
  });
}

TEST_P(RedisReplies, CountersAndTheirErrors) {
  auto client = connect();
  const std::string not_integer = "-ERR value is not an integer or out of range\r\n";
  expect_replies(client, {
      {resp({"INCR", "n"}), ":1\r\n"},
      {resp({"INCRBY", "n", "41"}), ":42\r\n"},
      {resp({"DECR", "n"}), ":41\r\n"},
      {resp({"DECR", "fresh"}), ":-1\r\n"},
      {resp({"INCRBY", "n", "abc"}), not_integer},
      {resp({"SET", "s", "hello"}), "+OK\r\n"},
      {resp({"INCR", "s"}), not_integer},
      {resp({"SET", "s", "007"}), "+OK\r\n"},  // Not an integer to Redis: a leading zero.
      {resp({"INCR", "s"}), not_integer},
      {resp({"SET", "s", "+1"}), "+OK\r\n"},
      {resp({"INCR", "s"}), not_integer},
      {resp({"SET", "big", "9223372036854775806"}), "+OK\r\n"},
      {resp({"INCR", "big"}), ":9223372036854775807\r\n"},
      {resp({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n"},
      {resp({"INCRBY", "fresh", "-9223372036854775807"}), ":-9223372036854775808\r\n"},
      {resp({"DECR", "fresh"}), "-ERR increment or decrement would overflow\r\n"},
      {resp({"INCRBY", "n", "99999999999999999999"}), not_integer},
      {resp({"GET", "n"}), "$2\r\n41\r\n"},  // Counters are strings to GET.
  });
}

TEST_P(RedisReplies, ExpireOptionsAndErrors) {
  auto client = connect();
  expect_replies(client, {
      {resp({"EXPIRE", "missing", "10"}), ":0\r\n"},
      {resp({"SET", "k", "v"}), "+OK\r\n"},
      {resp({"TTL", "missing"}), ":-2\r\n"},
      {resp({"TTL", "k"}), ":-1\r\n"},
      {resp({"PTTL", "k"}), ":-1\r\n"},
      {resp({"EXPIRE", "k", "abc"}), "-ERR value is not an integer or out of range\r\n"},
      {resp({"EXPIRE", "k", "10", "XX"}), ":0\r\n"},
      {resp({"EXPIRE", "k", "10", "GT"}), ":0\r\n"},  // No expiry counts as infinite.
      {resp({"EXPIRE", "k", "10", "NX"}), ":1\r\n"},
      {resp({"EXPIRE", "k", "20", "NX"}), ":0\r\n"},
      {resp({"EXPIRE", "k", "20", "gt"}), ":1\r\n"},
      {resp({"EXPIRE", "k", "30", "LT"}), ":0\r\n"},
      {resp({"TTL", "k"}), ":20\r\n"},
      {resp({"EXPIRE", "k", "10", "NX", "XX"}),
       "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
      {resp({"EXPIRE", "k", "10", "GT", "LT"}),
       "-ERR GT and LT options at the same time are not compatible\r\n"},
      {resp({"EXPIRE", "k", "10", "FOO"}), "-ERR Unsupported option FOO\r\n"},
      {resp({"EXPIRE", "k", "9223372036854775807"}),
       "-ERR invalid expire time in 'expire' command\r\n"},
      {resp({"PEXPIRE", "k", "9223372036854775807"}),
       "-ERR invalid expire time in 'pexpire' command\r\n"},
      {resp({"EXPIRE", "k", "-1"}), ":1\r\n"},  // In the past: gone at once.
      {resp({"EXISTS", "k"}), ":0\r\n"},
  });
}

TEST_P(RedisReplies, ExpirySeenThroughTtlAndPttl) {
  auto client = connect();
  expect_replies(client, {
      {resp({"SET", "k", "v", "PX", "300"}), "+OK\r\n"},
      {resp({"SET", "long", "v", "EX", "1000"}), "+OK\r\n"},
      {resp({"TTL", "long"}), ":1000\r\n"},
      {resp({"PEXPIRE", "long", "2700"}), ":1\r\n"},
      {resp({"TTL", "long"}), ":3\r\n"},  // 2.7 s rounds to 3, as Redis rounds it.
  });
  client.send(resp({"PTTL", "k"}));
  const std::string pttl = receive_up_to(client, 6);
  ASSERT_TRUE(pttl.starts_with(":") && pttl.ends_with("\r\n")) << pttl;
  const long left = std::stol(pttl.substr(1));
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 300);
  std::this_thread::sleep_for(400ms);
  expect_replies(client, {
      {resp({"GET", "k"}), "$-1\r\n"},
      {resp({"TTL", "k"}), ":-2\r\n"},
      {resp({"PTTL", "k"}), ":-2\r\n"},
      {resp({"EXISTS", "k"}), ":0\r\n"},
      {resp({"EXISTS", "long"}), ":1\r\n"},
  });
}

// Lazy expiry alone would keep expired keys nobody asks for: DBSIZE counts
// them until the active sweep erases them.
TEST_P(RedisReplies, ExpiredKeysAreSweptWithoutBeingAsked) {
  auto client = connect();
  std::string requests;
  std::string replies;
  for (int i = 0; i < 200; ++i) {
    requests += resp({"SET", "short:" + std::to_string(i), "v", "PX", "50"});
    replies += "+OK\r\n";
  }
  requests += resp({"SET", "kept", "v"}) + resp({"DBSIZE"});
  replies += "+OK\r\n:201\r\n";
  EXPECT_EQ(client.exchange(requests, replies.size()), replies);
  const auto deadline = clock_type::now() + 5s;
  std::string dbsize;
  while (clock_type::now() < deadline) {
    client.send(resp({"DBSIZE"}));
    dbsize = receive_up_to(client, 4);
    if (dbsize == ":1\r\n") {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(dbsize, ":1\r\n") << "the expired keys were never swept";
}

TEST_P(RedisReplies, WrongArityAndUnknownCommands) {
  auto client = connect();
  expect_replies(client, {
      {resp({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n"},
      {resp({"gEt", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n"},
      {resp({"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n"},
      {resp({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n"},
      {resp({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n"},
      {resp({"ECHO"}), "-ERR wrong number of arguments for 'echo' command\r\n"},
      {resp({"INCRBY", "n"}), "-ERR wrong number of arguments for 'incrby' command\r\n"},
      {resp({"TTL"}), "-ERR wrong number of arguments for 'ttl' command\r\n"},
      {resp({"foo"}), "-ERR unknown command 'foo', with args beginning with: \r\n"},
      {resp({"FOO", "a", "b c"}),
       "-ERR unknown command 'FOO', with args beginning with: 'a' 'b c' \r\n"},
      // A newline in an error would end the line early: it becomes a space.
      {resp({"x\ny", "1\r\n2"}), "-ERR unknown command 'x y', with args beginning with: '1  2' \r\n"},
      {resp({"CONFIG", "GET"}), "-ERR wrong number of arguments for 'config|get' command\r\n"},
      {resp({"CONFIG", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"},
      {resp({"CLIENT", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"},
      {resp({"PING"}), "+PONG\r\n"},  // And the connection goes on.
  });
}

TEST_P(RedisReplies, WhatClientsAskOnConnecting) {
  auto client = connect();
  expect_replies(client, {
      {resp({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
      {resp({"CONFIG", "GET", "appendonly"}), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"},
      {resp({"CLIENT", "GETNAME"}), "$-1\r\n"},
      {resp({"CLIENT", "SETNAME", "tester"}), "+OK\r\n"},
      {resp({"CLIENT", "GETNAME"}), "$6\r\ntester\r\n"},
      {resp({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n"},
  });
}

// What a person types into telnet: one line, words split as redis-cli splits them.
TEST_P(RedisReplies, InlineCommandsWork) {
  auto client = connect();
  expect_replies(client, {
      {"SET greeting \"hello world\"\r\n", "+OK\r\n"},
      {"get greeting\n", "$11\r\nhello world\r\n"},
      {"\r\n", ""},  // A blank line: nothing to run, nothing to say.
      {"PING\r\nPING\r\n", "+PONG\r\n+PONG\r\n"},
  });
}

TEST_P(RedisReplies, PipelineOfTenThousandCommandsInOneSend) {
  auto client = connect();
  std::string requests;
  std::string replies;
  for (int i = 1; i <= 10000; ++i) {
    requests += resp({"INCR", "counter"});
    // Appended piece by piece: GCC 12's -O3 warns falsely (stringop-overflow)
    // on ":" + std::to_string(i), which broke the image's -Werror build.
    replies += ':';
    replies += std::to_string(i);
    replies += "\r\n";
  }
  // Sent while receiving: 10,000 replies, in order, none lost.
  EXPECT_EQ(client.exchange(requests, replies.size()), replies);
}

TEST_P(RedisReplies, QuitRepliesOkThenCloses) {
  auto client = connect();
  client.send("PING\r\nQUIT\r\nPING\r\n");  // The PING after QUIT is not run.
  EXPECT_EQ(client.receive_until_eof(5s), "+PONG\r\n+OK\r\n");
}

// A request that is not RESP: the requests before it are answered, then
// the error, then the connection closes. Other clients notice nothing.
TEST_P(RedisReplies, MalformedRequestGetsTheErrorThenCloseOthersCarryOn) {
  auto bystander = connect();
  expect_replies(bystander, {{resp({"SET", "k", "v"}), "+OK\r\n"}});
  const std::vector<exchange> malformed = {
      {resp({"PING"}) + "*x\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
      {"*2\r\n$3\r\nGET\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
      {"PING\r\nSET a \"x\r\n", "+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n"},
  };
  for (const auto& [request, reply] : malformed) {
    auto client = connect();
    client.send(request);
    EXPECT_EQ(client.receive_until_eof(5s), reply) << "request: " << request;
  }
  expect_replies(bystander, {{resp({"GET", "k"}), "$1\r\nv\r\n"}});
}

TEST_P(RedisReplies, OverLongBulkStringGetsTheErrorThenClose) {
  auto bystander = connect();
  auto client = connect();
  // 512 MiB is the most a bulk string may hold; one byte more is refused
  // at its header, before any of it is read.
  client.send("*2\r\n$3\r\nSET\r\n$536870913\r\n");
  EXPECT_EQ(client.receive_until_eof(5s), "-ERR Protocol error: invalid bulk length\r\n");
  expect_replies(bystander, {{resp({"PING"}), "+PONG\r\n"}});
}

TEST_P(RedisReplies, PubSubDeliversToEverySubscriber) {
  auto first = connect();
  auto second = connect();
  auto publisher = connect();
  const std::string news = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
  expect_replies(first, {
      {resp({"UNSUBSCRIBE"}), "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"},
      {resp({"SUBSCRIBE", "news", "sport"}),
       news + "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n"},
      // Subscribed: only the pub/sub commands, PING and QUIT.
      {resp({"GET", "k"}),
       "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
       "RESET are allowed in this context\r\n"},
      {resp({"PING"}), "*2\r\n$4\r\npong\r\n$0\r\n\r\n"},
      {resp({"PING", "x"}), "*2\r\n$4\r\npong\r\n$1\r\nx\r\n"},
  });
  expect_replies(second, {{resp({"SUBSCRIBE", "news"}), news}});
  expect_replies(publisher, {
      {resp({"PUBLISH", "news", "hello"}), ":2\r\n"},
      {resp({"PUBLISH", "nobody", "hello"}), ":0\r\n"},
  });
  const std::string message = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
  EXPECT_EQ(receive_up_to(first, message.size()), message);
  EXPECT_EQ(receive_up_to(second, message.size()), message);
  expect_replies(first, {
      {resp({"UNSUBSCRIBE", "news"}), "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n"},
      {resp({"UNSUBSCRIBE"}), "*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:0\r\n"},
      {resp({"GET", "k"}), "$-1\r\n"},  // Out of subscribed mode.
  });
  expect_replies(publisher, {{resp({"PUBLISH", "news", "again"}), ":1\r\n"}});
  second.reset();  // Gone without a word: it leaves the channel.
  std::this_thread::sleep_for(100ms);
  expect_replies(publisher, {{resp({"PUBLISH", "news", "anyone?"}), ":0\r\n"}});
}

// --- Real clients --------------------------------------------------------

TEST_P(RedisReplies, RedisCliRunsEveryCommand) {
  const auto cli = on_path("redis-cli");
  if (cli.empty()) {
    GTEST_SKIP() << "redis-cli not installed";
  }
  // Without a terminal, redis-cli prints replies bare: OK, 1, "" for nil.
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> runs = {
      {{"PING"}, {"PONG"}},
      {{"ECHO", "hi there"}, {"hi there"}},
      {{"SET", "k", "v", "EX", "100"}, {"OK"}},
      {{"GET", "k"}, {"v"}},
      {{"TTL", "k"}, {"100"}},
      {{"PEXPIRE", "k", "50000"}, {"1"}},
      {{"EXPIRE", "k", "60"}, {"1"}},
      {{"MSET", "a", "1", "b", "2"}, {"OK"}},
      {{"MGET", "a", "b", "c"}, {"1", "2", ""}},
      {{"EXISTS", "a", "b", "c"}, {"2"}},
      {{"INCR", "a"}, {"2"}},
      {{"INCRBY", "a", "10"}, {"12"}},
      {{"DECR", "a"}, {"11"}},
      {{"DEL", "a", "b"}, {"2"}},
      {{"PTTL", "a"}, {"-2"}},
      {{"PUBLISH", "news", "x"}, {"0"}},
      {{"RPUSH", "list", "a", "b"}, {"2"}},
      {{"LRANGE", "list", "0", "-1"}, {"a", "b"}},
      {{"TYPE", "list"}, {"list"}},
      // An error, then an empty line.
      {{"GET", "list"}, {"WRONGTYPE Operation against a key holding the wrong kind of value", ""}},
      {{"GET"}, {"ERR wrong number of arguments for 'get' command", ""}},
      {{"NOSUCH", "x"}, {"ERR unknown command 'NOSUCH', with args beginning with: 'x' ", ""}},
  };
  for (const auto& [command, expected] : runs) {
    std::vector<std::string> lines;
    EXPECT_EQ(run_client(cli, command, &lines), 0) << command.front();
    EXPECT_EQ(lines, expected) << command.front();
  }
  // A pipeline of 10,000 commands with redis-cli's own --pipe: it
  // reads the requests from a file and counts the replies.
  const auto file = std::filesystem::temp_directory_path() /
                    ("ch13_pipe_" + std::to_string(::getpid()) + "_" + GetParam() + ".txt");
  {
    std::string requests;
    for (int i = 0; i < 10000; ++i) {
      requests += resp({"SET", "pipe:" + std::to_string(i), "v"});
    }
    FILE* out = std::fopen(file.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    std::fwrite(requests.data(), 1, requests.size(), out);
    std::fclose(out);
  }
  std::vector<std::string> lines;
  const auto status = run_to_end(
      program{"Client", {"/bin/sh"}},
      {"-c", "\"$0\" -h 127.0.0.1 -p \"$1\" --pipe < \"$2\"", cli, std::to_string(port()),
       file.string()},
      &lines);
  std::filesystem::remove(file);
  EXPECT_EQ(status, 0);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "errors: 0, replies: 10000");
}

TEST_P(RedisReplies, RedisBenchmarkRunsWithoutWarnings) {
  const auto benchmark = on_path("redis-benchmark");
  if (benchmark.empty()) {
    GTEST_SKIP() << "redis-benchmark not installed";
  }
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_client(benchmark, {"-t", "set,get", "-n", "2000", "-c", "10", "-q"}, &lines,
                       &errors),
            0);
  std::string output;
  for (const auto& line : lines) {
    output += line + "\n";
  }
  // -q prints one line per test, "SET: N requests per second, ...", each
  // after progress lines that a carriage return overwrites.
  EXPECT_NE(output.find("SET: "), std::string::npos) << output;
  EXPECT_NE(output.find("GET: "), std::string::npos) << output;
  EXPECT_EQ(output.find("WARN"), std::string::npos) << output;
  EXPECT_EQ(errors.find("WARN"), std::string::npos) << errors;
}

// redis-py: a pipeline of 10,000 SETs then GETs, most commands, errors, and
// pub/sub with three subscribers (tests/chapters/ch13_redis_py_client.py).
TEST_P(RedisReplies, RedisPyClientWorks) {
  // The interpreter the build found may be a virtual environment without
  // the Debian package; the system one has it where python3-redis is installed.
  std::string python;
  for (const std::string& candidate : {std::string{python3}, std::string{"/usr/bin/python3"}}) {
    if (!candidate.empty() &&
        run_to_end(program{"Python", {candidate}}, {"-c", "import redis"}) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) {
    GTEST_SKIP() << "no python3 with the redis module (Debian: python3-redis)";
  }
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(program{"Python", {python}},
                       {SANDBOX_CH13_REDIS_PY_CLIENT, std::to_string(port())}, &lines, &errors),
            0)
      << errors;
  EXPECT_EQ(lines, std::vector<std::string>{"ok"}) << errors;
}

// --- Ours only: the server contract and robustness --------------------------

// Ours, in each way of running: one loop, or two loops in either design.
class MiniRedisDesigns : public ::testing::TestWithParam<std::string> {
 protected:
  static redis_server start(std::vector<std::string> options = {}) {
    auto all = design_options(GetParam());
    all.insert(all.end(), options.begin(), options.end());
    return start_mini_redis(std::move(all));
  }
};

INSTANTIATE_TEST_SUITE_P(Chapter13, MiniRedisDesigns,
                         ::testing::Values("OneLoop", "Locked2", "Owned2"), server_name);

TEST(MiniRedis, DefaultPortIs6380) {
  std::vector<std::string> lines;
  EXPECT_EQ(run_to_end(cpp_program(executables::ch13_mini_redis), {"--help"}, &lines), 0);
  std::string help;
  for (const auto& line : lines) {
    help += line + "\n";
  }
  EXPECT_NE(help.find("6380"), std::string::npos) << help;
}

TEST(MiniRedis, EndsWithStatusZeroOnSigintAndSigterm) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    auto server = start_mini_redis();
    test_client client{"127.0.0.1", server.port};
    expect_replies(client, {{resp({"PING"}), "+PONG\r\n"}});
    server.process->send_signal(signal_number);
    EXPECT_EQ(server.process->wait(), 0) << "signal " << signal_number;
  }
}

// Chapter 07's lesson, Redis's way: a subscriber that does not read is
// dropped once more than its limit of bytes waits for it; one that reads
// stays; and the publisher, who never waits for subscribers, gets every
// reply at once.
TEST_P(MiniRedisDesigns, SlowSubscriberIsDroppedAndThePublisherNeverWaits) {
  // With two loops, a subscriber on another loop than the publisher gets
  // messages in bursts: all that were published while its thread waited
  // for a core arrive at once. The limit must exceed a burst, as Redis's
  // 32 MiB default does by far.
  const bool one_loop = GetParam() == "OneLoop";
  auto server = start({"--max-subscriber-buffer", one_loop ? "65536" : "4194304"});
  const std::string subscribed = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
  test_client sleeper{"127.0.0.1", server.port};
  test_client reader{"127.0.0.1", server.port};
  for (auto* subscriber : {&sleeper, &reader}) {
    subscriber->send(resp({"SUBSCRIBE", "news"}));
    ASSERT_EQ(receive_up_to(*subscriber, subscribed.size()).substr(0, 32), subscribed.substr(0, 32));
  }
  // The reader reads everything, on a thread of its own, until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<bool> reader_closed{false};
  std::thread reading{[&] {
    while (!stop.load()) {
      try {
        if (reader.receive_some(100ms).empty()) {
          reader_closed = true;
          return;
        }
      } catch (const std::exception&) {
        // Nothing within 100 ms: look at the flag again.
      }
    }
  }};
  // The sleeper reads no more. Messages of 1 KiB, in batches of 10, until
  // a PUBLISH reaches one subscriber only: the kernel's buffers on both
  // sides fill first (several MiB), then the server's 64 KiB (4 MiB) for the sleeper.
  // (A batch is run in one turn of the loop, its messages buffered for each
  // subscriber until the turn ends: a batch past the limit would drop the
  // reader too. Redis counts its output buffers the same way.)
  const std::string payload(1024, 'x');
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += resp({"PUBLISH", "news", payload});
  }
  test_client publisher{"127.0.0.1", server.port};
  const auto start = clock_type::now();
  bool dropped = false;
  for (int i = 0; i < 20'000 && !dropped; ++i) {
    dropped = publisher.exchange(batch, 40).find(":1\r\n") != std::string::npos;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  stop = true;
  reading.join();
  EXPECT_TRUE(dropped) << "the sleeper was never dropped";
  EXPECT_FALSE(reader_closed.load()) << "the subscriber that reads was dropped too";
  EXPECT_LT(seconds, 20.0);
  std::cout << "[ figures  ] the sleeper was dropped after " << seconds << " s of publishing\n";
  // The sleeper finds end of file after the messages the kernel had taken.
  EXPECT_NO_THROW((void)sleeper.receive_until_eof(5s));
}

// A client that pipelines requests and never reads the replies: once 64 KiB
// of replies wait, the server stops reading it, so its requests stop being
// taken and the server's memory stops growing.
TEST_P(MiniRedisDesigns, APipelinerThatNeverReadsIsNoLongerRead) {
  auto server = start();
  test_client writer{"127.0.0.1", server.port};
  // Long keys make big requests: 40,000 GETs are 40 MiB, far more than the
  // kernel's buffers on both sides hold (a few MiB each on loopback).
  const std::string key(1000, 'k');
  writer.send(resp({"SET", key, std::string(1000, 'v')}));
  ASSERT_EQ(writer.receive_exactly(5), "+OK\r\n");
  std::string requests;
  for (int i = 0; i < 40'000; ++i) {
    requests += resp({"GET", key});
  }
  const std::size_t sent = writer.send_until_stalled(requests, 1s);
  std::cout << "[ figures  ] a client that never reads had " << sent << " of " << requests.size()
            << " bytes of requests taken before the server stopped reading it; server RSS "
            << server.process->resident_kib() << " KiB\n";
  // What it could send fits in kernel buffers plus one read's worth.
  EXPECT_LT(sent, requests.size() / 2) << "the server read (nearly) every request";
  // Another client is served meanwhile.
  test_client other{"127.0.0.1", server.port};
  expect_replies(other, {{resp({"PING"}), "+PONG\r\n"}});
}

// One read can hold thousands of requests: 200 GETs of a 1 MiB value fit
// in 4 KiB and ask for 200 MiB. The server runs them only as fast as the
// client reads the replies, so its memory stays small.
TEST_P(MiniRedisDesigns, OneReadOfRequestsCannotMakeTheServerBufferWithoutBound) {
  auto server = start();
  test_client writer{"127.0.0.1", server.port};
  const std::string value(1024 * 1024, 'v');
  writer.send(resp({"SET", "big", value}));
  ASSERT_EQ(writer.receive_exactly(5), "+OK\r\n");
  const long before = server.process->resident_kib();
  std::string requests;
  for (int i = 0; i < 200; ++i) {
    requests += resp({"GET", "big"});
  }
  writer.send(requests);
  std::this_thread::sleep_for(500ms);
  const long after = server.process->resident_kib();
  std::cout << "[ figures  ] 200 GETs of 1 MiB unread: server RSS " << before << " KiB before, "
            << after << " KiB after\n";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // RSS under a sanitizer is not the program's (its shadow memory grows
  // with every byte touched): the bound is checked in normal builds.
  (void)before;
  (void)after;
#else
  // Two loops, owned: the first batch forwards up to 16 GETs to the
  // other loop, and their 16 MiB of replies are put in order in one more
  // string: about 32 MiB at the peak, then one request a batch.
  EXPECT_LT(after - before, 64 * 1024) << "KiB grown";
#endif
  // And every reply comes, in order, to a client that reads them.
  const std::string reply = "$1048576\r\n" + value + "\r\n";
  const std::string replies = writer.receive_exactly(200 * reply.size());
  ASSERT_EQ(replies.size(), 200 * reply.size());
  for (std::size_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(std::string_view{replies}.substr(i * reply.size(), reply.size()) == reply)
        << "reply " << i;
  }
}

// --- Two loops, one keyspace ------------------------------------------------

// Two event loops on two threads share the keys and the channels, in each
// design. The acceptor hands connections to the loops in turn, so any two
// connections made one after the other run on different loops.
class TwoLoops : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { server_ = start_mini_redis(design_options(GetParam())); }
  [[nodiscard]] test_client connect() const { return test_client{"127.0.0.1", server_.port}; }

 private:
  redis_server server_;
};

INSTANTIATE_TEST_SUITE_P(Chapter13, TwoLoops, ::testing::Values("Locked2", "Owned2"),
                         server_name);

// Eight clients at once, four on each loop, each INCR the same key 1000
// times: every increment counts. Without a keyspace shared by the loops
// (one each), the total would be 4000; with shards but without the lock
// (or the owner), increments are lost, or the hash table breaks.
TEST_P(TwoLoops, KeysSetOnOneLoopAreSeenOnTheOther) {
  constexpr int clients = 8;
  constexpr int increments = 1000;
  constexpr int per_send = 50;  // Pipelined, so that the loops really overlap.
  std::vector<test_client> connections;
  for (int i = 0; i < clients; ++i) {
    connections.push_back(connect());
  }
  std::string batch;
  for (int i = 0; i < per_send; ++i) {
    batch += resp({"INCR", "shared"});
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (auto& connection : connections) {
    threads.emplace_back([&connection, &batch, &failures] {
      for (int sent = 0; sent < increments; sent += per_send) {
        // Each reply is ":N\r\n" with N from 1 to 8000: count the lines.
        std::string replies;
        try {
          connection.send(batch);
          while (std::ranges::count(replies, '\n') < per_send) {
            replies += connection.receive_some(5s);
          }
        } catch (const std::exception&) {
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
  // Read through every loop: each sees the same total.
  for (auto& connection : connections) {
    expect_replies(connection, {{resp({"GET", "shared"}), "$4\r\n8000\r\n"}});
  }
  // Keys set from one loop, read from the other, many keys so that every
  // shard (and, owned, both owners) takes part; MSET and MGET across them.
  auto writer = connect();
  auto reader = connect();
  std::string sets;
  std::string oks;
  for (int i = 0; i < 100; ++i) {
    sets += resp({"SET", "key:" + std::to_string(i), std::to_string(i)});
    oks += "+OK\r\n";
  }
  EXPECT_EQ(writer.exchange(sets, oks.size()), oks);
  EXPECT_EQ(reader.exchange(resp({"DBSIZE"}), 6), ":101\r\n");
  expect_replies(reader, {
      {resp({"MGET", "key:1", "key:2", "key:3", "nothing"}),
       "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$-1\r\n"},
      {resp({"MSET", "key:1", "a", "key:2", "b", "key:3", "c"}), "+OK\r\n"},
      {resp({"EXISTS", "key:1", "key:2", "key:3", "key:4", "nothing"}), ":4\r\n"},
      {resp({"DEL", "key:1", "key:2", "nothing"}), ":2\r\n"},
  });
  expect_replies(writer, {{resp({"MGET", "key:1", "key:3"}), "*2\r\n$-1\r\n$1\r\nc\r\n"}});
}

// A PUBLISH on one loop reaches subscribers on both: the message is posted
// to each subscriber's own loop, which alone writes to its socket.
// MGET over keys of both loops (owned: split by owner) says nil for a list,
// as one loop does and Redis does; GET of it is the error.
TEST_P(TwoLoops, MgetSaysNilForAListWhereverItsKeyLives) {
  auto client = connect();
  std::vector<std::string> mget{"MGET"};
  std::string expected = "*9\r\n";
  for (int i = 0; i < 8; ++i) {
    const std::string key = "k" + std::to_string(i);
    expect_replies(client, {{resp({"SET", key, "v"}), "+OK\r\n"}});
    mget.push_back(key);
    expected += "$1\r\nv\r\n";
  }
  expect_replies(client, {{resp({"RPUSH", "l", "a"}), ":1\r\n"}});
  mget.insert(mget.begin() + 1, "l");
  expected.insert(4, "$-1\r\n");
  std::string request = "*" + std::to_string(mget.size()) + "\r\n";
  for (const auto& argument : mget) {
    request += "$" + std::to_string(argument.size()) + "\r\n" + argument + "\r\n";
  }
  expect_replies(client, {{request, expected}});
}

TEST_P(TwoLoops, PublishReachesSubscribersOnEveryLoop) {
  // Connections alternate between the loops: first and third on one,
  // second and the publisher on the other.
  auto first = connect();
  auto second = connect();
  auto third = connect();
  auto publisher = connect();
  const std::string subscribed = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
  for (auto* subscriber : {&first, &second, &third}) {
    expect_replies(*subscriber, {{resp({"SUBSCRIBE", "news"}), subscribed}});
  }
  const std::string message = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
  for (int round = 0; round < 3; ++round) {
    expect_replies(publisher, {{resp({"PUBLISH", "news", "hello"}), ":3\r\n"}});
    for (auto* subscriber : {&first, &second, &third}) {
      EXPECT_EQ(receive_up_to(*subscriber, message.size()), message) << "round " << round;
    }
  }
  first.reset();  // Gone: it leaves the channel, whichever loop it was on.
  std::this_thread::sleep_for(100ms);
  expect_replies(publisher, {{resp({"PUBLISH", "news", "hello"}), ":2\r\n"}});
}

// 10,000 mixed commands in one send, on keys of both loops: in the owned
// design half of them are forwarded to the other loop, and MGET, MSET, DEL
// and EXISTS are split between the two. Every reply comes back, in the
// order of the requests.
TEST_P(TwoLoops, PipelineOfMixedCommandsRepliesInOrder) {
  auto client = connect();
  std::string requests;
  std::string replies;
  const auto integer = [&replies](long long value) {
    replies += ':';
    replies += std::to_string(value);
    replies += "\r\n";
  };
  const auto bulk = [&replies](const std::string& value) {
    replies += '$';
    replies += std::to_string(value.size());
    replies += "\r\n";
    replies += value;
    replies += "\r\n";
  };
  long long counter = 0;
  for (int i = 0; i < 1250; ++i) {  // 8 commands each: 10,000.
    const std::string key = "k" + std::to_string(i);
    const std::string previous = "k" + std::to_string(i == 0 ? 0 : i - 1);
    const std::string value = std::to_string(i * 7);
    requests += resp({"SET", key, value});
    replies += "+OK\r\n";
    requests += resp({"GET", key});
    bulk(value);
    requests += resp({"INCR", "counter"});
    integer(++counter);
    requests += resp({"MGET", key, previous, "missing"});
    replies += "*3\r\n";
    bulk(value);
    bulk(std::to_string((i == 0 ? 0 : i - 1) * 7));
    replies += "$-1\r\n";
    requests += resp({"MSET", "a" + std::to_string(i), "x", "b" + std::to_string(i), "y"});
    replies += "+OK\r\n";
    requests += resp({"EXISTS", "a" + std::to_string(i), "b" + std::to_string(i), "missing"});
    integer(2);
    requests += resp({"DEL", "a" + std::to_string(i), "b" + std::to_string(i)});
    integer(2);
    requests += resp({"PING"});
    replies += "+PONG\r\n";
  }
  EXPECT_EQ(client.exchange(requests, replies.size()), replies);
}


// --- Robustness: chapter 09's lessons, in Redis's words ---------------------

// A client the server serves: connects until a PING is answered (a slot
// frees once the server has seen another client go, a moment after it
// closed), for 3 s at most; nullopt if it never was.
std::optional<test_client> served_client(unsigned short port) {
  const auto deadline = clock_type::now() + 3s;
  while (clock_type::now() < deadline) {
    try {
      test_client client{"127.0.0.1", port};
      client.send(resp({"PING"}));
      if (receive_up_to(client, 7) == "+PONG\r\n") {
        return client;
      }
    } catch (const std::exception&) {
      // Refused, and reset before the PING went: try again.
    }
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

bool served_again(unsigned short port) { return served_client(port).has_value(); }

// Redis's maxclients, our --max-connections: the client past the limit is
// told why, in Redis's words, and closed; the others go on; a slot freed
// serves the next client.
TEST_P(MiniRedisDesigns, PastTheConnectionLimitAClientIsToldSoAndClosed) {
  auto server = start({"--max-connections", "2"});
  std::optional<test_client> first{std::in_place, "127.0.0.1", server.port};
  test_client second{"127.0.0.1", server.port};
  expect_replies(*first, {{resp({"PING"}), "+PONG\r\n"}});
  expect_replies(second, {{resp({"PING"}), "+PONG\r\n"}});
  // Nothing sent: the refusal comes at once, and a request sent after it
  // could meet a reset (the server closed its end).
  test_client third{"127.0.0.1", server.port};
  EXPECT_EQ(third.receive_until_eof(5s), "-ERR max number of clients reached\r\n");
  expect_replies(second, {{resp({"SET", "k", "v"}), "+OK\r\n"}});
  first.reset();
  EXPECT_TRUE(served_again(server.port)) << "the slot of a client that left was not freed";
}

// The same words from the real Redis, with the same limit.
TEST(RedisServer, PastMaxclientsAClientIsToldSoInTheSameWords) {
  const auto executable = on_path("redis-server");
  if (executable.empty()) {
    GTEST_SKIP() << "redis-server not installed";
  }
  auto server = start_real_redis(executable, {"--maxclients", "2"});
  // The probe that saw it start may not have left yet: retry until served.
  const auto first = served_client(server.port);
  const auto second = served_client(server.port);
  ASSERT_TRUE(first && second);
  // Nothing sent: the refusal comes at once, and a request sent after it
  // could meet a reset (the server closed its end).
  test_client third{"127.0.0.1", server.port};
  EXPECT_EQ(third.receive_until_eof(5s), "-ERR max number of clients reached\r\n");
}

// Redis's `timeout`, our --idle-timeout: a client that sends nothing for
// that long is closed; one that keeps talking, or that only listens (a
// subscriber), is not.
TEST_P(MiniRedisDesigns, AnIdleClientIsClosedButNotOneThatTalksOrASubscriber) {
  auto server = start({"--idle-timeout", "0.5"});
  const auto start_time = clock_type::now();
  test_client silent{"127.0.0.1", server.port};
  test_client talker{"127.0.0.1", server.port};
  test_client listener{"127.0.0.1", server.port};
  const std::string subscribed = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
  expect_replies(listener, {{resp({"SUBSCRIBE", "news"}), subscribed}});
  while (clock_type::now() - start_time < 1500ms) {
    expect_replies(talker, {{resp({"PING"}), "+PONG\r\n"}});
    std::this_thread::sleep_for(200ms);
  }
  // By now the silent one has been closed: end of file, nothing said.
  EXPECT_EQ(silent.receive_until_eof(1s), "");
  expect_replies(talker, {{resp({"PUBLISH", "news", "still here"}), ":1\r\n"}});
  const std::string message = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$10\r\nstill here\r\n";
  EXPECT_EQ(receive_up_to(listener, message.size()), message);
}

TEST(MiniRedis, AnIdleClientIsClosedOnTimeWithALineOnTheConsole) {
  auto server =
      launch_server(cpp_program(executables::ch13_mini_redis), {"--idle-timeout", "0.3"});
  test_client client{"127.0.0.1", server.port};
  expect_replies(client, {{resp({"CLIENT", "ID"}), ":1\r\n"}});
  const auto start_time = clock_type::now();
  EXPECT_EQ(client.receive_until_eof(5s), "");
  const double waited = std::chrono::duration<double>(clock_type::now() - start_time).count();
  std::cout << "[ figures  ] idle timeout 0.3 s: closed after " << waited << " s\n";
  EXPECT_GE(waited, 0.25);
  EXPECT_LT(waited, 3.0);
  EXPECT_EQ(server.process->read_line(5s).value_or(""), "Client 1: idle for 0.3 s; closing");
}

// A client that sends nothing while it reads a large reply slowly is not
// idle: what waits for it shrinks between two looks of the timer.
TEST(MiniRedis, AClientStillTakingItsRepliesIsNotIdle) {
  auto server = start_mini_redis({"--idle-timeout", "0.5"});
  const std::size_t size = 24 * 1024 * 1024;  // Far more than the kernel's buffers.
  {
    test_client setter{"127.0.0.1", server.port};
    expect_replies(setter, {{resp({"SET", "big", std::string(size, 'v')}), "+OK\r\n"}});
  }
  // A new client asks at once: its timer's first look comes right before
  // the reply is written, so only the write itself can count as a start.
  test_client client{"127.0.0.1", server.port};
  client.send(resp({"GET", "big"}));
  const std::size_t expected = size + std::to_string(size).size() + 5;  // $N\r\n...\r\n
  std::size_t received = 0;
  const auto start_time = clock_type::now();
  bool closed = false;
  while (received < expected && !closed) {
    // 1 MiB, then a pause: about 10 MiB/s, so the whole takes longer than the timeout.
    for (std::size_t burst = 0; burst < 1024 * 1024 && received < expected;) {
      const auto piece = client.receive_some(2s);
      if (piece.empty()) {
        closed = true;  // Taken for idle.
        break;
      }
      burst += piece.size();
      received += piece.size();
    }
    std::this_thread::sleep_for(100ms);
  }
  const double took = std::chrono::duration<double>(clock_type::now() - start_time).count();
  std::cout << "[ figures  ] a 24 MiB reply read in " << took << " s with --idle-timeout 0.5\n";
  EXPECT_EQ(received, expected) << "closed as idle while it was still reading";
  EXPECT_GT(took, 1.0) << "read too fast to show anything";
}

// SIGTERM with requests still in the kernel, sent just before: each gets
// its reply, in order, then the connection closes, and the server exits
// with status 0. A client with nothing to say is closed too.
TEST_P(MiniRedisDesigns, AGracefulShutdownRepliesToEveryRequestAlreadySent) {
  auto server = start();
  test_client bystander{"127.0.0.1", server.port};
  expect_replies(bystander, {{resp({"PING"}), "+PONG\r\n"}});
  test_client client{"127.0.0.1", server.port};
  constexpr int count = 5000;
  std::string requests;
  std::string replies;
  for (int i = 1; i <= count; ++i) {
    requests += resp({"INCR", "counter:" + std::to_string(i % 7)});
    replies += ':';  // Piece by piece, as above: GCC 12 -O3's false stringop-overflow.
    replies += std::to_string((i + 6) / 7);
    replies += "\r\n";
  }
  // Fewer replies than the transport's high-water mark, and requests that
  // fit in the kernel's buffers: all sent before the signal, none read.
  ASSERT_LT(replies.size(), 64U * 1024U);
  client.send(requests);
  server.process->send_signal(SIGTERM);
  EXPECT_EQ(receive_up_to(client, replies.size()), replies);
  EXPECT_EQ(client.receive_until_eof(5s), "") << "the connection was not closed after the replies";
  EXPECT_EQ(bystander.receive_until_eof(5s), "");
  EXPECT_EQ(server.process->wait(10s), 0);
  const auto lines = server.process->read_remaining_lines(1s);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front(),
            "Shutting down (SIGTERM): no new connections; 2 open get up to 5 s to get their "
            "replies");
}

// A client that sends without reading never lets its connection finish:
// the grace period ends it, or a second signal does at once. The server
// stops listening at the first signal, and exits with status 0.
TEST(MiniRedis, TheGracePeriodOrASecondSignalAbortsAClientThatDoesNotRead) {
  for (const bool second_signal : {false, true}) {
    auto server = launch_server(cpp_program(executables::ch13_mini_redis),
                                {"--grace", second_signal ? "60" : "0.5"});
    // 100 GETs of 1 MiB: far more replies than the kernel's buffers hold,
    // so the server holds the rest, and the requests it has not run.
    test_client writer{"127.0.0.1", server.port};
    expect_replies(writer, {{resp({"SET", "big", std::string(1024 * 1024, 'v')}), "+OK\r\n"}});
    std::string requests;
    for (int i = 0; i < 100; ++i) {
      requests += resp({"GET", "big"});
    }
    writer.send(requests);
    std::this_thread::sleep_for(200ms);
    const auto start_time = clock_type::now();
    server.process->send_signal(SIGINT);
    EXPECT_EQ(server.process->read_line(5s).value_or(""),
              "Shutting down (SIGINT): no new connections; 1 open get up to " +
                  std::string{second_signal ? "60" : "0.5"} + " s to get their replies");
    EXPECT_THROW((test_client{"127.0.0.1", server.port}), std::exception)
        << "still accepting after the signal";
    if (second_signal) {
      server.process->send_signal(SIGTERM);
    }
    EXPECT_EQ(server.process->read_line(5s).value_or(""),
              std::string{second_signal ? "Second signal" : "Grace period over"} +
                  ": aborting 1 connection(s)");
    EXPECT_EQ(server.process->wait(5s), 0);
    const double took = std::chrono::duration<double>(clock_type::now() - start_time).count();
    std::cout << "[ figures  ] " << (second_signal ? "a second signal" : "a grace of 0.5 s")
              << ": the server exited " << took << " s after the first signal\n";
    EXPECT_LT(took, 5.0);
  }
}

// Chapter 10's troublemaker against ours: the modes a Redis must survive.
const program troublemaker{"Cpp", {executables::ch10_troublemaker}};

// Runs the troublemaker against `port`; its lines, time stamps and all.
std::string make_trouble(unsigned short port, std::vector<std::string> options) {
  options.insert(options.begin(), {"--host", "127.0.0.1", "--port", std::to_string(port)});
  std::vector<std::string> lines;
  std::string errors;
  EXPECT_EQ(run_to_end(troublemaker, options, &lines, &errors), 0) << errors;
  std::string all;
  for (const auto& line : lines) {
    all += line + "\n";
  }
  return all;
}

TEST(TroublemakerAgainstChapter13, IdleIsClosedAndAFloodMeetsTheLimitInRedissWords) {
  auto server = start_mini_redis({"--idle-timeout", "1", "--max-connections", "10"});
  const auto idle = make_trouble(server.port, {"--mode", "idle", "--duration", "10"});
  EXPECT_NE(idle.find("closed by the server (end of file) after it sent 0 bytes"),
            std::string::npos)
      << idle;
  const auto flood =
      make_trouble(server.port, {"--mode", "flood", "--connections", "50", "--duration", "0.5"});
  EXPECT_NE(flood.find("the server said something to 40 of them, first: "
                       "-ERR max number of clients reached"),
            std::string::npos)
      << flood;
  EXPECT_TRUE(served_again(server.port)) << "the flood's slots were not freed";
}

TEST(TroublemakerAgainstChapter13, ALongLineAndAResetLeaveOtherClientsServed) {
  auto server = start_mini_redis();
  test_client other{"127.0.0.1", server.port};
  expect_replies(other, {{resp({"SET", "before", "1"}), "+OK\r\n"}});
  // Not RESP, and no end of line within Redis's 64 KiB: the error, then end of file.
  const auto long_line =
      make_trouble(server.port, {"--mode", "long-line", "--bytes", "1048576", "--duration", "10"});
  EXPECT_NE(long_line.find("the server says: -ERR Protocol error: too big inline request"),
            std::string::npos)
      << long_line;
  // Chapter 10's reset, with requests instead of its raw bytes (which are
  // not RESP, and closed as the long line was): 4 MiB of GETs whose
  // replies are never read, then a reset in mid-reply.
  {
    test_client resetter{"127.0.0.1", server.port};
    expect_replies(resetter, {{resp({"SET", "big", std::string(4096, 'v')}), "+OK\r\n"}});
    std::string requests;
    for (int i = 0; i < 1024; ++i) {
      requests += resp({"GET", "big"});
    }
    resetter.send(requests);
    std::this_thread::sleep_for(100ms);
    resetter.reset();
  }
  expect_replies(other, {{resp({"GET", "before"}), "$1\r\n1\r\n"}});
}

}  // namespace
}  // namespace sandbox::testing
