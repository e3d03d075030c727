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

}  // namespace
