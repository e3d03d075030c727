#include "sandbox/bytes_repr.hpp"

namespace sandbox {

std::string bytes_repr(std::string_view bytes) {
  // CPython's bytes_repr (Objects/bytesobject.c) picks the quote that needs
  // no escaping, preferring the single quote.
  const bool has_single = bytes.find('\'') != std::string_view::npos;
  const bool has_double = bytes.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';

  static constexpr std::string_view hex_digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() + 3);
  out += 'b';
  out += quote;
  for (const char ch : bytes) {
    const auto byte = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
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
  out += quote;
  return out;
}

}  // namespace sandbox
