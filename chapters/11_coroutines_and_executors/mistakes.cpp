/// \file
/// Chapter 11's two deliberate coroutine mistakes, and their fixes. Its page
/// is chapters/11_coroutines_and_executors/README.md ("Two mistakes").
//
//
// NOT A MODEL when --mistake is given: this program then makes, on purpose,
// one of the two mistakes that coroutines invite, one per --mistake value:
//
//   dangling-reference   a coroutine takes its job by reference (C++ Core
//                        Guidelines CP.53): the caller's job is destroyed
//                        before the coroutine reads it. AddressSanitizer
//                        reports a heap-use-after-free (build with the
//                        asan-ubsan preset); a normal build reads freed
//                        memory: it prints garbage, or nothing, or by luck
//                        the job.
//   mutex-across-await   workers hold a std::mutex across a co_await: the
//                        waiting workers block every thread of the pool in
//                        lock(), and none is left to resume the worker that
//                        holds it. A watchdog says so and exits with status 3.
//   none (the default)   the fixed forms: each job by value; the journal
//                        kept by one coroutine that the workers feed
//                        through a channel. Status 0.
//
//   the journal, fixed:   worker 1 ─┐
//                         worker 2 ─┼─ channel ──> keeper: begin, co_await, end
//                         worker 3 ─┘               (one record at a time)
#include "sandbox/asio.hpp"
#include "sandbox/console.hpp"
#include "sandbox/event.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

enum class mistake { none, dangling_reference, mutex_across_await };

// The status of a run that the watchdog ended: documented on the page.
constexpr int deadlocked_status = 3;

// A pause that stands for real I/O (a request arriving, a record being
// written): the coroutine is suspended and its thread is free for other
// handlers. A write takes longer than the wait for a request, here as on a
// real disk; the deadlock below needs that only to happen on every run.
constexpr auto request_time = 10ms;
constexpr auto write_time = 100ms;

asio::awaitable<void> pause(std::chrono::milliseconds how_long) {
  asio::steady_timer timer{co_await asio::this_coro::executor, how_long};
  co_await timer.async_wait(asio::use_awaitable);
}

// --- 1. Dangling references -------------------------------------------------

// The dispatcher below keeps its jobs in a std::deque, which stores them on
// the heap: a read through a dangling reference to one is a read of freed
// heap memory, which AddressSanitizer catches however the program ran.
struct job {
  int number = 0;
  std::string task;
};

//! [dangling]
// The mistake (C++ Core Guidelines CP.53: no reference parameters in a
// coroutine). A coroutine's frame keeps its parameters as they were passed:
// here a reference to the caller's job, not a copy of it. The reference is
// read after the first co_await, long after the caller has moved on.
asio::awaitable<void> process_by_reference(const job& work) {
  co_await pause(request_time);
  sandbox::println("job ", work.number, ": ", work.task);  // The job is gone.
}

// The fix: take it by value. The frame holds its own copy, which lives as
// long as the coroutine does.
asio::awaitable<void> process(job work) {
  co_await pause(request_time);
  sandbox::println("job ", work.number, ": ", work.task);
}

// A dispatcher hands each job of its queue to a coroutine of its own, then
// drops the job from the queue: it has been handed over, or so it seems.
asio::awaitable<void> dispatch_jobs(mistake error) {
  const auto executor = co_await asio::this_coro::executor;
  std::deque<job> queue{{1, "resize holiday-photo-0001.jpg"},
                        {2, "resize holiday-photo-0002.jpg"},
                        {3, "resize holiday-photo-0003.jpg"}};
  while (!queue.empty()) {
    if (error == mistake::dangling_reference) {
      asio::co_spawn(executor, process_by_reference(queue.front()), asio::detached);
    } else {
      asio::co_spawn(executor, process(queue.front()), asio::detached);
    }
    queue.pop_front();  // The job is destroyed here...
  }
}  // ...and the queue here, long before the coroutines wake from pause().
//! [dangling]

// --- 2. A std::mutex held across co_await -----------------------------------

// A plain thread that watches for progress. The loop's own timers cannot do
// it: once every loop thread is blocked in lock(), no timer handler runs.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds patience)
      : patience_{patience}, thread_{[this] { watch(); }} {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      const std::lock_guard lock{mutex_};
      done_ = true;
    }
    changed_.notify_one();
    thread_.join();
  }

  // Something moved on; safe from any thread.
  void progress() {
    {
      const std::lock_guard lock{mutex_};
      ++steps_;
    }
    changed_.notify_one();
  }

 private:
  void watch() {
    std::unique_lock lock{mutex_};
    while (!done_) {
      const std::size_t seen = steps_;
      if (!changed_.wait_for(lock, patience_, [&] { return done_ || steps_ != seen; })) {
        sandbox::eprintln("no progress for ", patience_.count(),
                          " s: every loop thread waits in std::mutex::lock() for the worker "
                          "that holds it, and that worker waits for a thread to resume it: "
                          "deadlocked");
        std::_Exit(deadlocked_status);  // The blocked threads can never be joined.
      }
    }
  }

  std::chrono::seconds patience_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t steps_ = 0;
  bool done_ = false;
  std::thread thread_;  // Last: it starts once the members it reads exist.
};

// The shared journal: each worker adds a record, a "begin" line and an
// "end" line with a write (a co_await) between them, and no record may be
// split by another.
struct journal {
  std::vector<std::string> lines;
  watchdog* watch = nullptr;

  void add(const std::string& line) {
    lines.push_back(line);
    watch->progress();
  }
};

// A record is whole when every "begin" line is followed by its "end".
bool no_record_split(const std::vector<std::string>& lines) {
  if (lines.size() % 2 != 0) {
    return false;
  }
  for (std::size_t i = 0; i < lines.size(); i += 2) {
    if (!lines[i].ends_with(" begin")) {
      return false;
    }
    const std::string_view begin = lines[i];
    const std::string record{begin.substr(0, begin.size() - std::string_view{" begin"}.size())};
    if (lines[i + 1] != record + " end") {
      return false;
    }
  }
  return true;
}

//! [mutex]
// The mistake: a std::mutex held across a co_await. lock() blocks the
// *thread* until the mutex is free; the co_await then suspends the
// coroutine with the mutex still locked, and hands its thread to the next
// handler, another worker, which blocks that thread in lock(). With one
// worker more than the pool has threads, every thread ends up blocked, and
// none is left to resume the worker that would unlock. (The first pause
// lets every worker get ready at about the same time, as requests arriving
// together would: all are waiting for the mutex before the write is done.)
asio::awaitable<void> write_record_holding_a_mutex(journal& book, std::mutex& book_mutex,
                                                   int worker) {
  co_await pause(request_time);  // Waiting for something to record.
  const std::lock_guard lock{book_mutex};
  book.add("record " + std::to_string(worker) + " begin");
  co_await pause(write_time);  // Suspended, the mutex still locked.
  book.add("record " + std::to_string(worker) + " end");
}  // Unlocked here, maybe by another thread than the one that locked it.
//! [mutex]

asio::awaitable<void> journal_with_a_mutex(std::size_t workers, journal& book) {
  const auto executor = co_await asio::this_coro::executor;
  std::mutex book_mutex;
  auto left = std::make_shared<std::atomic<std::size_t>>(workers);
  auto finished = std::make_shared<sandbox::event>(executor);
  for (std::size_t i = 1; i <= workers; ++i) {
    // Each worker on a strand of its own, as each connection of chapter 05.
    asio::co_spawn(asio::make_strand(executor),
                   write_record_holding_a_mutex(book, book_mutex, static_cast<int>(i)),
                   [left, finished](const std::exception_ptr&) {
                     if (left->fetch_sub(1) == 1) {
                       finished->set();
                     }
                   });
  }
  co_await finished->wait();  // Never, with this mistake.
}

//! [channel]
// The fix: one coroutine keeps the journal, and the workers hand it their
// records through a channel. Nothing blocks a thread: a worker whose send
// must wait is suspended, not its thread, and the keeper writes one record
// at a time, co_await and all, because it is one coroutine: its steps never
// overlap. (A strand alone would not do: another worker on the strand runs
// at each co_await, and could split a record. The channel's order is the
// record's order.)
using record_channel = asio::experimental::concurrent_channel<void(std::error_code, int)>;

asio::awaitable<void> send_record(record_channel& records, int worker) {
  co_await pause(request_time);  // Waiting for something to record.
  co_await records.async_send(std::error_code{}, worker, asio::use_awaitable);
}

asio::awaitable<void> keep_journal(record_channel& records, std::size_t count, journal& book) {
  for (std::size_t i = 0; i < count; ++i) {
    const int worker = co_await records.async_receive(asio::use_awaitable);
    book.add("record " + std::to_string(worker) + " begin");
    co_await pause(write_time);
    book.add("record " + std::to_string(worker) + " end");
  }
}
//! [channel]

asio::awaitable<void> journal_through_a_channel(std::size_t workers, journal& book) {
  const auto executor = co_await asio::this_coro::executor;
  // Capacity 0: a send completes when the keeper takes the record. Once the
  // keeper has taken the last one, no worker touches the channel again (each
  // only resumes to end), so the channel may go when this coroutine does.
  record_channel records{executor, 0};
  for (std::size_t i = 1; i <= workers; ++i) {
    asio::co_spawn(asio::make_strand(executor), send_record(records, static_cast<int>(i)),
                   asio::detached);
  }
  co_await keep_journal(records, workers, book);
}

int journal_demo(mistake error, std::size_t threads) {
  const std::size_t workers = threads + 1;
  const bool with_mutex = error == mistake::mutex_across_await;
  sandbox::println("journal: ", workers, " workers on ", threads,
                   threads == 1 ? " thread, " : " threads, ",
                   with_mutex ? "each holding a std::mutex across co_await"
                              : "handing records to one keeper through a channel");
  journal book;
  watchdog watch{2s};
  book.watch = &watch;
  const int status = sandbox::run_on_threads(threads, [&]() -> asio::awaitable<void> {
    if (with_mutex) {
      co_await journal_with_a_mutex(workers, book);
    } else {
      co_await journal_through_a_channel(workers, book);
    }
  });
  // Every loop thread has been joined: the lines are safe to read.
  sandbox::println("the journal has ", book.lines.size(), " lines, ",
                   no_record_split(book.lines) ? "no record split" : "a record split");
  return status;
}

}  // namespace

/// Parses the command line, then shows the fixed forms, or one mistake.
int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Chapter 11: two coroutine mistakes (and their fixes)"};
  const std::map<std::string, mistake> mistakes{
      {"none", mistake::none},
      {"dangling-reference", mistake::dangling_reference},
      {"mutex-across-await", mistake::mutex_across_await}};
  std::string chosen = "none";
  std::size_t threads = 2;
  cli.app()
      .add_option("--mistake", chosen,
                  "Which mistake to make: dangling-reference, mutex-across-await, or none "
                  "(the fixed forms)")
      ->check(CLI::IsMember(mistakes))
      ->capture_default_str();
  cli.app().add_option("--threads", threads, "Threads of the journal's pool")
      ->check(CLI::Range(1, 64))->capture_default_str();
  cli.parse(argc, argv);
  const mistake error = mistakes.at(chosen);

  int status = 0;
  if (error != mistake::mutex_across_await) {
    sandbox::println("jobs: ", error == mistake::none ? "each coroutine holds its own copy"
                                                       : "each coroutine holds a reference");
    status = sandbox::run([error] { return dispatch_jobs(error); });
  }
  if (status == 0 && error != mistake::dangling_reference) {
    status = journal_demo(error, threads);
  }
  return status;
}
