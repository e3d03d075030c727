/// \file
/// \brief Show a byte string exactly as Python's `repr(bytes)` does, or
/// escape only what a terminal would act on.
#pragma once

#include <string>
#include <string_view>

namespace sandbox {

/// Returns Python's `repr()` of the byte string `bytes`, such as `b'a'` or
/// `b'First line.\n'`.
///
/// The lesson prints what it receives with `print(data)`, which shows a bytes
/// object as its repr. Matching it byte for byte lets the C++ chapters and
/// the Python reference programs print identical consoles:
/// - the quote is `'`, unless the bytes contain `'` and no double quote, then
///   a double quote;
/// - `\\`, the chosen quote, tab, newline and carriage return are escaped as
///   `\\\\`, `\'`, `\\t`, `\\n`, `\\r`;
/// - any other byte below 0x20 or from 0x7f up is written `\\xNN` in lower-case
///   hex; printable ASCII is written as itself.
///
/// A `std::string_view` holds any bytes, NUL included, so it serves as
/// asyncio's `bytes` throughout this project.
[[nodiscard]] std::string bytes_repr(std::string_view bytes);

/// Returns `bytes` with the escapes of bytes_repr() but without its `b'...'`
/// and without escaping quotes: printable ASCII as itself, `\\\\` for a
/// backslash, `\\t`, `\\n`, `\\r`, and `\\xNN` for every other byte.
///
/// For printing text that came from the network on a terminal or in a log:
/// a peer's ESC, BEL or carriage return would otherwise reach the operator's
/// terminal raw and could retitle or clear it, or overwrite the line with a
/// forged one. The backslash is escaped too, so `\\x1b` in the output is
/// always the byte 0x1b, never four characters the peer typed. Bytes from
/// 0x80 up are escaped as well, UTF-8 included: simple and safe, at the cost
/// of showing non-English text as hex.
[[nodiscard]] std::string printable(std::string_view bytes);

}  // namespace sandbox
