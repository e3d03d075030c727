/// \file
/// The echo handler of chapters 05 and 06. Its page is chapters/05_thread_pool_server/README.md.
#include "threaded_echo/echo_handler.hpp"

#include "sandbox/address.hpp"
#include "sandbox/bytes_repr.hpp"
#include "sandbox/console.hpp"
#include "sandbox/run.hpp"

namespace threaded_echo {
namespace {

// Counts a connection as open for as long as it lives. A destructor runs on
// every way out of the coroutine: end of file, an exception (a reset), or
// the coroutine frame being destroyed at shutdown.
class open_connection {
 public:
  explicit open_connection(echo_counters& counters)
      : counters_{counters},
        number_{counters.total.fetch_add(1, std::memory_order_relaxed) + 1} {
    counters_.open.fetch_add(1, std::memory_order_relaxed);
  }
  open_connection(const open_connection&) = delete;
  open_connection& operator=(const open_connection&) = delete;
  ~open_connection() { counters_.open.fetch_sub(1, std::memory_order_relaxed); }

  // 1 for the first connection accepted, 2 for the next...
  [[nodiscard]] std::size_t number() const noexcept { return number_; }

 private:
  echo_counters& counters_;
  std::size_t number_;
};

}  // namespace

//! [handler]
// Between two co_awaits the coroutine runs on one thread; after a co_await
// it resumes wherever its executor runs it next. In chapter 05 that is any
// thread of the pool, one at a time (the connection's strand); in chapter 06
// always the same thread (its io_context's only one).
asio::awaitable<void> client_connected_handler(sandbox::stream_reader reader,
                                               sandbox::stream_writer writer,
                                               echo_counters& counters, bool quiet) {
  const open_connection connection{counters};
  const std::size_t id = connection.number();
  if (!quiet) {
    sandbox::println("[thread ", sandbox::this_thread_number(), "] connection ", id, " opened");
  }
  for (;;) {
    const std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;
    }
    if (!quiet) {
      sandbox::println("[thread ", sandbox::this_thread_number(), "] connection ", id, ": ",
                       sandbox::bytes_repr(data));
    }
    writer.write(data);
    counters.bytes.fetch_add(data.size(), std::memory_order_relaxed);
    co_await writer.drain();
  }
  if (!quiet) {
    sandbox::println("[thread ", sandbox::this_thread_number(), "] connection ", id, " closed");
  }
}
//! [handler]

void print_counters(const echo_counters& counters, const sandbox::server* server, bool quiet) {
  sandbox::println("Connections: ", counters.total.load(), " total, ", counters.open.load(),
                   " open; bytes echoed: ", counters.bytes.load());
  if (quiet && server != nullptr) {
    sandbox::println("Clients that reset their connection: ", server->client_resets());
  }
}

//! [service]
sandbox::client_connected_callback echo_service::handler() {
  return [this](sandbox::stream_reader reader, sandbox::stream_writer writer) {
    return client_connected_handler(std::move(reader), std::move(writer), counters_, quiet_);
  };
}

asio::awaitable<void> echo_service::serve_until_closed(std::shared_ptr<sandbox::server> server,
                                                       const std::string& host,
                                                       std::size_t threads) {
  // Under load (--quiet), a client's reset is counted, not logged (chapter 02).
  server->set_log_client_resets(!quiet_);
  listening_ = server;
  sandbox::println("Serving on ", sandbox::host_port(host, server->port()));
  sandbox::println("Running on ", threads, " thread", threads == 1 ? "" : "s");
  co_await server->wait_closed();
}

void echo_service::finish(int status) {
  // Every loop thread has been joined, so nothing else touches the counters
  // now; connections the signal interrupted still count as open (they close
  // when the loops are destroyed, just after this).
  if (status == 0) {
    print_counters(counters_, listening_.get(), quiet_);
  }
  listening_.reset();  // The server's sockets go before the loops.
}
//! [service]

}  // namespace threaded_echo
