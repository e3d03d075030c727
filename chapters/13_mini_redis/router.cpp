/// \file
/// \brief The owned design's forwarding (router.hpp).
#include "router.hpp"

#include "reply.hpp"
#include "resp.hpp"

#include <string_view>
#include <utility>

namespace ch13 {
namespace {

// ASCII case-insensitive equality with a lower-case `word`.
bool is(std::string_view text, std::string_view word) {
  if (text.size() != word.size()) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != word[i]) {
      return false;
    }
  }
  return true;
}

// Replies of a forwarded batch kept for the next one up to this size.
constexpr std::size_t large_replies = 64 * 1024;

}  // namespace

request_router::request_router(server_state& server,
                               const std::vector<asio::any_io_executor>& loops, std::size_t home)
    : server_{server}, loops_{loops}, home_{home}, outboxes_(loops.size()) {}

void request_router::run(client_state& client, std::span<const std::string> arguments,
                         std::string& out) {
  const key_layout keys = keys_of(arguments, client);
  if (keys.first == 0 && !keys.every_shard) {
    execute(server_, client, arguments, out);  // No keys (or an error): runs here.
    return;
  }
  const std::size_t loops = loops_.size();
  if (!keys.every_shard) {
    const std::size_t owner = shard_index(arguments[keys.first], loops);
    bool one_owner = true;
    if (!keys.one) {
      for (std::size_t j = keys.first + keys.step; j < arguments.size(); j += keys.step) {
        one_owner = one_owner && shard_index(arguments[j], loops) == owner;
      }
    }
    if (one_owner) {
      if (owner == home_) {
        run_here(arguments, out);  // The fast path: my keys, no hop.
      } else {
        close_local(out);
        forward(owner, arguments);
        pieces_.push_back({piece::kind::remote, owner});
      }
      return;
    }
  }
  split(arguments, keys, out);
}

void request_router::run_here(std::span<const std::string> arguments, std::string& out) {
  execute_forwarded(server_, server_.shards[home_], arguments, out);
}

// The replies run here so far, not yet in a piece, become one.
void request_router::close_local(const std::string& out) {
  if (out.size() > local_mark_) {
    pieces_.push_back({piece::kind::local, local_mark_, out.size()});
    local_mark_ = out.size();
  }
}

void request_router::forward(std::size_t owner, std::span<const std::string> arguments) {
  // A request is an array of bulk strings, as a reply array is written.
  outbox& box = outboxes_[owner];
  reply::array(box.requests, arguments.size());
  for (const auto& argument : arguments) {
    reply::bulk(box.requests, argument);
  }
  ++box.count;
  ++forwarded_;
}

void request_router::split(std::span<const std::string> arguments, const key_layout& keys,
                           std::string& out) {
  close_local(out);
  const std::size_t loops = loops_.size();
  // One sub-request per key (per loop for DBSIZE), each where its key lives.
  const auto sub = [&](std::size_t owner) {
    if (owner == home_) {
      run_here(scratch_, out);
      close_local(out);
    } else {
      forward(owner, scratch_);
      pieces_.push_back({piece::kind::remote, owner});
    }
  };
  if (keys.every_shard) {  // DBSIZE: each loop counts its own keys.
    pieces_.push_back({piece::kind::sum, 0, loops});
    scratch_.assign(1, "dbsize");
    for (std::size_t owner = 0; owner < loops; ++owner) {
      sub(owner);
    }
    return;
  }
  const std::size_t count = (arguments.size() - keys.first) / keys.step;
  const bool mget = is(arguments[0], "mget");
  if (mget) {
    // An array, the header here, then each key's element: a one-key MGET's
    // reply without its own header. (Not GET's: GET of a list is an error,
    // where MGET says nil.)
    reply::array(out, count);
    close_local(out);
    scratch_.assign(2, "mget");
  } else if (is(arguments[0], "mset")) {
    pieces_.push_back({piece::kind::ok, 0, count});
    scratch_.assign(3, "set");
  } else {  // DEL, EXISTS: the number of keys, summed.
    pieces_.push_back({piece::kind::sum, 0, count});
    scratch_.assign(2, std::string{arguments[0]});
  }
  for (std::size_t j = keys.first; j < arguments.size(); j += keys.step) {
    scratch_[1] = arguments[j];
    if (keys.step == 2) {
      scratch_[2] = arguments[j + 1];
    }
    if (mget) {
      pieces_.push_back({piece::kind::element});
    }
    sub(shard_index(arguments[j], loops));
  }
}

//! [send]
void request_router::send(std::shared_ptr<void> keep, std::function<void()> done) {
  done_ = std::move(done);
  awaiting_ = 0;
  for (std::size_t owner = 0; owner < outboxes_.size(); ++owner) {
    if (outboxes_[owner].count == 0) {
      continue;
    }
    ++awaiting_;
    asio::post(loops_[owner], [this, keep, owner]() mutable {
      run_for_other_loop(owner);
      // Back home. `keep` travels with the reply, so that the connection
      // is let go (and perhaps destroyed) on its own loop, never here.
      asio::post(loops_[home_], [this, keep = std::move(keep)] {
        if (--awaiting_ == 0) {
          const auto finish = std::move(done_);  // done_ may be set anew inside.
          finish();
        }
      });
    });
  }
}

// On the owner's loop, the only thread that touches its shard: no lock.
void request_router::run_for_other_loop(std::size_t owner) {
  outbox& box = outboxes_[owner];
  shard& mine = server_.shards[owner];
  std::string_view rest = box.requests;
  while (!rest.empty()) {
    const auto [what, used] = mine.forwarded.parse(rest);
    rest.remove_prefix(used);
    if (what != request_parser::status::request) {
      break;  // Cannot happen: we wrote whole, valid requests.
    }
    execute_forwarded(server_, mine, mine.forwarded.arguments(), box.replies);
    box.ends.push_back(box.replies.size());
  }
}
//! [send]

std::string_view request_router::text_of(const std::string& out, const piece& p) {
  if (p.what == piece::kind::local) {
    return std::string_view{out}.substr(p.first, p.second - p.first);
  }
  outbox& box = outboxes_[p.first];
  const std::size_t begin = box.next == 0 ? 0 : box.ends[box.next - 1];
  const std::size_t end = box.ends[box.next++];
  return std::string_view{box.replies}.substr(begin, end - begin);
}

void request_router::assemble(const std::string& out, std::string& into) {
  close_local(out);
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    const piece& p = pieces_[i];
    switch (p.what) {
      case piece::kind::local:
      case piece::kind::remote:
        into += text_of(out, p);
        break;
      case piece::kind::sum: {
        long long total = 0;
        for (std::size_t k = 1; k <= p.second; ++k) {
          const std::string_view integer = text_of(out, pieces_[i + k]);  // ":1\r\n"
          long long value = 0;
          if (integer.size() > 3 && parse_integer(integer.substr(1, integer.size() - 3), value)) {
            total += value;
          }
        }
        reply::integer(into, total);
        i += p.second;
        break;
      }
      case piece::kind::element: {
        constexpr std::string_view header = "*1\r\n";
        into += text_of(out, pieces_[i + 1]).substr(header.size());
        i += 1;
        break;
      }
      case piece::kind::ok:
        for (std::size_t k = 1; k <= p.second; ++k) {
          (void)text_of(out, pieces_[i + k]);  // SET without options only says OK.
        }
        reply::simple(into, "OK");
        i += p.second;
        break;
    }
  }
  // Forget the batch; every buffer keeps its memory for the next one.
  pieces_.clear();
  local_mark_ = 0;
  forwarded_ = 0;
  for (outbox& box : outboxes_) {
    box.requests.clear();
    box.count = 0;
    if (box.replies.capacity() > large_replies) {
      std::string{}.swap(box.replies);  // A rare large batch does not keep its memory.
    }
    box.replies.clear();
    box.ends.clear();
    box.next = 0;
  }
}

}  // namespace ch13
