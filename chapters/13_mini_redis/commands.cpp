/// \file
/// \brief The commands (commands.hpp): a table of names, arities and
/// functions, and each function retold from Redis 7.0's t_string.c,
/// t_list.c, expire.c, pubsub.c and server.c, with the same checks in the same order, so that
/// the same mistake gets the same error.
#include "commands.hpp"

#include "reply.hpp"
#include "resp.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace ch13 {
namespace {

constexpr long long llong_max = std::numeric_limits<long long>::max();
constexpr long long llong_min = std::numeric_limits<long long>::min();

// One request in progress: what a command function works with.
struct call {
  server_state& server;
  client_state* client;               // Null for a forwarded request: it has keys, no client.
  std::span<const std::string> args;  // args[0] is the command's name, as sent.
  std::string& out;
  shard* owner = nullptr;             // Set: every key of this request lives here.
};

// The keyspace that holds `key`. Its lock, if any, is already held (execute()).
keyspace& keys(call& c, const std::string& key) {
  return c.owner != nullptr ? c.owner->keys : c.server.shards.of(key).keys;
}

// ASCII case-insensitive equality with a lower-case `word`, as Redis's
// strcasecmp is used for names and options.
bool is(std::string_view text, std::string_view word) {
  return text.size() == word.size() &&
         std::equal(text.begin(), text.end(), word.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

// Redis's getLongLongFromObjectOrReply: the number, or the error reply and false.
bool integer_argument(call& c, std::string_view text, long long& value) {
  if (!parse_integer(text, value)) {
    reply::error(c.out, reply::not_an_integer);
    return false;
  }
  return true;
}

// Redis's checkType: a key of the other type gets WRONGTYPE, and the
// command stops there.
bool wrong_type(call& c, const keyspace::entry& e, bool want_list) {
  if (e.is_list() != want_list) {
    reply::error(c.out, reply::wrong_type);
    return true;
  }
  return false;
}

void invalid_expire_time(call& c, std::string_view command) {
  std::string& out = c.out;
  out += "-ERR invalid expire time in '";
  out += command;
  out += "' command\r\n";
}

// --- Connection ---------------------------------------------------------

void ping(call& c) {
  if (c.args.size() > 2) {  // Its arity says "at least one"; it checks "at most two" itself.
    reply::error(c.out, "ERR wrong number of arguments for 'ping' command");
  } else if (!c.client->channels.empty()) {
    // In subscribed mode RESP2 has no room for a plain reply next to pushed
    // messages: Redis answers with an array, as if pushing a message.
    reply::array(c.out, 2);
    reply::bulk(c.out, "pong");
    reply::bulk(c.out, c.args.size() == 2 ? std::string_view{c.args[1]} : std::string_view{});
  } else if (c.args.size() == 2) {
    reply::bulk(c.out, c.args[1]);
  } else {
    reply::simple(c.out, "PONG");
  }
}

void echo(call& c) { reply::bulk(c.out, c.args[1]); }

// --- Strings ------------------------------------------------------------

void get(call& c) {
  if (const auto* e = keys(c, c.args[1]).find(c.args[1])) {
    if (!wrong_type(c, *e, false)) {
      reply::bulk(c.out, e->value);
    }
  } else {
    reply::null_bulk(c.out);
  }
}

//! [set]
// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
void set(call& c) {
  enum : unsigned { nx = 1, xx = 2, get = 4, keepttl = 8, ex = 16, px = 32, exat = 64, pxat = 128 };
  constexpr unsigned any_expiry = ex | px | exat | pxat;
  unsigned flags = 0;
  const std::string* expire = nullptr;
  // Options first, as Redis's parseExtendedStringArgumentsOrReply reads
  // them: a syntax error wins over a bad number anywhere.
  for (std::size_t j = 3; j < c.args.size(); ++j) {
    const std::string& option = c.args[j];
    const bool has_next = j + 1 < c.args.size();
    const auto expiry = [&](unsigned flag) {
      if ((flags & keepttl) != 0 || (flags & any_expiry & ~flag) != 0 || !has_next) {
        return false;
      }
      flags |= flag;
      expire = &c.args[++j];
      return true;
    };
    bool ok = true;
    if (is(option, "nx") && (flags & xx) == 0) {
      flags |= nx;
    } else if (is(option, "xx") && (flags & nx) == 0) {
      flags |= xx;
    } else if (is(option, "get")) {
      flags |= get;
    } else if (is(option, "keepttl") && (flags & any_expiry) == 0) {
      flags |= keepttl;
    } else if (is(option, "ex")) {
      ok = expiry(ex);
    } else if (is(option, "px")) {
      ok = expiry(px);
    } else if (is(option, "exat")) {
      ok = expiry(exat);
    } else if (is(option, "pxat")) {
      ok = expiry(pxat);
    } else {
      ok = false;
    }
    if (!ok) {
      reply::error(c.out, reply::syntax_error);
      return;
    }
  }

  unix_ms expires_at = keyspace::never;
  if (expire != nullptr) {
    // Redis's getExpireMillisecondsOrReply: positive, and no overflow once
    // made milliseconds and (for EX, PX) added to now.
    long long when = 0;
    if (!integer_argument(c, *expire, when)) {
      return;
    }
    const bool seconds = (flags & (ex | exat)) != 0;
    if (when <= 0 || (seconds && when > llong_max / 1000)) {
      invalid_expire_time(c, "set");
      return;
    }
    if (seconds) {
      when *= 1000;
    }
    if ((flags & (ex | px)) != 0) {
      const unix_ms now = now_ms();
      if (when > llong_max - now) {
        invalid_expire_time(c, "set");
        return;
      }
      when += now;
    }
    expires_at = when;
  }

  const std::string& key = c.args[1];
  auto& space = keys(c, key);
  if ((flags & (nx | xx | get | keepttl)) == 0) {
    // The usual SET: one lookup, which adds the key if it is new.
    auto& e = space.find_or_add(key);
    e.value.assign(c.args[2]);  // Reuses the old value's memory when it is large enough.
    e.list.reset();             // SET replaces a value of any type.
    e.expires_at = expires_at;
    reply::simple(c.out, "OK");
    return;
  }
  auto* existing = space.find(key);
  if ((flags & get) != 0 && existing != nullptr && wrong_type(c, *existing, false)) {
    return;  // GET cannot reply with a list: nothing is set.
  }
  if ((flags & get) != 0) {  // The old value is the reply, whether or not SET goes on.
    existing != nullptr ? reply::bulk(c.out, existing->value) : reply::null_bulk(c.out);
  }
  if (((flags & nx) != 0 && existing != nullptr) || ((flags & xx) != 0 && existing == nullptr)) {
    if ((flags & get) == 0) {
      reply::null_bulk(c.out);
    }
    return;
  }
  auto& e = existing != nullptr ? *existing : space.find_or_add(key);
  e.value.assign(c.args[2]);
  e.list.reset();
  if ((flags & keepttl) == 0) {
    e.expires_at = expires_at;
  }
  if ((flags & get) == 0) {
    reply::simple(c.out, "OK");
  }
}
//! [set]

void mset(call& c) {
  if (c.args.size() % 2 == 0) {  // A key without its value.
    reply::error(c.out, "ERR wrong number of arguments for 'mset' command");
    return;
  }
  for (std::size_t j = 1; j < c.args.size(); j += 2) {
    auto& e = keys(c, c.args[j]).find_or_add(c.args[j]);
    e.value.assign(c.args[j + 1]);
    e.list.reset();
    e.expires_at = keyspace::never;  // As SET without KEEPTTL.
  }
  reply::simple(c.out, "OK");
}

void mget(call& c) {
  reply::array(c.out, c.args.size() - 1);
  for (std::size_t j = 1; j < c.args.size(); ++j) {
    // A list is not an error here: MGET says nil for it, as for no key.
    if (const auto* e = keys(c, c.args[j]).find(c.args[j]); e != nullptr && !e->is_list()) {
      reply::bulk(c.out, e->value);
    } else {
      reply::null_bulk(c.out);
    }
  }
}

// INCR, DECR, INCRBY, DECRBY: Redis's incrDecrCommand.
void add_to(call& c, long long increment) {
  auto* e = keys(c, c.args[1]).find(c.args[1]);
  long long value = 0;
  if (e != nullptr && (wrong_type(c, *e, false) || !integer_argument(c, e->value, value))) {
    return;
  }
  if ((increment < 0 && value < 0 && increment < llong_min - value) ||
      (increment > 0 && value > 0 && increment > llong_max - value)) {
    reply::error(c.out, "ERR increment or decrement would overflow");
    return;
  }
  value += increment;
  if (e == nullptr) {
    e = &keys(c, c.args[1]).find_or_add(c.args[1]);
  }
  // The value stays a string, as every value here is; its expiry stays too.
  // (Redis keeps small integers as integers, a memory saving we skip.)
  e->value.clear();
  reply::digits(e->value, value);
  reply::integer(c.out, value);
}

void incr(call& c) { add_to(c, 1); }
void decr(call& c) { add_to(c, -1); }

void incrby(call& c) {
  long long increment = 0;
  if (integer_argument(c, c.args[2], increment)) {
    add_to(c, increment);
  }
}

void decrby(call& c) {
  long long decrement = 0;
  if (!integer_argument(c, c.args[2], decrement)) {
    return;
  }
  if (decrement == llong_min) {  // Its negation does not fit.
    reply::error(c.out, "ERR decrement would overflow");
    return;
  }
  add_to(c, -decrement);
}

// --- Lists --------------------------------------------------------------

// LPUSH and RPUSH: Redis's pushGenericCommand. The elements go in one at a
// time, so LPUSH l a b c leaves c first.
void push(call& c, bool front) {
  auto& space = keys(c, c.args[1]);
  auto* e = space.find(c.args[1]);
  if (e != nullptr && wrong_type(c, *e, true)) {
    return;
  }
  if (e == nullptr) {
    e = &space.find_or_add(c.args[1]);
    e->list = std::make_unique<std::deque<std::string>>();
  }
  for (std::size_t j = 2; j < c.args.size(); ++j) {
    front ? e->list->push_front(c.args[j]) : e->list->push_back(c.args[j]);
  }
  reply::integer(c.out, static_cast<long long>(e->list->size()));
}

void lpush(call& c) { push(c, true); }
void rpush(call& c) { push(c, false); }

// LPOP and RPOP key [count]: Redis's popGenericCommand. Without a count,
// one element or nil; with one, an array, or a nil array for no key. A
// list left empty is deleted, as Redis never keeps an empty list.
void pop(call& c, bool front, std::string_view command) {
  if (c.args.size() > 3) {
    reply::error(c.out, "ERR wrong number of arguments for '" + std::string{command} + "' command");
    return;
  }
  const bool counted = c.args.size() == 3;
  long long count = 1;
  if (counted && (!parse_integer(c.args[2], count) || count < 0)) {
    reply::error(c.out, "ERR value is out of range, must be positive");
    return;
  }
  auto& space = keys(c, c.args[1]);
  auto* e = space.find(c.args[1]);
  if (e == nullptr) {
    counted ? reply::null_array(c.out) : reply::null_bulk(c.out);
    return;
  }
  if (wrong_type(c, *e, true)) {
    return;
  }
  auto& list = *e->list;
  const auto taken = static_cast<std::size_t>(
      std::min(count, static_cast<long long>(list.size())));
  if (counted) {
    reply::array(c.out, taken);
  }
  for (std::size_t i = 0; i < taken; ++i) {
    reply::bulk(c.out, front ? list.front() : list.back());
    front ? list.pop_front() : list.pop_back();
  }
  if (list.empty()) {
    space.erase(c.args[1]);
  }
}

void lpop(call& c) { pop(c, true, "lpop"); }
void rpop(call& c) { pop(c, false, "rpop"); }

void llen(call& c) {
  const auto* e = keys(c, c.args[1]).find(c.args[1]);
  if (e == nullptr) {
    reply::integer(c.out, 0);
  } else if (!wrong_type(c, *e, true)) {
    reply::integer(c.out, static_cast<long long>(e->list->size()));
  }
}

// LRANGE key start stop: indexes from 0, negative ones from the end (-1 is
// the last), both ends included, clamped to the list, as Redis's
// addListRangeReply does. The numbers are checked before the key.
void lrange(call& c) {
  long long start = 0;
  long long stop = 0;
  if (!integer_argument(c, c.args[2], start) || !integer_argument(c, c.args[3], stop)) {
    return;
  }
  const auto* e = keys(c, c.args[1]).find(c.args[1]);
  if (e == nullptr) {
    reply::array(c.out, 0);
    return;
  }
  if (wrong_type(c, *e, true)) {
    return;
  }
  const auto& list = *e->list;
  const auto length = static_cast<long long>(list.size());
  start = start < 0 ? std::max(0LL, start + length) : start;
  stop = stop < 0 ? stop + length : std::min(stop, length - 1);
  if (start > stop || start >= length) {
    reply::array(c.out, 0);
    return;
  }
  reply::array(c.out, static_cast<std::size_t>(stop - start + 1));
  for (auto i = start; i <= stop; ++i) {
    reply::bulk(c.out, list[static_cast<std::size_t>(i)]);
  }
}

// --- Keys ---------------------------------------------------------------

void type(call& c) {
  const auto* e = keys(c, c.args[1]).find(c.args[1]);
  reply::simple(c.out, e == nullptr ? "none" : e->is_list() ? "list" : "string");
}

void del(call& c) {
  long long erased = 0;
  for (std::size_t j = 1; j < c.args.size(); ++j) {
    erased += keys(c, c.args[j]).erase(c.args[j]) ? 1 : 0;
  }
  reply::integer(c.out, erased);
}

void exists(call& c) {
  long long found = 0;  // A key named twice counts twice, as in Redis.
  for (std::size_t j = 1; j < c.args.size(); ++j) {
    found += keys(c, c.args[j]).find(c.args[j]) != nullptr ? 1 : 0;
  }
  reply::integer(c.out, found);
}

// EXPIRE and PEXPIRE: Redis's expireGenericCommand, with its options.
void expire_in(call& c, bool seconds, std::string_view command) {
  enum : unsigned { nx = 1, xx = 2, gt = 4, lt = 8 };
  unsigned flags = 0;
  for (std::size_t j = 3; j < c.args.size(); ++j) {
    const std::string& option = c.args[j];
    if (is(option, "nx")) {
      flags |= nx;
    } else if (is(option, "xx")) {
      flags |= xx;
    } else if (is(option, "gt")) {
      flags |= gt;
    } else if (is(option, "lt")) {
      flags |= lt;
    } else {
      std::string& out = c.out;
      out += "-ERR Unsupported option ";
      out += option;
      out += "\r\n";
      return;
    }
  }
  if ((flags & nx) != 0 && (flags & (xx | gt | lt)) != 0) {
    reply::error(c.out, "ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if ((flags & gt) != 0 && (flags & lt) != 0) {
    reply::error(c.out, "ERR GT and LT options at the same time are not compatible");
    return;
  }
  long long when = 0;
  if (!integer_argument(c, c.args[2], when)) {
    return;
  }
  // A negative time is allowed (the key expires at once); an overflow not.
  if (seconds && (when > llong_max / 1000 || when < llong_min / 1000)) {
    invalid_expire_time(c, command);
    return;
  }
  if (seconds) {
    when *= 1000;
  }
  const unix_ms now = now_ms();
  if (when > llong_max - now) {
    invalid_expire_time(c, command);
    return;
  }
  when += now;

  auto* e = keys(c, c.args[1]).find(c.args[1]);
  if (e == nullptr) {
    reply::integer(c.out, 0);
    return;
  }
  // No expiry counts as an infinite one for GT and LT.
  const bool has_expiry = e->expires_at != keyspace::never;
  if (((flags & nx) != 0 && has_expiry) || ((flags & xx) != 0 && !has_expiry) ||
      ((flags & gt) != 0 && (!has_expiry || when <= e->expires_at)) ||
      ((flags & lt) != 0 && has_expiry && when >= e->expires_at)) {
    reply::integer(c.out, 0);
    return;
  }
  if (when <= now) {
    keys(c, c.args[1]).erase(c.args[1]);  // Already in the past: gone now, not at the next look.
  } else {
    e->expires_at = when;
  }
  reply::integer(c.out, 1);
}

void expire(call& c) { expire_in(c, true, "expire"); }
void pexpire(call& c) { expire_in(c, false, "pexpire"); }

// Counts keys not yet erased, expired or not, as Redis's DBSIZE does: it
// shows the active sweep at work (the count falls with nobody asking).
// With shards, the sum of theirs (each one's lock held: see execute()).
void dbsize(call& c) {
  std::size_t count = 0;
  if (c.owner != nullptr) {
    count = c.owner->keys.size();
  } else {
    for (std::size_t i = 0; i < c.server.shards.size(); ++i) {
      count += c.server.shards[i].keys.size();
    }
  }
  reply::integer(c.out, static_cast<long long>(count));
}

void time_to_live(call& c, bool milliseconds) {
  const auto* e = keys(c, c.args[1]).find(c.args[1]);
  if (e == nullptr) {
    reply::integer(c.out, -2);
  } else if (e->expires_at == keyspace::never) {
    reply::integer(c.out, -1);
  } else {
    const long long left = std::max<long long>(0, e->expires_at - now_ms());
    reply::integer(c.out, milliseconds ? left : (left + 500) / 1000);  // Rounded, as Redis does.
  }
}

void ttl(call& c) { time_to_live(c, false); }
void pttl(call& c) { time_to_live(c, true); }

// --- Publish/subscribe --------------------------------------------------

void subscription_reply(call& c, std::string_view kind, const std::string* channel) {
  reply::array(c.out, 3);
  reply::bulk(c.out, kind);
  channel != nullptr ? reply::bulk(c.out, *channel) : reply::null_bulk(c.out);
  reply::integer(c.out, static_cast<long long>(c.client->channels.size()));
}

void subscribe(call& c) {
  for (std::size_t j = 1; j < c.args.size(); ++j) {
    if (c.server.channels.subscribe(c.client->self, c.args[j])) {
      c.client->channels.push_back(c.args[j]);
    }
    subscription_reply(c, "subscribe", &c.args[j]);
  }
}

void unsubscribe_one(call& c, const std::string& channel) {
  c.server.channels.unsubscribe(c.client->self, channel);
  auto& mine = c.client->channels;
  if (const auto at = std::ranges::find(mine, channel); at != mine.end()) {
    mine.erase(at);
  }
}

void unsubscribe(call& c) {
  if (c.args.size() > 1) {
    for (std::size_t j = 1; j < c.args.size(); ++j) {
      unsubscribe_one(c, c.args[j]);
      subscription_reply(c, "unsubscribe", &c.args[j]);
    }
  } else if (c.client->channels.empty()) {
    subscription_reply(c, "unsubscribe", nullptr);
  } else {
    while (!c.client->channels.empty()) {  // Every channel, each with its reply.
      const std::string channel = c.client->channels.front();
      unsubscribe_one(c, channel);
      subscription_reply(c, "unsubscribe", &channel);
    }
  }
}

void publish(call& c) {
  reply::integer(c.out, static_cast<long long>(c.server.channels.publish(c.args[1], c.args[2])));
}

// --- What clients ask on connecting -------------------------------------

void unknown_subcommand(call& c, std::string_view container) {
  std::string& out = c.out;
  out += "-ERR unknown subcommand '";
  out += std::string_view{c.args[1]}.substr(0, 128);
  out += "'. Try ";
  out += container;
  out += " HELP.\r\n";
}

void subcommand_arity(call& c, std::string_view full_name) {
  std::string& out = c.out;
  out += "-ERR wrong number of arguments for '";
  out += full_name;
  out += "' command\r\n";
}

// COMMAND: redis-cli asks COMMAND DOCS for its interactive help, and falls
// back to its own help on an empty answer. We describe no commands (a real
// server lists each with its arity, flags and key positions); COMMAND COUNT
// is the one figure we give.
void command(call& c);

// CONFIG GET: redis-benchmark asks for "save" and "appendonly" to print
// them, and warns when CONFIG GET fails. Our answer is the truth: no
// persistence. Redis matches glob patterns; we match the name only.
void config(call& c) {
  if (!is(c.args[1], "get")) {
    unknown_subcommand(c, "CONFIG");
    return;
  }
  if (c.args.size() < 3) {
    subcommand_arity(c, "config|get");
    return;
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 2> settings{
      {{"save", ""}, {"appendonly", "no"}}};
  std::size_t found = 0;
  for (std::size_t j = 2; j < c.args.size(); ++j) {
    for (const auto& [name, value] : settings) {
      found += is(c.args[j], name) ? 1U : 0U;
    }
  }
  reply::array(c.out, 2 * found);
  for (std::size_t j = 2; j < c.args.size(); ++j) {
    for (const auto& [name, value] : settings) {
      if (is(c.args[j], name)) {
        reply::bulk(c.out, name);
        reply::bulk(c.out, value);
      }
    }
  }
}

void client(call& c) {
  const std::string& sub = c.args[1];
  if (is(sub, "setname")) {
    if (c.args.size() != 3) {
      subcommand_arity(c, "client|setname");
      return;
    }
    const std::string& name = c.args[2];
    if (std::ranges::any_of(name, [](char ch) { return ch < '!' || ch > '~'; })) {
      reply::error(c.out, "ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    c.client->name = name;
    reply::simple(c.out, "OK");
  } else if (is(sub, "getname")) {
    if (c.args.size() != 2) {
      subcommand_arity(c, "client|getname");
      return;
    }
    c.client->name.empty() ? reply::null_bulk(c.out) : reply::bulk(c.out, c.client->name);
  } else if (is(sub, "id")) {
    if (c.args.size() != 2) {
      subcommand_arity(c, "client|id");
      return;
    }
    reply::integer(c.out, c.client->id);
  } else {
    unknown_subcommand(c, "CLIENT");
  }
}

// HELLO [2 [SETNAME name]]: RESP2 only. RESP3 (HELLO 3) changes every
// reply's shape; a client asking for it is told no, and redis-py and
// redis-cli then go on in RESP2. Redis itself speaks both.
void hello(call& c) {
  if (c.args.size() >= 2) {
    long long version = 0;
    if (!parse_integer(c.args[1], version)) {
      reply::error(c.out, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (version != 2) {
      reply::error(c.out, "NOPROTO unsupported protocol version");
      return;
    }
    for (std::size_t j = 2; j < c.args.size(); ++j) {
      if (is(c.args[j], "setname") && j + 1 < c.args.size()) {
        c.client->name = c.args[++j];
      } else {
        std::string& out = c.out;
        out += "-ERR Syntax error in HELLO option '";
        out += c.args[j];
        out += "'\r\n";
        return;
      }
    }
  }
  reply::array(c.out, 14);
  reply::bulk(c.out, "server");
  reply::bulk(c.out, "redis");
  reply::bulk(c.out, "version");
  reply::bulk(c.out, "7.0.15");  // The Redis whose replies we copy.
  reply::bulk(c.out, "proto");
  reply::integer(c.out, 2);
  reply::bulk(c.out, "id");
  reply::integer(c.out, c.client->id);
  reply::bulk(c.out, "mode");
  reply::bulk(c.out, "standalone");
  reply::bulk(c.out, "role");
  reply::bulk(c.out, "master");
  reply::bulk(c.out, "modules");
  reply::array(c.out, 0);
}

//! [table]
// A command: its name in lower case, its arity as Redis counts it (the
// name included; negative: at least that many), where its keys are (as
// Redis's firstkey and step: 0, none; step 0, one key), and whether a
// subscribed connection may send it.
struct command_spec {
  std::string_view name;
  int arity;
  void (*run)(call&);
  std::size_t first_key = 0;
  std::size_t key_step = 0;
  bool while_subscribed = false;
};

constexpr std::size_t no_keys = 0;

// The busiest first: the lookup walks the table in order, and a walk of a
// few entries that compares lengths first costs less than hashing the name.
constexpr std::array commands{
    command_spec{"get", 2, get, 1},
    command_spec{"set", -3, set, 1},
    command_spec{"ping", -1, ping, no_keys, 0, true},
    command_spec{"incr", 2, incr, 1},
    command_spec{"mget", -2, mget, 1, 1},
    command_spec{"mset", -3, mset, 1, 2},
    command_spec{"del", -2, del, 1, 1},
    command_spec{"exists", -2, exists, 1, 1},
    command_spec{"decr", 2, decr, 1},
    command_spec{"incrby", 3, incrby, 1},
    command_spec{"decrby", 3, decrby, 1},
    command_spec{"expire", -3, expire, 1},
    command_spec{"pexpire", -3, pexpire, 1},
    command_spec{"ttl", 2, ttl, 1},
    command_spec{"pttl", 2, pttl, 1},
    command_spec{"echo", 2, echo},
    command_spec{"lpush", -3, lpush, 1},
    command_spec{"rpush", -3, rpush, 1},
    command_spec{"lpop", -2, lpop, 1},
    command_spec{"rpop", -2, rpop, 1},
    command_spec{"llen", 2, llen, 1},
    command_spec{"lrange", 4, lrange, 1},
    command_spec{"type", 2, type, 1},
    command_spec{"dbsize", 1, dbsize},  // Every shard: see keys_of().
    command_spec{"publish", 3, publish},
    command_spec{"subscribe", -2, subscribe, no_keys, 0, true},
    command_spec{"unsubscribe", -1, unsubscribe, no_keys, 0, true},
    command_spec{"config", -2, config},
    command_spec{"client", -2, client},
    command_spec{"hello", -1, hello},
    command_spec{"command", -1, command},
};
//! [table]

void command(call& c) {
  if (c.args.size() >= 2 && is(c.args[1], "count")) {
    reply::integer(c.out, static_cast<long long>(commands.size()) + 1);  // QUIT is not in the table.
  } else {
    reply::array(c.out, 0);
  }
}

const command_spec* find_command(std::string_view name) {
  for (const auto& spec : commands) {
    if (is(name, spec.name)) {
      return &spec;
    }
  }
  return nullptr;
}

// "ERR unknown command 'foo', with args beginning with: 'a' 'b' ": the
// arguments quoted one by one until the list passes 128 bytes, as Redis
// writes it (each cut to what is left of the 128).
void unknown_command(std::span<const std::string> args, std::string& out) {
  const std::size_t begin = out.size();
  out += "-ERR unknown command '";
  out += std::string_view{args[0]}.substr(0, 128);
  out += "', with args beginning with: ";
  const std::size_t start = out.size();
  for (std::size_t j = 1; j < args.size() && out.size() - start < 128; ++j) {
    const std::size_t room = 128 - (out.size() - start);
    out += '\'';
    out += std::string_view{args[j]}.substr(0, room);
    out += "' ";
  }
  for (std::size_t i = begin; i < out.size(); ++i) {  // One line, whatever the arguments hold.
    if (out[i] == '\r' || out[i] == '\n') {
      out[i] = ' ';
    }
  }
  out += "\r\n";
}

//! [execute]
// The command `arguments` names, if `client` may run it now; else its
// error is appended to `out` and nullptr returned.
const command_spec* checked_command(const client_state& client,
                                    std::span<const std::string> arguments, std::string& out) {
  const std::string& name = arguments[0];
  const command_spec* spec = find_command(name);
  if (spec == nullptr) {
    unknown_command(arguments, out);
    return nullptr;
  }
  const auto count = static_cast<long long>(arguments.size());
  if ((spec->arity > 0 && count != spec->arity) || count < -spec->arity) {
    out += "-ERR wrong number of arguments for '";
    out += spec->name;
    out += "' command\r\n";
    return nullptr;
  }
  if (!client.channels.empty() && !spec->while_subscribed) {
    out += "-ERR Can't execute '";
    out += spec->name;
    out += "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
           "context\r\n";
    return nullptr;
  }
  return spec;
}

// The locked design: runs `c` holding the lock of every shard its keys
// live in. Always in increasing shard order: were one MSET to take shard 3
// then 5 while another took 5 then 3, each could hold one and wait for the
// other for ever (a deadlock). With one order for all, whoever holds the
// lowest goes on. So MSET stays atomic, as in Redis: no other thread sees
// half of it. DBSIZE takes every shard's lock, for a count of one moment.
void run_locked(const command_spec& spec, call& c) {
  auto& shards = c.server.shards;
  const bool every_shard = spec.run == dbsize;
  if (spec.first_key == no_keys && !every_shard) {
    spec.run(c);  // No keys, no shard to lock.
    return;
  }
  if (spec.key_step == 0 && !every_shard) {  // One key, one lock: the usual case.
    const std::scoped_lock hold{shards.of(c.args[spec.first_key]).lock};
    spec.run(c);
    return;
  }
  // thread_local: a thread's scratch list keeps its memory between
  // commands; no other thread ever sees it.
  thread_local std::vector<std::size_t> needed;
  needed.clear();
  if (every_shard) {
    for (std::size_t i = 0; i < shards.size(); ++i) {
      needed.push_back(i);
    }
  } else {
    for (std::size_t j = spec.first_key; j < c.args.size(); j += spec.key_step) {
      needed.push_back(shard_index(c.args[j], shards.size()));
    }
    std::ranges::sort(needed);
    needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
  }
  for (const std::size_t i : needed) {
    shards[i].lock.lock();
  }
  try {
    spec.run(c);
  } catch (...) {  // std::bad_alloc: never leave a shard locked.
    for (const std::size_t i : needed) {
      shards[i].lock.unlock();
    }
    throw;
  }
  for (const std::size_t i : needed) {
    shards[i].lock.unlock();
  }
}

}  // namespace

void execute(server_state& server, client_state& client, std::span<const std::string> arguments,
             std::string& out) {
  // QUIT comes first, with any arguments, as in Redis 7.0's processCommand.
  if (is(arguments[0], "quit")) {
    reply::simple(out, "OK");
    client.quit = true;
    return;
  }
  const command_spec* spec = checked_command(client, arguments, out);
  if (spec == nullptr) {
    return;
  }
  call c{server, &client, arguments, out};
  if (server.locking) {
    run_locked(*spec, c);
  } else {
    spec->run(c);  // One loop, or the owned design: no lock.
  }
}

void execute_forwarded(server_state& server, shard& owner, std::span<const std::string> arguments,
                       std::string& out) {
  // The sender checked the command (keys_of()); only its keys moved here.
  const command_spec* spec = find_command(arguments[0]);
  call c{server, nullptr, arguments, out, &owner};
  spec->run(c);
}

key_layout keys_of(std::span<const std::string> arguments, const client_state& client) {
  std::string ignored;  // The error, given later where the request runs.
  const command_spec* spec = is(arguments[0], "quit")
                                 ? nullptr
                                 : checked_command(client, arguments, ignored);
  if (spec == nullptr) {
    return {};
  }
  if (spec->run == dbsize) {
    return {.first = 0, .every_shard = true};
  }
  // MSET with a key and no value fails before it looks at a key.
  if (spec->first_key == no_keys || (spec->run == mset && arguments.size() % 2 == 0)) {
    return {};
  }
  return {.first = spec->first_key,
          .step = spec->key_step == 0 ? 1 : spec->key_step,
          .one = spec->key_step == 0};
}
//! [execute]

void forget_subscriptions(server_state& server, client_state& client) {
  for (const auto& channel : client.channels) {
    server.channels.unsubscribe(client.self, channel);
  }
  client.channels.clear();
}

}  // namespace ch13
