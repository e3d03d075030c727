/// \file
/// \brief Chapter 13's reply writers: RESP2 replies appended to a string.
///
/// Every reply of a batch goes to the end of one string, the connection's
/// output, which leaves in one write once the batch is done. Appending to a
/// string whose memory was kept from the last batch allocates nothing: the
/// writers format numbers on the stack (std::to_chars), never through
/// std::to_string or a stream.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace ch13::reply {

/// `+OK\r\n`: a short status that never contains "\r\n".
inline void simple(std::string& out, std::string_view text) {
  out += '+';
  out += text;
  out += "\r\n";
}

/// `-ERR syntax error\r\n`: `text` is the whole message, its first word the
/// kind (ERR, WRONGTYPE, NOPROTO) as clients read it. Redis turns any "\r"
/// or "\n" in it into spaces, so that an error stays one line whatever a
/// client's arguments held; so do we.
inline void error(std::string& out, std::string_view text) {
  out += '-';
  const std::size_t start = out.size();
  out += text;
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') {
      out[i] = ' ';
    }
  }
  out += "\r\n";
}

/// Appends a number's decimal digits.
inline void digits(std::string& out, long long value) {
  char text[24];
  const auto [end, ignored] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

/// `:42\r\n`
inline void integer(std::string& out, long long value) {
  out += ':';
  digits(out, value);
  out += "\r\n";
}

/// `$5\r\nhello\r\n`: any bytes, the length first.
inline void bulk(std::string& out, std::string_view value) {
  out += '$';
  digits(out, static_cast<long long>(value.size()));
  out += "\r\n";
  out += value;
  out += "\r\n";
}

/// `$-1\r\n`: RESP2's "no value" (GET of a missing key).
inline void null_bulk(std::string& out) { out += "$-1\r\n"; }

/// RESP2's nil array, `*-1`: what LPOP with a count says for no key.
inline void null_array(std::string& out) { out += "*-1\r\n"; }

/// `*3\r\n`: an array of `count` replies, which the caller appends next.
inline void array(std::string& out, std::size_t count) {
  out += '*';
  digits(out, static_cast<long long>(count));
  out += "\r\n";
}

/// An argument that should be a 64-bit integer is not (INCRBY, EXPIRE, SET's EX...).
inline constexpr std::string_view not_an_integer = "ERR value is not an integer or out of range";
/// Options that do not go together, or an unknown one (SET a 1 NX XX).
inline constexpr std::string_view syntax_error = "ERR syntax error";
/// A string command on a list, or a list command on a string.
inline constexpr std::string_view wrong_type =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

}  // namespace ch13::reply
