// libFuzzer target: chapter 13's RESP request parser, fed arbitrary bytes
// split at arbitrary points.
//
// The parser promises that how the bytes arrive does not matter: the same
// bytes give the same requests and the same error, whether they come at
// once or a few at a time, and it never uses more bytes than it was given.
// Each input is read as:
//
//   byte 0      the size of each piece: 1 to 16 bytes
//   byte 1      small limits (bit 0): max 8 arguments, 64-byte bulk strings,
//               32-byte lines, so the limits are reached often
//   then        the bytes of the connection
//
// The connection is parsed twice, whole and in pieces, and the two results
// compared. Any difference, overrun or crash aborts, and libFuzzer saves
// the input.
//
// Build and run: ./scripts/sandbox.sh fuzz (clang, Debian's libclang-rt-14-dev).
#include "resp.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct result {
  std::vector<std::vector<std::string>> requests;
  std::string error;
  std::size_t unused = 0;  // Bytes kept for a request still incomplete.
};

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "resp_parser_fuzz: %s\n", what);
    std::abort();
  }
}

result parse(std::string_view bytes, std::size_t piece, const ch13::parser_limits& limits) {
  ch13::request_parser parser(limits);
  result out;
  std::string buffer;
  std::size_t fed = 0;
  for (;;) {
    const std::size_t n = std::min(piece, bytes.size() - fed);
    buffer.append(bytes.substr(fed, n));
    fed += n;
    for (;;) {
      const auto [what, used] = parser.parse(buffer);
      check(used <= buffer.size(), "used more bytes than it was given");
      buffer.erase(0, used);
      if (what == ch13::request_parser::status::request) {
        check(!parser.arguments().empty(), "a request without arguments");
        out.requests.emplace_back(parser.arguments().begin(), parser.arguments().end());
        continue;
      }
      if (what == ch13::request_parser::status::error) {
        check(!parser.error().empty(), "an error without words");
        out.error = parser.error();
        return out;
      }
      // need_more must mean it: with nothing new, the parser must not change its mind.
      const auto [again, none] = parser.parse(buffer);
      check(again == ch13::request_parser::status::need_more && none == 0,
            "need_more, then something else with no new byte");
      break;
    }
    if (fed == bytes.size()) {
      out.unused = buffer.size();
      return out;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::size_t piece = 1 + data[0] % 16;
  ch13::parser_limits limits;
  if (data[1] & 1) {
    limits.max_arguments = 8;
    limits.max_bulk = 64;
    limits.max_inline = 32;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);

  const result whole = parse(bytes, bytes.size() + 1, limits);
  const result pieces = parse(bytes, piece, limits);
  if (pieces.error.empty()) {
    check(whole.requests == pieces.requests, "different requests when split");
    check(whole.error.empty(), "an error when whole, none in pieces");
    check(whole.unused == pieces.unused, "different bytes left over when split");
    return 0;
  }
  // In pieces, a line still without its end can pass the limit before the
  // end arrives ("too big ..."), so that error may come earlier than when
  // whole, after fewer requests. Any other error is the same either way.
  const bool too_big = pieces.error.starts_with("Protocol error: too big");
  check(pieces.requests.size() <= whole.requests.size() &&
            std::equal(pieces.requests.begin(), pieces.requests.end(), whole.requests.begin()),
        "different requests when split");
  if (!too_big) {
    check(whole.requests.size() == pieces.requests.size(), "an error earlier when split");
    check(whole.error == pieces.error, "a different error when split");
  }
  return 0;
}
