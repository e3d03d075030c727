/// \file
/// \brief The RESP request parser (resp.hpp): Redis's networking.c
/// (processMultibulkBuffer, processInlineBuffer) retold as a state machine.
#include "resp.hpp"

#include <charconv>
#include <system_error>
#include <utility>

namespace ch13 {
namespace {

constexpr auto npos = std::string_view::npos;

// C's isspace() in the "C" locale, which sdssplitargs uses between arguments.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The next argument's string, cleared: a string left from an earlier
// request keeps its memory.
std::string& next_argument(std::vector<std::string>& arguments, std::size_t& used) {
  if (used == arguments.size()) {
    arguments.emplace_back();
  }
  std::string& argument = arguments[used++];
  argument.clear();
  return argument;
}

}  // namespace

std::size_t request_parser::line_length(std::string_view input, std::size_t from) {
  // Like Redis: find the '\r', and trust the byte after it to be the '\n'
  // (it is skipped unread). Until that byte has arrived, the line is not whole.
  const std::size_t cr = input.find('\r', from);
  if (cr == npos || cr + 1 >= input.size()) {
    return npos;
  }
  return cr - from;
}

request_parser::outcome request_parser::fail(std::string message, std::size_t consumed) {
  state_ = state::failed;
  error_ = std::move(message);
  arguments_used_ = 0;
  return {status::error, consumed};
}

std::size_t request_parser::bytes_wanted() const noexcept {
  return state_ == state::bulk_body ? bulk_length_ + 2 : 0;
}

//! [parse]
request_parser::outcome request_parser::parse(std::string_view input) {
  std::size_t at = 0;  // Bytes of `input` used so far.
  for (;;) {
    switch (state_) {
      case state::start:
        // A new request: '*' starts an array of bulk strings (what every
        // client library sends); anything else is an inline command (what a
        // person types into telnet).
        arguments_used_ = 0;
        if (at == input.size()) {
          return {status::need_more, at};
        }
        state_ = input[at] == '*' ? state::array_header : state::inline_line;
        break;

      case state::array_header: {  // "*3\r\n"
        const std::size_t length = line_length(input, at);
        if (length == npos) {
          if (input.size() - at > limits_.max_inline) {
            return fail("Protocol error: too big mbulk count string", at);
          }
          return {status::need_more, at};
        }
        long long count = 0;
        if (!parse_integer(input.substr(at + 1, length - 1), count) ||
            count > static_cast<long long>(limits_.max_arguments)) {
          return fail("Protocol error: invalid multibulk length", at);
        }
        at += length + 2;
        if (count <= 0) {  // "*0" and "*-1": nothing to run; Redis skips them too.
          state_ = state::start;
          break;
        }
        arguments_left_ = static_cast<std::size_t>(count);
        state_ = state::bulk_header;
        break;
      }

      case state::bulk_header: {  // "$5\r\n"
        if (at == input.size()) {
          return {status::need_more, at};
        }
        if (input[at] != '$') {
          return fail(std::string("Protocol error: expected '$', got '") + input[at] + "'", at);
        }
        const std::size_t length = line_length(input, at);
        if (length == npos) {
          if (input.size() - at > limits_.max_inline) {
            return fail("Protocol error: too big bulk count string", at);
          }
          return {status::need_more, at};
        }
        long long size = 0;
        if (!parse_integer(input.substr(at + 1, length - 1), size) || size < 0 ||
            size > static_cast<long long>(limits_.max_bulk)) {
          return fail("Protocol error: invalid bulk length", at);
        }
        at += length + 2;
        bulk_length_ = static_cast<std::size_t>(size);
        state_ = state::bulk_body;
        break;
      }

      case state::bulk_body: {  // "hello\r\n"
        // All of it or nothing: the length is known, so the parser waits
        // for the whole argument rather than copying it piece by piece.
        if (input.size() - at < bulk_length_ + 2) {
          return {status::need_more, at};
        }
        next_argument(arguments_, arguments_used_).assign(input.substr(at, bulk_length_));
        at += bulk_length_ + 2;  // The "\r\n" after it, skipped unread as Redis does.
        if (--arguments_left_ > 0) {
          state_ = state::bulk_header;
          break;
        }
        state_ = state::start;
        return {status::request, at};
      }

      case state::inline_line: {  // "SET a 1\r\n", or "SET a 1\n" from nc
        const std::size_t newline = input.find('\n', at);
        if (newline == npos) {
          if (input.size() - at > limits_.max_inline) {
            return fail("Protocol error: too big inline request", at);
          }
          return {status::need_more, at};
        }
        std::string_view line = input.substr(at, newline - at);
        if (!line.empty() && line.back() == '\r') {
          line.remove_suffix(1);
        }
        std::size_t count = 0;
        if (!split_inline(line, arguments_, count)) {
          return fail("Protocol error: unbalanced quotes in request", at);
        }
        at = newline + 1;
        state_ = state::start;
        if (count == 0) {  // A blank line (telnet's Enter): nothing to run.
          break;
        }
        arguments_used_ = count;
        return {status::request, at};
      }

      case state::failed:
        return {status::error, at};
    }
  }
}
//! [parse]

bool split_inline(std::string_view line, std::vector<std::string>& out, std::size_t& count) {
  // Redis splits a C string: an embedded NUL ends it.
  line = line.substr(0, line.find('\0'));
  // The byte at i, or NUL past the end, as sdssplitargs reads it.
  const auto at = [line](std::size_t i) { return i < line.size() ? line[i] : '\0'; };
  count = 0;
  std::size_t p = 0;
  for (;;) {
    while (p < line.size() && is_space(line[p])) {
      ++p;
    }
    if (p == line.size()) {
      return true;
    }
    std::string& argument = next_argument(out, count);
    bool in_double = false;
    bool in_single = false;
    for (bool done = false; !done;) {
      const char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && hex_value(at(p + 2)) >= 0 && hex_value(at(p + 3)) >= 0) {
          argument += static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          ++p;
          switch (at(p)) {
            case 'n': argument += '\n'; break;
            case 'r': argument += '\r'; break;
            case 't': argument += '\t'; break;
            case 'b': argument += '\b'; break;
            case 'a': argument += '\a'; break;
            default: argument += at(p); break;
          }
        } else if (c == '"') {
          // The closing quote must end the argument: "a"b is an error.
          if (at(p + 1) != '\0' && !is_space(at(p + 1))) {
            return false;
          }
          done = true;
        } else if (c == '\0') {
          return false;  // The line ended inside the quotes.
        } else {
          argument += c;
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          argument += '\'';
        } else if (c == '\'') {
          if (at(p + 1) != '\0' && !is_space(at(p + 1))) {
            return false;
          }
          done = true;
        } else if (c == '\0') {
          return false;
        } else {
          argument += c;
        }
      } else {
        switch (c) {
          case ' ': case '\n': case '\r': case '\t': case '\0': done = true; break;
          case '"': in_double = true; break;
          case '\'': in_single = true; break;
          default: argument += c; break;
        }
      }
      if (p < line.size()) {
        ++p;
      }
    }
  }
}

bool parse_integer(std::string_view text, long long& value) {
  if (text.empty() || text.size() > 20) {
    return false;
  }
  const std::size_t digits = text[0] == '-' ? 1 : 0;
  if (digits == text.size() || (text[digits] == '0' && text.size() > 1)) {
    return false;
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc{} && end == text.data() + text.size();
}

}  // namespace ch13
