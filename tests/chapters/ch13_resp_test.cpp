// Chapter 13's request parser, byte by byte: RESP arrays and inline
// commands, requests split at every possible point, pipelines, and each
// protocol error with the words Redis uses for it.
#include "resp.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using ch13::parser_limits;
using ch13::request_parser;
using status = request_parser::status;
using request = std::vector<std::string>;

// What a parser makes of `bytes` fed in pieces of `piece` bytes (a reader
// keeping unused bytes and appending new ones, as the server does): the
// requests, and the error text if the bytes end in one.
struct parsed {
  std::vector<request> requests;
  std::string error;
  std::string left;  // Bytes not used when the input ran out.
};

parsed parse_in_pieces(std::string_view bytes, std::size_t piece, parser_limits limits = {}) {
  request_parser parser(limits);
  parsed result;
  std::string buffer;
  for (std::size_t fed = 0; fed < bytes.size() || !buffer.empty();) {
    const std::size_t n = std::min(piece, bytes.size() - fed);
    buffer.append(bytes.substr(fed, n));
    fed += n;
    for (;;) {
      const auto [what, used] = parser.parse(buffer);
      buffer.erase(0, used);
      if (what == status::request) {
        result.requests.emplace_back(parser.arguments().begin(), parser.arguments().end());
        continue;
      }
      if (what == status::error) {
        result.error = parser.error();
        return result;
      }
      break;
    }
    if (n == 0) {
      break;  // All fed, and the parser wants more.
    }
  }
  result.left = buffer;
  return result;
}

parsed parse_all(std::string_view bytes, parser_limits limits = {}) {
  return parse_in_pieces(bytes, bytes.size() + 1, limits);
}

TEST(RespParser, ReadsAnArrayOfBulkStrings) {
  const auto result = parse_all("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n");
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0], (request{"SET", "a", "hello"}));
  EXPECT_EQ(result.left, "");
}

TEST(RespParser, BulkStringsMayHoldAnyByte) {
  const std::string value("a\r\n\0b", 5);
  const auto result = parse_all("*2\r\n$4\r\nECHO\r\n$5\r\n" + value + "\r\n");
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0][1], value);
}

TEST(RespParser, GivesTheSameRequestsHoweverTheBytesArrive) {
  const std::string pipeline =
      "*1\r\n$4\r\nPING\r\n"
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n"
      "GET key\r\n"
      "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n";
  const std::vector<request> expected = {
      {"PING"}, {"SET", "key", ""}, {"GET", "key"}, {"ECHO", "0123456789"}};
  for (std::size_t piece = 1; piece <= pipeline.size(); ++piece) {
    const auto result = parse_in_pieces(pipeline, piece);
    EXPECT_EQ(result.requests, expected) << "fed " << piece << " byte(s) at a time";
    EXPECT_EQ(result.error, "");
  }
}

TEST(RespParser, AnIncompleteRequestIsANormalStateNotAnError) {
  request_parser parser;
  // The header and the first argument are used; the parser remembers that
  // one more argument of 5 bytes is due, and says how many bytes it needs.
  const std::string first = "*2\r\n$4\r\nECHO\r\n$5\r\nhel";
  const auto [what, used] = parser.parse(first);
  EXPECT_EQ(what, status::need_more);
  EXPECT_EQ(used, first.size() - 3);
  EXPECT_EQ(parser.bytes_wanted(), 7u);
  const auto [then, rest] = parser.parse("hello\r\n");
  ASSERT_EQ(then, status::request);
  EXPECT_EQ(rest, 7u);
  EXPECT_EQ(request(parser.arguments().begin(), parser.arguments().end()),
            (request{"ECHO", "hello"}));
}

TEST(RespParser, InlineCommandsSplitAsRedisCliDoes) {
  const auto result = parse_all(
      "SET greeting \"hello world\"\r\n"
      "  ECHO   'it\\'s'  \n"
      "ECHO \"\\x41\\n\\t\\\"\"\r\n"
      "ECHO a\"b c\"\n");
  ASSERT_EQ(result.requests.size(), 4u) << result.error;
  EXPECT_EQ(result.requests[0], (request{"SET", "greeting", "hello world"}));
  EXPECT_EQ(result.requests[1], (request{"ECHO", "it's"}));
  EXPECT_EQ(result.requests[2], (request{"ECHO", "A\n\t\""}));
  EXPECT_EQ(result.requests[3], (request{"ECHO", "ab c"}));
}

TEST(RespParser, BlankLinesAndEmptyArraysAreSkipped) {
  const auto result = parse_all("\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n");
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0], (request{"PING"}));
}

TEST(RespParser, ARequestAfterALongOneReusesNoStaleArgument) {
  const auto result = parse_all("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n*1\r\n$1\r\nd\r\nE F\r\n");
  ASSERT_EQ(result.requests.size(), 3u);
  EXPECT_EQ(result.requests[1], (request{"d"}));
  EXPECT_EQ(result.requests[2], (request{"E", "F"}));
}

struct bad_input {
  const char* name;
  std::string bytes;
  std::string error;
};

class RespParserError : public ::testing::TestWithParam<bad_input> {};

TEST_P(RespParserError, SaysWhatRedisSaysAndStaysInError) {
  const auto& bad = GetParam();
  parser_limits limits;
  limits.max_arguments = 100;
  limits.max_bulk = 1000;
  limits.max_inline = 64;
  const auto result = parse_all("PING\r\n" + bad.bytes, limits);
  ASSERT_EQ(result.requests.size(), 1u) << "the request before the bad one is still served";
  EXPECT_EQ(result.error, bad.error);
}

INSTANTIATE_TEST_SUITE_P(
    RespParser, RespParserError,
    ::testing::Values(
        bad_input{"ArrayLengthNotANumber", "*x\r\n", "Protocol error: invalid multibulk length"},
        bad_input{"ArrayLengthWithPlus", "*+1\r\n", "Protocol error: invalid multibulk length"},
        bad_input{"ArrayLengthWithLeadingZero", "*01\r\n", "Protocol error: invalid multibulk length"},
        bad_input{"ArrayTooLong", "*101\r\n", "Protocol error: invalid multibulk length"},
        bad_input{"ArrayHeaderWithoutEnd", "*" + std::string(70, '1'),
                  "Protocol error: too big mbulk count string"},
        bad_input{"NotABulkString", "*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
        bad_input{"BulkLengthNegative", "*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        bad_input{"BulkTooLong", "*1\r\n$1001\r\n", "Protocol error: invalid bulk length"},
        bad_input{"BulkHeaderWithoutEnd", "*1\r\n$" + std::string(70, '1'),
                  "Protocol error: too big bulk count string"},
        bad_input{"InlineWithoutEnd", std::string(70, 'a'), "Protocol error: too big inline request"},
        bad_input{"UnbalancedQuotes", "ECHO \"abc\r\n", "Protocol error: unbalanced quotes in request"},
        bad_input{"TextAfterClosingQuote", "ECHO \"a\"b\r\n",
                  "Protocol error: unbalanced quotes in request"}),
    [](const ::testing::TestParamInfo<bad_input>& param_info) { return std::string(param_info.param.name); });

TEST(RespParser, LimitsAreOnWhatIsHeldNotOnWhatIsWhole) {
  // A whole inline line longer than the limit is fine (Redis checks only a
  // line still waiting for its end); so is a bulk string at the limit.
  parser_limits limits;
  limits.max_inline = 16;
  limits.max_bulk = 32;
  const std::string long_line = "ECHO " + std::string(20, 'x') + "\r\n";
  const std::string at_limit = "*2\r\n$4\r\nECHO\r\n$32\r\n" + std::string(32, 'y') + "\r\n";
  const auto result = parse_all(long_line + at_limit, limits);
  EXPECT_EQ(result.error, "");
  ASSERT_EQ(result.requests.size(), 2u);
  EXPECT_EQ(result.requests[1][1].size(), 32u);
}

}  // namespace
