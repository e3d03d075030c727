/// \file
/// \brief The one place the chapters and the library include Asio from.
///
/// Standalone Asio is configured on the build's `sandbox_asio` target
/// (`ASIO_STANDALONE`, `ASIO_SEPARATE_COMPILATION`, `ASIO_NO_DEPRECATED`);
/// this header pulls in the parts every chapter uses, so it is also what the
/// precompiled header holds.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>

namespace sandbox {

/// The address type of every TCP endpoint in this project (IPv4 or IPv6).
using tcp = asio::ip::tcp;

/// A completion token that turns an error into a value instead of an
/// exception: `auto [ec, n] = co_await op(as_tuple_awaitable);`. Use it where
/// an error is an expected outcome (end of file, a closed socket), so that
/// exceptions stay for the unexpected. (Asio 1.22 still keeps `as_tuple` in
/// `asio::experimental`.)
inline constexpr auto as_tuple_awaitable =
    asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace sandbox
