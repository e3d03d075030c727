/// \file
/// \brief Chapter 13's connection (connection.hpp): a client's bytes in,
/// its replies out, and its timer for the idle timeout and the shutdown.
#include "connection.hpp"

#include "commands.hpp"
#include "reply.hpp"
#include "resp.hpp"
#include "router.hpp"
#include "shards.hpp"

#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/transport.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace ch13 {

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

namespace {

using clock_type = std::chrono::steady_clock;

// A graceful shutdown closes a connection once its client has been quiet
// this long with nothing owed to it: long enough for a request already on
// its way (sent before the signal, still in the kernel) to arrive.
constexpr auto quiet_enough = std::chrono::milliseconds{50};

// One client. The transport calls it; it calls the parser and the commands.
class connection final : public sandbox::protocol,
                         public subscriber,
                         public std::enable_shared_from_this<connection> {
 public:
  connection(server_state& server, const std::vector<asio::any_io_executor>& loops,
             open_connections& open, const connection_options& options)
      : server_{server},
        loops_{loops},
        open_{open},
        // Atomic: connections on every loop take numbers at once.
        client_{*this, server.next_client_id.fetch_add(1, std::memory_order_relaxed)},
        subscriber_limit_{options.subscriber_limit},
        idle_seconds_{options.idle_timeout},
        idle_timeout_{sandbox::seconds(options.idle_timeout)},
        quiet_{options.quiet} {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Normally connection_lost() has left the channels already; a connection
  // still open when its loop is destroyed (main threw, say) is destroyed
  // without it.
  ~connection() override { forget_subscriptions(server_, client_); }

  void connection_made(sandbox::transport& transport) override {
    // Valid until connection_lost() returns (chapter 01). The library's read
    // back-pressure stays on: a client that pipelines requests but never
    // reads the replies fills our write buffer past 64 KiB, and then we stop
    // reading it, so TCP stops it sending. Its requests wait in its own
    // kernel buffers, not in our memory.
    transport_ = &transport;
    // The picker chose our loop; this is its thread for good (chapter 06).
    // context_pool's thread i + 1 runs loop i.
    home_ = static_cast<std::size_t>(sandbox::this_thread_number() - 1);
    if (server_.design == keyspace_design::owned && loops_.size() > 1) {
      router_ = std::make_unique<request_router>(server_, loops_, home_);
    }
    timer_.emplace(transport.get_executor());
    last_heard_ = clock_type::now();
    if (idle_timeout_ > clock_type::duration::zero()) {
      wake_at(last_heard_ + idle_timeout_);
    }
    // Last: a shutdown under way calls finish right here, and it posts.
    ticket_ = open_.add([self = weak_from_this(), executor = transport.get_executor()] {
      asio::post(executor, [self] {
        if (const auto alive = self.lock()) {
          alive->finish();
        }
      });
    });
  }

  //! [receive]
  void data_received(std::string_view data) override {
    last_heard_ = clock_type::now();  // For the idle timeout and the shutdown.
    if (waiting()) {
      // Run once the batch in flight has its replies.
      buffer_.append(data);
      hold_reading_while_full();
      return;
    }
    if (buffer_.empty()) {
      // Nothing left over from the last read (the usual case): parse the
      // transport's bytes where they lie, and keep only an unfinished tail.
      const std::size_t used = run_requests(data);
      buffer_.assign(data.substr(used));
    } else {
      // A request began in an earlier read: continue it behind its start.
      buffer_.append(data);
      buffer_.erase(0, run_requests(buffer_));
    }
    flush();
  }

  // The client has read enough of its replies (the transport's buffer
  // drained to its low-water mark): run the requests held back.
  void resume_writing() override {
    paused_ = false;
    if (!buffer_.empty() && !closing_ && !waiting()) {
      buffer_.erase(0, run_requests(buffer_));
      flush();
      hold_reading_while_full();
    }
  }
  //! [receive]

  void pause_writing() override { paused_ = true; }

  void connection_lost(std::error_code /*error*/) override {
    forget_subscriptions(server_, client_);
    open_.remove(ticket_);
    transport_ = nullptr;  // A batch still in flight (owned design) finds it gone.
    held_.reset();
    if (timer_) {
      timer_->cancel();  // Nothing left to watch; and the loop may end.
    }
  }

  [[nodiscard]] bool on_own_thread() const override {
    return static_cast<std::size_t>(sandbox::this_thread_number() - 1) == home_;
  }

  // A PUBLISH on another loop, which holds the channels' lock. The message
  // joins our inbox, and the first one into an empty inbox posts a drain to
  // our own loop: one post however many messages arrive before it runs.
  // A weak pointer, so that the post does not keep a closed connection
  // alive; by the time it runs we may be gone.
  void deliver_later(std::shared_ptr<const std::string> frame) override {
    bool first = false;
    {
      const std::scoped_lock hold{inbox_lock_};
      first = inbox_.empty();
      inbox_.push_back(std::move(frame));
    }
    if (first) {
      asio::post(loops_[home_], [self = weak_from_this()] {
        if (const auto alive = self.lock()) {
          alive->drain_inbox();
        }
      });
    }
  }

  // A message for a channel we subscribe to, from another connection's
  // PUBLISH on our loop. Chapter 07 made a fast sender wait for a slow
  // reader; a Redis publisher never waits. So a subscriber that lets more
  // than its limit pile up (it does not read, or not fast enough) is
  // dropped at once, as Redis drops it (client-output-buffer-limit pubsub),
  // and the publisher goes on.
  void deliver(std::string_view frame) override {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    transport_->write(frame);
    if (transport_->get_write_buffer_size() > subscriber_limit_) {
      drop_slow_subscriber();
    }
  }

 private:
  // Messages from other loops' PUBLISH, on our loop. The drop rule differs
  // from deliver()'s in one way: it looks at what was still unsent before
  // this drain. While our thread was busy (or not scheduled) the publisher
  // may have sent many messages, all of which arrive here at once, before
  // the transport had a turn to send anything: counting them would drop a
  // subscriber that reads perfectly well. What is still unsent from earlier
  // turns is what this subscriber failed to read.
  void drain_inbox() {
    {
      const std::scoped_lock hold{inbox_lock_};
      draining_.swap(inbox_);
    }
    if (transport_ != nullptr && !transport_->is_closing()) {
      if (transport_->get_write_buffer_size() > subscriber_limit_) {
        drop_slow_subscriber();
      } else {
        for (const auto& frame : draining_) {
          transport_->write(*frame);
        }
      }
    }
    draining_.clear();
  }

  void drop_slow_subscriber() {
    if (!quiet_) {
      sandbox::println("Dropped subscriber ", client_.id, ": more than ", subscriber_limit_,
                       " bytes waiting");
    }
    transport_->abort();  // Drops what waits: this reader is too far behind.
  }

  //! [batch]
  // Runs the whole requests at the front of `input`; returns the bytes used.
  // It stops early once the replies pass the transport's high-water mark:
  // one read of 64 KiB holds 3,000 GETs, which could ask for gigabytes.
  // The requests left wait in buffer_; the write makes the transport call
  // pause_writing() (and stop reading), and resume_writing() runs them once
  // the client has read its replies.
  std::size_t run_requests(std::string_view input) {
    std::size_t used = 0;
    while (!closing_ && out_.size() <= sandbox::transport::default_high_water &&
           (router_ == nullptr || router_->forwarded() < forward_limit_)) {
      const auto [what, consumed] = parser_.parse(input.substr(used));
      used += consumed;
      switch (what) {
        case request_parser::status::need_more:
          return used;
        case request_parser::status::request:
          if (router_ != nullptr) {
            router_->run(client_, parser_.arguments(), out_);  // Here, or forwarded.
          } else {
            execute(server_, client_, parser_.arguments(), out_);
          }
          closing_ = client_.quit;  // QUIT: the requests after it are not run.
          break;
        case request_parser::status::error:
          // Not RESP: say why, then close, as Redis does. The requests
          // before it in the same read were run and keep their replies.
          reply::error(out_, "ERR " + parser_.error());
          if (!quiet_) {
            sandbox::println("Client ", client_.id, ": ", parser_.error(), "; closing");
          }
          closing_ = true;
          break;
      }
    }
    return used;
  }

  // One write for the batch; it copies into the transport's buffer, and
  // out_ keeps its memory for the next batch. A batch with forwarded
  // requests (owned design) is written once their owners have replied.
  void flush() {
    if (waiting()) {
      router_->send(shared_from_this(), [this] { forwarded_replies_arrived(); });
      return;
    }
    if (!out_.empty()) {
      transport_->write(out_);
      out_.clear();
    }
    if (closing_) {
      transport_->close();  // Sends what is buffered, then closes.
    }
  }
  //! [batch]

  [[nodiscard]] bool waiting() const { return router_ != nullptr && router_->waiting(); }

  //! [timer]
  // One timer a connection serves the idle timeout and the shutdown. It is
  // not re-armed on every request (that would cost a timer operation per
  // read, on the hot path); each read only notes the time, and the timer,
  // when it fires, looks at that time and sleeps again if the client spoke
  // since. Redis checks its clients' last interaction the same way, in a
  // periodic sweep (clientsCron) rather than a timer each.
  void wake_at(clock_type::time_point when) {
    timer_->expires_at(when);  // Cancels a wait already pending: one chain at a time.
    timer_->async_wait([self = weak_from_this()](std::error_code error) {
      if (const auto alive = self.lock(); alive && !error) {
        alive->on_timer();
      }
    });
  }

  // Nothing received waits to be run, no forwarded request is out, and
  // every reply has been handed to the kernel.
  [[nodiscard]] bool owes_nothing() const {
    return buffer_.empty() && !waiting() && transport_->get_write_buffer_size() == 0;
  }

  void on_timer() {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    const auto now = clock_type::now();
    if (finishing_) {
      if (now - last_heard_ >= quiet_enough && owes_nothing()) {
        transport_->close();
      } else {
        wake_at(now + quiet_enough);  // Still talking, or still owed replies.
      }
      return;
    }
    // A client still taking its replies is not idle, though it sends
    // nothing: its last sign of life is the later of its last request and
    // the last bytes of ours the kernel took for it (Redis, too, counts a
    // write as an interaction).
    const auto alive = std::max(last_heard_, transport_->last_sent());
    // Subscribers are never idle (as in Redis): they only listen. A batch
    // in flight to other loops will soon have its replies.
    if (!client_.channels.empty() || waiting()) {
      wake_at(now + idle_timeout_);
    } else if (now - alive >= idle_timeout_) {
      if (!quiet_) {
        sandbox::println("Client ", client_.id, ": idle for ", seconds_text(idle_seconds_),
                         "; closing");
      }
      if (transport_->get_write_buffer_size() == 0) {
        transport_->close();
      } else {
        transport_->abort();  // Replies it stopped reading: dropped, as Redis drops them.
      }
    } else {
      wake_at(alive + idle_timeout_);
    }
  }

  // SIGINT or SIGTERM: the server no longer accepts. This connection runs
  // what it has received, sends every reply, and closes once its client has
  // been quiet for a moment. Until then it serves as usual: a request sent
  // just before the signal gets its reply. The grace period bounds it.
  void finish() {
    if (transport_ == nullptr || transport_->is_closing()) {
      return;
    }
    if (open_.aborting()) {
      // Too late: the grace period is over (or a second signal came)
      // before this connection, taken from the accept queue, had started.
      transport_->abort();
      return;
    }
    finishing_ = true;
    // The quiet moment is counted from now, not from the last request: an
    // idle timer's handler already queued (too late to cancel) must not
    // close a connection whose next request may be on its way.
    last_heard_ = clock_type::now();
    wake_at(last_heard_ + quiet_enough);
  }
  //! [timer]

  // Every owner has replied: the batch's replies, in order, in one write;
  // then the requests that arrived meanwhile, unless the client must read
  // first (pause_writing()).
  void forwarded_replies_arrived() {
    if (transport_ == nullptr || transport_->is_closing()) {
      held_.reset();
      router_->assemble(out_, assembled_);  // Forgets the batch.
      assembled_.clear();
      out_.clear();
      return;
    }
    router_->assemble(out_, assembled_);
    out_.clear();
    // Large replies (GETs of big values): forward one request a batch
    // until they are small again, so that a batch's replies stay near the
    // transport's high-water mark, as they do when run here.
    forward_limit_ = assembled_.size() > sandbox::transport::default_high_water
                         ? 1
                         : max_forwarded_per_batch;
    // Given away: if nothing else waits, the string becomes the transport's
    // buffer, without a copy (which matters when the replies are large).
    transport_->write(std::move(assembled_));
    assembled_.clear();  // Moved from: valid, and now certainly empty.
    if (closing_) {
      transport_->close();
    } else if (!paused_ && !buffer_.empty()) {
      buffer_.erase(0, run_requests(buffer_));
      flush();
    }
    hold_reading_while_full();
  }

  // Requests wait in buffer_ while a batch is in flight. The write buffer
  // is then empty, so the transport's back-pressure cannot stop a client
  // that sends without reading: past the high-water mark, we stop reading
  // it ourselves, until the requests held have been run.
  void hold_reading_while_full() {
    if (transport_ == nullptr) {
      return;
    }
    const bool full = buffer_.size() > sandbox::transport::default_high_water;
    if (full && held_ == nullptr) {
      // A transport lives as long as an operation of its own is pending;
      // with reading paused and nothing to write, none is. We keep it
      // alive ourselves until we resume.
      held_ = transport_->shared_from_this();
      transport_->pause_reading();
    } else if (!full && held_ != nullptr) {
      transport_->resume_reading();  // Its own read keeps it alive again.
      held_.reset();
    }
  }

  // Forwarded requests' replies are not counted in out_ until they come
  // back: a batch stops at this many, which bounds what they may bring.
  // 16: what redis-benchmark -P 16 sends at once; 1 after a batch whose
  // replies were large. A real server would ask the owner to stop at a
  // byte count instead.
  static constexpr std::size_t max_forwarded_per_batch = 16;
  std::size_t forward_limit_ = max_forwarded_per_batch;

  server_state& server_;
  const std::vector<asio::any_io_executor>& loops_;  // Every loop, for posting.
  open_connections& open_;                     // Where a shutdown finds us.
  std::uint64_t ticket_ = 0;                         // Our place there.
  std::size_t home_ = 0;                             // The loop we run on.
  std::unique_ptr<request_router> router_;     // Owned design, several loops.
  client_state client_;
  const std::size_t subscriber_limit_;
  const double idle_seconds_;                // For the console line.
  const clock_type::duration idle_timeout_;  // Zero: never.
  const bool quiet_;
  std::optional<asio::steady_timer> timer_;  // Made once we know our executor.
  clock_type::time_point last_heard_;        // The last read of anything from the client.
  bool finishing_ = false;                   // A shutdown has begun.
  sandbox::transport* transport_ = nullptr;
  request_parser parser_;
  std::string buffer_;  // The start of a request whose end has not arrived.
  std::string out_;     // Replies of the batch being run.
  std::string assembled_;  // The owned design: a batch's replies put in order.
  std::mutex inbox_lock_;  // Guards inbox_: other loops' publishers add to it.
  std::vector<std::shared_ptr<const std::string>> inbox_;     // Messages not yet drained.
  std::vector<std::shared_ptr<const std::string>> draining_;  // drain_inbox()'s, kept for its memory.
  bool closing_ = false;
  bool paused_ = false;    // The transport holds too much: run nothing new.
  std::shared_ptr<sandbox::transport> held_;  // Set while we hold reading paused.
};

}  // namespace

std::shared_ptr<sandbox::protocol> make_connection(server_state& server,
                                                   const std::vector<asio::any_io_executor>& loops,
                                                   open_connections& open,
                                                   const connection_options& options) {
  return std::make_shared<connection>(server, loops, open, options);
}

}  // namespace ch13
