/// \file
/// \brief Chapter 13's request parser: RESP2 arrays of bulk strings and
/// inline commands, read the way Redis reads them, a piece at a time.
///
/// Network-free on purpose, like the stream reader of common/: whatever reads
/// the socket hands it bytes, and it says "a request", "not yet" or "this is
/// not RESP". That keeps it testable byte by byte and fuzzable (fuzz/).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ch13 {

/// How much a request may ask the server to hold. The defaults are Redis's:
/// PROTO_INLINE_MAX_SIZE for a line without its end, proto-max-bulk-len for
/// one argument. The count of arguments Redis bounds only by INT_MAX; we
/// bound it at a million, which no real client needs (MSET of 500,000 keys).
struct parser_limits {
  /// Arguments in one request (`*N`); above it, "invalid multibulk length".
  std::size_t max_arguments = 1024 * 1024;
  /// Bytes of one argument (`$N`); above it, "invalid bulk length".
  std::size_t max_bulk = 512 * 1024 * 1024;
  /// Bytes of a line still without its end (an inline command, or a `*N` /
  /// `$N` header): a client that never sends the end cannot grow the buffer.
  std::size_t max_inline = 64 * 1024;
};

/// Turns the bytes of one connection into requests: each an array of
/// arguments (`SET`, `key`, `value`).
///
/// The parser keeps its place between calls. A read may end anywhere: in a
/// header, in the middle of an argument, between the two bytes of "\r\n".
/// The parser takes what it can use, says how much that was, and remembers
/// where it stands (how many arguments are still to come, how long the
/// next one is), so nothing is scanned twice however the bytes arrive.
///
///     request_parser parser;
///     auto [what, used] = parser.parse(buffer);   // buffer: bytes not yet used
///     buffer.erase(0, used);
///     if (what == request_parser::status::request) run(parser.arguments());
///
/// One parser per connection; not shared between threads.
class request_parser {
 public:
  /// What parse() found.
  enum class status {
    need_more,  ///< No whole request yet: call again with more bytes.
    request,    ///< A whole request: arguments() holds it.
    error,      ///< Not RESP: error() says why; reply with it and close.
  };

  /// A status, and how many bytes from the front of the input were used.
  struct outcome {
    status what;           ///< What the bytes used made of.
    std::size_t consumed;  ///< Bytes used: drop them before the next parse().
  };

  /// A parser waiting for the start of a request, with `limits`.
  explicit request_parser(parser_limits limits = {}) : limits_(limits) {}

  /// Reads from the front of `input` (the bytes the caller has not yet had
  /// used) until one request is whole, more bytes are needed, or the input
  /// is not RESP. The caller drops the `consumed` bytes either way; with
  /// need_more, it keeps the rest and calls again when more have arrived.
  /// After error, the parser stays in error: the connection is done.
  [[nodiscard]] outcome parse(std::string_view input);

  /// The request parse() last returned, valid until the next parse().
  /// Never empty: blank lines and `*0` are skipped, as Redis skips them.
  [[nodiscard]] std::span<const std::string> arguments() const noexcept {
    return {arguments_.data(), arguments_used_};
  }

  /// After status::error, Redis's words for it, without the "-ERR " of the
  /// reply: "Protocol error: invalid bulk length".
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  /// How many more bytes the request in progress needs at least, when that
  /// is known (inside an argument of known length), else 0. A reader uses it
  /// to read a large argument in one go rather than in small pieces.
  [[nodiscard]] std::size_t bytes_wanted() const noexcept;

 private:
  enum class state { start, array_header, bulk_header, bulk_body, inline_line, failed };

  outcome fail(std::string message, std::size_t consumed);
  // A line ending in "\r\n" that starts at `from`: its length without the
  // "\r\n", or npos when the end has not arrived yet.
  static std::size_t line_length(std::string_view input, std::size_t from);

  parser_limits limits_;
  state state_ = state::start;
  std::size_t arguments_left_ = 0;  // Bulk strings still to come in this request.
  std::size_t bulk_length_ = 0;     // Length of the bulk string being read.
  // arguments_[0, arguments_used_) is the request. The strings beyond are
  // kept, not freed: the next request reuses their memory (a pipeline of
  // 10,000 SETs allocates for the first, not for every one).
  std::vector<std::string> arguments_;
  std::size_t arguments_used_ = 0;
  std::string error_;
};

/// Splits an inline command into arguments as redis-cli and Redis do
/// (sdssplitargs): spaces separate; "double quotes" take the escapes
/// `\n \r \t \b \a \\ \"` and `\xHH`; 'single quotes' take `\'` only.
/// Returns false on unbalanced quotes, or a closing quote not followed by
/// a space. The arguments go to out[0, count), reusing the strings already
/// there.
bool split_inline(std::string_view line, std::vector<std::string>& out, std::size_t& count);

/// Reads a whole string as a 64-bit integer the way Redis's string2ll does,
/// for lengths here and for the numbers of commands (INCRBY's increment, a
/// value INCR adds to): an optional minus and digits, nothing else: no plus,
/// no spaces, no leading zero ("007" and "-0" are not integers), at most 20
/// characters, and within the range of `long long`.
bool parse_integer(std::string_view text, long long& value);

}  // namespace ch13
