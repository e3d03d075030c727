/// \file
/// Chapter 12: cancellation and timeouts, one small demonstration each. Its
/// page is chapters/12_cancellation_and_timeouts/README.md.
//
//
// Four demonstrations, one per --demo value (default: all four, in order):
//
//   timeout  within(): a read raced against a timer with `||`
//   types    cancellation slots, and the three cancellation types: what
//            each promises, and which operations honour which
//   group    cancelling a whole group of coroutines: a signal per member,
//            or the parent's slot
//   race     a cancelled timer whose handler was already queued: cancel()
//            returns 0 and the handler runs with success, every run
//
// Each demonstration runs a loop of its own on this thread, and every line
// it prints comes in an order fixed by construction, never by timing: the
// page shows the output, and a test checks it.
//
//   cancellation_signal ──emit(type)──▶ slot ──▶ the operation's handler
//     (the one who cancels)              (bound to one operation at a time)
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/within.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <string>
#include <system_error>
#include <utility>

namespace {

using namespace std::chrono_literals;
using local_socket = asio::local::stream_protocol::socket;
using sandbox::println;

// A read of whatever has arrived; it says how it ended when it fails.
asio::awaitable<std::string> read_some(local_socket& socket) {
  std::array<char, 64> data{};
  try {
    const std::size_t size =
        co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
    co_return std::string(data.data(), size);
  } catch (const std::system_error& error) {
    println("  the read ended: ", error.code().message());
    throw;
  }
}

std::string shown(const std::optional<std::string>& read) {
  return read ? sandbox::bytes_repr(*read) : "nothing: the timeout passed first";
}

//! [timeout]
// within() (common/include/sandbox/within.hpp) on a pair of connected
// sockets, once with a silent peer and once with a peer that has answered.
asio::awaitable<void> timeout_demo() {
  const auto executor = co_await asio::this_coro::executor;
  local_socket ours{executor};
  local_socket peer{executor};
  asio::local::connect_pair(ours, peer);

  println("within(0.1 s, read), the peer silent:");
  std::optional<std::string> read = co_await sandbox::within(100ms, read_some(ours));
  println("  within() returned ", shown(read));

  println("within(0.1 s, read), the peer has sent \"pong\\n\":");
  asio::write(peer, asio::buffer("pong\n", 5));
  read = co_await sandbox::within(100ms, read_some(ours));
  println("  within() returned ", shown(read));
}
//! [timeout]

// --- types -----------------------------------------------------------------

// How a callback-style operation ended, as far as the loop has got.
struct ending {
  bool done = false;
  std::error_code error;
  std::size_t size = 0;
};

// Runs every handler that is ready now, and returns: what has not completed
// by then is still waiting.
void settle(asio::io_context& loop) {
  loop.restart();  // poll() after a run out of work needs a restart.
  loop.poll();
}

std::string outcome(const ending& end) {
  if (!end.done) {
    return "ignored, still waiting";
  }
  return end.error ? "ended: " + end.error.message() : "completed";
}

// A coroutine that waits for an hour, optionally letting partial and total
// cancellation in, and records how its wait ended.
asio::awaitable<void> wait_an_hour(bool let_partial_in, ending& end) {
  if (let_partial_in) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  }
  asio::steady_timer timer{co_await asio::this_coro::executor, 1h};
  auto [error] = co_await timer.async_wait(sandbox::as_tuple_awaitable);
  end = {true, error, 0};
}

//! [types]
void types_demo() {
  asio::io_context loop;
  const auto row = [](const char* operation, const char* type, const std::string& result) {
    println("  ", operation, type, " -> ", result);
  };
  const auto recorder = [](ending& end) {
    return [&end](std::error_code error, std::size_t size = 0) { end = {true, error, size}; };
  };

  // A timer's wait honours all three types: waiting has no side effect.
  {
    asio::cancellation_signal signal;
    asio::steady_timer timer{loop, 1h};
    ending wait;
    timer.async_wait(asio::bind_cancellation_slot(signal.slot(), recorder(wait)));
    signal.emit(asio::cancellation_type::total);
    settle(loop);
    row("timer.async_wait               ", "total   ", outcome(wait));
  }

  local_socket ours{loop};
  local_socket peer{loop};
  asio::local::connect_pair(ours, peer);
  std::array<char, 8> data{};

  // A socket's read honours all three too: cancelled, it has read nothing,
  // and the socket reads on as if the read had never been started.
  {
    asio::cancellation_signal signal;
    ending read;
    ours.async_read_some(asio::buffer(data),
                         asio::bind_cancellation_slot(signal.slot(), recorder(read)));
    signal.emit(asio::cancellation_type::partial);
    settle(loop);
    asio::write(peer, asio::buffer("ping", 4));
    const std::size_t size = ours.read_some(asio::buffer(data));
    row("socket.async_read_some         ", "partial ",
        outcome(read) + " Then a read gets " + sandbox::bytes_repr({data.data(), size}));
  }

  // async_read() of 8 bytes, a composed operation (async_read_some until
  // the buffer is full), after 3 bytes have come. It cannot promise that
  // nothing happened (3 bytes are read), so it ignores total; partial ends
  // it, and its result says how far it got.
  {
    asio::cancellation_signal signal;
    ending read;
    asio::write(peer, asio::buffer("abc", 3));
    asio::async_read(ours, asio::buffer(data),
                     asio::bind_cancellation_slot(signal.slot(), recorder(read)));
    settle(loop);  // The 3 bytes are read; the operation waits for 5 more.
    signal.emit(asio::cancellation_type::total);
    settle(loop);
    row("async_read (3 of 8 bytes come) ", "total   ", outcome(read));
    signal.emit(asio::cancellation_type::partial);
    settle(loop);
    row("the same async_read            ", "partial ",
        outcome(read) + " It had read " + std::to_string(read.size) + " bytes: " +
            sandbox::bytes_repr({data.data(), read.size}));
  }

  // A coroutine is itself a composed operation: cancelled midway, it may
  // have done part of its work. So its slot lets in only terminal (which
  // promises nothing about that), unless the coroutine says it can keep a
  // stronger promise (this_coro::reset_cancellation_state).
  {
    asio::cancellation_signal signal;
    ending wait;
    asio::co_spawn(loop, wait_an_hour(false, wait),
                   asio::bind_cancellation_slot(signal.slot(), asio::detached));
    settle(loop);  // The coroutine starts and waits.
    signal.emit(asio::cancellation_type::partial);
    settle(loop);
    row("a coroutine (co_spawn)         ", "partial ", outcome(wait));
    signal.emit(asio::cancellation_type::terminal);
    settle(loop);
    row("the same coroutine             ", "terminal", outcome(wait));
  }
  {
    asio::cancellation_signal signal;
    ending wait;
    asio::co_spawn(loop, wait_an_hour(true, wait),
                   asio::bind_cancellation_slot(signal.slot(), asio::detached));
    settle(loop);
    signal.emit(asio::cancellation_type::partial);
    settle(loop);
    row("one that lets partial in       ", "partial ", outcome(wait));
  }
}
//! [types]

// --- group -----------------------------------------------------------------

//! [task_group]
// Coroutines cancelled together. A cancellation_signal has one slot, and a
// slot serves one operation (here: one co_spawn), so the group keeps a
// signal per member; cancel() emits on each. A member's entry goes when it
// ends, so the group is also a count of what still runs. The group must
// outlive its members (their completions erase their entries): here, the
// loop runs dry before the group goes.
class task_group {
 public:
  explicit task_group(asio::any_io_executor executor) : executor_{std::move(executor)} {}
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  void spawn(asio::awaitable<void> task) {
    signals_.emplace_back();
    const auto member = std::prev(signals_.end());
    asio::co_spawn(executor_, std::move(task),
                   asio::bind_cancellation_slot(member->slot(), [this, member](std::exception_ptr) {
                     signals_.erase(member);  // Its coroutine has ended.
                   }));
  }

  // Each member's current co_await ends with operation_aborted.
  void cancel() {
    for (auto& signal : signals_) {
      signal.emit(asio::cancellation_type::terminal);
    }
  }

  [[nodiscard]] std::size_t size() const { return signals_.size(); }

 private:
  asio::any_io_executor executor_;
  std::list<asio::cancellation_signal> signals_;  // A list: entries never move.
};
//! [task_group]

asio::awaitable<void> worker(int number, std::chrono::hours how_long) {
  asio::steady_timer timer{co_await asio::this_coro::executor, how_long};
  try {
    co_await timer.async_wait(asio::use_awaitable);
    println("  worker ", number, ": done");
  } catch (const std::system_error& error) {
    println("  worker ", number, ": ", error.code().message());
    throw;
  }
}

//! [parent]
// A parent awaiting its children with `&&`: the group of awaitable
// operators forwards a cancellation of the parent to every child.
asio::awaitable<void> parent() {
  using namespace asio::experimental::awaitable_operators;
  co_await (worker(1, 1h) && worker(2, 2h) && worker(3, 3h));
}
//! [parent]

std::string message_of(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const asio::multiple_exceptions& errors) {
    // When both operands of `&&` throw, it throws one of these, which keeps
    // only the first operand's exception (Asio 1.22 drops the other's); for
    // a && b && c, one inside another.
    return message_of(errors.first_exception());
  } catch (const std::system_error& error) {
    return error.code().message();
  } catch (const std::exception& error) {
    return error.what();
  }
}

void group_demo() {
  {
    asio::io_context loop;
    task_group group{loop.get_executor()};
    for (int number = 1; number <= 3; ++number) {
      group.spawn(worker(number, std::chrono::hours{number}));
    }
    asio::steady_timer soon{loop, 50ms};
    soon.async_wait([&group](std::error_code) {
      println("a task_group of ", group.size(), " workers (1 h, 2 h, 3 h), cancelled after 50 ms:");
      group.cancel();
    });
    loop.run();
    println("  the loop ran dry; members left: ", group.size());
  }
  {
    asio::io_context loop;
    asio::cancellation_signal stop;
    asio::co_spawn(loop, parent(),
                   asio::bind_cancellation_slot(stop.slot(), [](std::exception_ptr failure) {
                     println("  the parent ended: ", failure ? message_of(failure) : "done");
                   }));
    asio::steady_timer soon{loop, 50ms};
    soon.async_wait([&stop](std::error_code) {
      println("a parent awaiting three workers with &&, cancelled after 50 ms:");
      stop.emit(asio::cancellation_type::terminal);
    });
    loop.run();
  }
}

// --- race ------------------------------------------------------------------

//! [race]
// Two timers, both expired before the loop runs. The reactor finds expired
// timers only when it runs (the "task" in the scheduler's queue), and then
// takes every one that has expired: both handlers are queued in one pass,
// the earlier expiry first. When the first handler runs, the second wait has
// already completed: nothing is left to cancel, whatever the clock says.
// (A read that completes in the same pass as a deadline comes first too:
// the reactor queues descriptors before timers.)
struct two_expired_timers {
  asio::io_context loop;
  asio::steady_timer first{loop};
  asio::steady_timer deadline{loop};
  // The deadline's expiry; the first timer's is a millisecond earlier.
  const std::chrono::steady_clock::time_point past = std::chrono::steady_clock::now() - 1s;

  two_expired_timers() { first.expires_at(past - 1ms); }
};

// Chapter 09's deadline, reduced: the action runs unless the wait failed.
void arm_unguarded(asio::steady_timer& timer, std::function<void()> action) {
  timer.async_wait([action = std::move(action)](std::error_code error) {
    if (!error) {
      action();
    }
  });
}

// Guarded: each arming (and each cancel) gets a new number, and a handler
// acts only if its number is still the current one. A completion that was
// queued before the timer was re-armed or cancelled is then seen as stale.
class guarded_deadline {
 public:
  explicit guarded_deadline(asio::steady_timer& timer) : timer_{timer} {}

  void arm_at(std::chrono::steady_clock::time_point expiry, std::function<void()> action) {
    timer_.expires_at(expiry);  // Cancels the previous wait, if it still can.
    const unsigned mine = ++arming_;
    timer_.async_wait([this, mine, action = std::move(action)](std::error_code error) {
      if (error) {
        return;  // Cancelled in time.
      }
      if (mine != arming_) {
        println("  the old handler runs with \"Success\", but it is stale: ignored");
        return;
      }
      action();
    });
  }
  void arm(std::chrono::steady_clock::duration timeout, std::function<void()> action) {
    arm_at(std::chrono::steady_clock::now() + timeout, std::move(action));
  }
  // The pending action will not run, even if its handler is already queued.
  void cancel() {
    ++arming_;
    timer_.cancel();
  }

 private:
  asio::steady_timer& timer_;
  unsigned arming_ = 0;
};
//! [race]

void race_demo() {
  {
    println("cancel() a timer whose handler is already queued:");
    two_expired_timers timers;
    timers.deadline.expires_at(timers.past);
    timers.deadline.async_wait([](std::error_code error) {
      println("  then its handler runs with \"", error.message(), "\"");
    });
    timers.first.async_wait([&timers](std::error_code) {
      println("  cancel() returned ", timers.deadline.cancel());
    });
    timers.loop.run();
  }
  {
    println("re-armed as chapter 09's deadline does after each line (expires_after):");
    two_expired_timers timers;
    timers.deadline.expires_at(timers.past);
    arm_unguarded(timers.deadline,
                  [] { println("  the old action runs: the client is closed as idle"); });
    timers.first.async_wait([&timers](std::error_code) {
      println("  a line arrived; expires_after(30 s) cancelled ",
              timers.deadline.expires_after(30s), " wait(s)");
      arm_unguarded(timers.deadline, [] { println("  the new action runs"); });
    });
    timers.loop.run_one();  // The first timer's handler.
    timers.loop.run_one();  // The old deadline's handler, already queued.
  }
  {
    println("the same with a guarded deadline:");
    two_expired_timers timers;
    guarded_deadline idle{timers.deadline};
    idle.arm_at(timers.past,
                [] { println("  the old action runs: the client is closed as idle"); });
    timers.first.async_wait([&idle](std::error_code) {
      println("  a line arrived; the deadline is armed again for 30 s");
      idle.arm(30s, [] { println("  the new action runs"); });
    });
    timers.loop.run_one();
    timers.loop.run_one();
  }
}

}  // namespace

/// Parses the command line, then runs the chosen demonstrations.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 12: cancellation and timeouts, one demonstration each"};
  const std::map<std::string, std::function<void()>> demos{
      {"timeout",
       [] {
         asio::io_context loop;
         asio::co_spawn(loop, timeout_demo(), asio::detached);
         loop.run();
       }},
      {"types", types_demo},
      {"group", group_demo},
      {"race", race_demo}};
  std::string chosen = "all";
  cli.app()
      .add_option("--demo", chosen, "Which demonstration: timeout, types, group, race or all")
      ->check(CLI::IsMember({"all", "timeout", "types", "group", "race"}))
      ->capture_default_str();
  cli.parse(argc, argv);

  for (const char* name : {"timeout", "types", "group", "race"}) {
    if (chosen == "all" || chosen == name) {
      println("== ", name, " ==");
      demos.at(name)();
    }
  }
  return 0;
}
