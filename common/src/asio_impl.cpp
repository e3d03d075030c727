/// \file
/// \brief Asio's own compiled part, built once (see the comment below).
// Asio's non-template code, compiled once for the whole project.
//
// With ASIO_SEPARATE_COMPILATION defined (see cmake/Asio.cmake) every other
// translation unit sees only declarations for this part of Asio; here is where
// the definitions are built. A real application does the same as soon as it
// has more than a handful of source files.
#include <asio/impl/src.hpp>
