// bytes_repr() must print what Python's repr(bytes) prints, for every byte
// value: the golden file was written by Python (data/make_bytes_repr_golden.py)
// and a CTest test checks it still matches the Python on this machine.
#include "sandbox/bytes_repr.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

TEST(BytesRepr, MatchesPythonForEveryByteValueAndQuoteCase) {
  std::ifstream golden{SANDBOX_BYTES_REPR_GOLDEN};
  ASSERT_TRUE(golden) << "missing " << SANDBOX_BYTES_REPR_GOLDEN;
  std::string line;
  int cases = 0;
  while (std::getline(golden, line)) {
    const auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    const std::string input = from_hex(line.substr(0, tab));
    EXPECT_EQ(sandbox::bytes_repr(input), line.substr(tab + 1)) << "input hex " << line.substr(0, tab);
    ++cases;
  }
  EXPECT_EQ(cases, 256 + 9);
}

TEST(BytesRepr, ShowsTheLessonsConsoleLines) {
  EXPECT_EQ(sandbox::bytes_repr("a"), "b'a'");
  EXPECT_EQ(sandbox::bytes_repr("Last line.\n"), R"(b'Last line.\n')");
  EXPECT_EQ(sandbox::bytes_repr(""), "b''");
}

TEST(BytesRepr, KeepsEmbeddedNulBytes) {
  EXPECT_EQ(sandbox::bytes_repr(std::string_view{"a\0b", 3}), R"(b'a\x00b')");
}

// printable(): the same escapes, no quotes, for a console line. Chapter 07
// prints chat text with it, so that a client's bytes cannot drive the
// operator's terminal.
TEST(Printable, EscapesWhatATerminalWouldActOn) {
  EXPECT_EQ(sandbox::printable("hi\x1b]0;owned\x07\x1b[2J"), R"(hi\x1b]0;owned\x07\x1b[2J)");
  EXPECT_EQ(sandbox::printable("ok\rguest9: forged\n"), R"(ok\rguest9: forged\n)");
  EXPECT_EQ(sandbox::printable(std::string_view{"\0\t\x7f\x80\xff", 5}), R"(\x00\t\x7f\x80\xff)");
}

TEST(Printable, KeepsPrintableAsciiAndQuotesButEscapesTheBackslash) {
  EXPECT_EQ(sandbox::printable("hello, anyone here?"), "hello, anyone here?");
  EXPECT_EQ(sandbox::printable(R"(it's "quoted")"), R"(it's "quoted")");
  EXPECT_EQ(sandbox::printable(R"(typed \x1b)"), R"(typed \\x1b)");
  EXPECT_EQ(sandbox::printable(""), "");
}

TEST(Printable, IsBytesReprWithoutTheQuotesForEveryByteValue) {
  for (int value = 0; value < 256; ++value) {
    const std::string byte(1, static_cast<char>(value));
    const std::string repr = sandbox::bytes_repr(byte);
    EXPECT_EQ(sandbox::printable(byte), repr.substr(2, repr.size() - 3)) << "byte " << value;
  }
}

}  // namespace
