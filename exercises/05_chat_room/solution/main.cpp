// Exercise 05, solution: a chat room that survives a member who never reads.
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"
#include "sandbox/transport.hpp"

#include <memory>
#include <set>
#include <vector>

namespace {

// How much a member may leave unread before the room drops it. Chapter 07
// bounds each member's queue the same way; a real server would make this
// an option, and might warn the member first.
constexpr std::size_t max_unread = 4 * 1024 * 1024;

struct member {
  sandbox::stream_writer writer;
};

// Everyone in the room. sandbox::run() runs the loop on one thread, so the
// set needs no lock (chapter 07's room, on a pool of threads, has one).
class room {
 public:
  void join(const std::shared_ptr<member>& who) { members_.insert(who); }
  void leave(const std::shared_ptr<member>& who) { members_.erase(who); }

  // Sends `line` to every member but `from`, without waiting for anyone:
  // write() only appends to a member's buffer. Waiting for a member's
  // drain() here would make everyone wait for the slowest reader, and for a
  // member who never reads, forever. Instead, a member whose unread bytes
  // pass max_unread is dropped: abort() closes its connection at once, and
  // frees its buffer.
  void broadcast(const std::string& line, const member* from) {
    std::vector<std::shared_ptr<member>> dropped;
    for (const auto& other : members_) {
      if (other.get() == from || other->writer.is_closing()) {
        continue;
      }
      auto& transport = other->writer.get_transport();
      if (transport.get_write_buffer_size() > max_unread) {
        dropped.push_back(other);
        continue;
      }
      other->writer.write(line);
    }
    // Apart from the loop: leaving changes the set being walked.
    for (const auto& other : dropped) {
      sandbox::eprintln("dropping a member who reads nothing: ",
                        other->writer.get_transport().get_write_buffer_size(), " bytes unread");
      other->writer.get_transport().abort();
      leave(other);
    }
  }

 private:
  std::set<std::shared_ptr<member>> members_;
};

// Keeps a member in the room while its coroutine lives, however it ends.
class membership {
 public:
  membership(room& chat, std::shared_ptr<member> who) : room_{chat}, member_{std::move(who)} {
    room_.join(member_);
  }
  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;
  ~membership() { room_.leave(member_); }

 private:
  room& room_;
  std::shared_ptr<member> member_;
};

asio::awaitable<void> chat(sandbox::stream_reader reader, sandbox::stream_writer writer,
                           room& chat_room) {
  auto self = std::make_shared<member>(member{writer});
  const membership in_the_room{chat_room, self};
  writer.write("welcome\n");
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty() || line.back() != '\n') {
      break;  // End of file (an unfinished last line is not said).
    }
    chat_room.broadcast(line, self.get());
  }
}

asio::awaitable<void> serve(sandbox::server_options options, room& chat_room) {
  auto server = co_await sandbox::start_server(
      [&chat_room](sandbox::stream_reader reader, sandbox::stream_writer writer) {
        return chat(std::move(reader), std::move(writer), chat_room);
      },
      options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 05: a chat room that survives a member who never reads"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);
  room chat_room;
  return sandbox::run([&] { return serve(options, chat_room); });
}
