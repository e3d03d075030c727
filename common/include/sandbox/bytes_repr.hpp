/// \file
/// \brief Show a byte string exactly as Python's `repr(bytes)` does.
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
/// - the quote is `'`, unless the bytes contain `'` and no `"`, then `"`;
/// - `\\`, the chosen quote, tab, newline and carriage return are escaped as
///   `\\\\`, `\'`, `\\t`, `\\n`, `\\r`;
/// - any other byte below 0x20 or from 0x7f up is written `\\xNN` in lower-case
///   hex; printable ASCII is written as itself.
///
/// A `std::string_view` holds any bytes, NUL included, so it serves as
/// asyncio's `bytes` throughout this project.
[[nodiscard]] std::string bytes_repr(std::string_view bytes);

}  // namespace sandbox
