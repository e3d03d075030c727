/// \file
/// \brief How sandbox/bytes_repr.hpp writes bytes as Python's `repr()` does.
#include "sandbox/bytes_repr.hpp"

namespace sandbox {

namespace {

// Appends `bytes` to `out` with Python's escapes for bytes; `quote`, if not
// NUL, is escaped too.
void append_escaped(std::string& out, std::string_view bytes, char quote) {
  static constexpr std::string_view hex_digits = "0123456789abcdef";
  for (const char ch : bytes) {
    const auto byte = static_cast<unsigned char>(ch);
    if ((quote != '\0' && ch == quote) || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += hex_digits[byte >> 4U];
      out += hex_digits[byte & 0x0fU];
    } else {
      out += ch;
    }
  }
}

}  // namespace

std::string bytes_repr(std::string_view bytes) {
  // CPython's bytes_repr (Objects/bytesobject.c) picks the quote that needs
  // no escaping, preferring the single quote.
  const bool has_single = bytes.find('\'') != std::string_view::npos;
  const bool has_double = bytes.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';

  std::string out;
  out.reserve(bytes.size() + 3);
  out += 'b';
  out += quote;
  append_escaped(out, bytes, quote);
  out += quote;
  return out;
}

std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_escaped(out, bytes, '\0');
  return out;
}

}  // namespace sandbox
