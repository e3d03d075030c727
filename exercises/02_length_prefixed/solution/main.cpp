// Exercise 02, solution: a length-prefixed protocol on readexactly().
// The exercise is in ../README.md; compare with your ../main.cpp.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace {

// The longest payload a frame may announce. Without a limit, a client that
// sends a header of 0xffffffff makes the server wait for (and buffer) 4 GiB.
constexpr std::uint32_t max_payload = 64 * 1024;

// A frame: the payload's length as 4 bytes, most significant first (big
// endian, "network byte order"), then the payload.
std::string frame(std::string_view payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  std::string framed;
  for (const int shift : {24, 16, 8, 0}) {
    framed += static_cast<char>((size >> shift) & 0xff);
  }
  framed += payload;
  return framed;
}

// The length a 4-byte header announces. Each byte goes through unsigned
// char first: a char above 127 is negative, and would smear its sign bits
// over the others when widened.
std::uint32_t decode_length(std::string_view header) {
  std::uint32_t size = 0;
  for (const char byte : header) {
    size = (size << 8) | static_cast<unsigned char>(byte);
  }
  return size;
}

// The next header, or nullopt at end of file. A stream that ends between
// two frames ends cleanly; one that ends inside a header is a client that
// gave up midway, and is ended too (readexactly() tells them apart by what
// it had read, partial()). co_await cannot appear in a catch block, hence
// the optional.
asio::awaitable<std::optional<std::string>> read_header(sandbox::stream_reader& reader) {
  std::optional<std::string> header;
  try {
    header = co_await reader.readexactly(4);
  } catch (const sandbox::incomplete_read_error&) {
    // End of file: between frames (partial() empty) or inside a header.
  }
  co_return header;
}

asio::awaitable<void> reverse_frames(sandbox::stream_reader reader,
                                     sandbox::stream_writer writer) {
  for (;;) {
    const auto header = co_await read_header(reader);
    if (!header) {
      break;
    }
    const std::uint32_t size = decode_length(*header);
    if (size > max_payload) {
      // No reply: the client broke the protocol, and anything we said could
      // be read as a frame. Returning closes the connection.
      break;
    }
    // Waits until the whole payload is there, however many reads it takes:
    // TCP may deliver it in pieces, or glued to the next frame. An end of
    // file inside the payload throws incomplete_read_error, which ends this
    // coroutine (start_server() logs it on stderr).
    std::string payload = co_await reader.readexactly(size);
    std::ranges::reverse(payload);
    writer.write(frame(payload));
    co_await writer.drain();
  }
}

asio::awaitable<void> serve(sandbox::server_options options) {
  auto server = co_await sandbox::start_server(reverse_frames, options.host, options.port);
  sandbox::println("Serving on ", sandbox::host_port(options.host, server->port()));
  co_await server->wait_closed();
}

}  // namespace

int main(int argc, char* argv[]) {
  sandbox::command_line cli{"Exercise 02: a length-prefixed protocol that reverses payloads"};
  const auto& options = cli.add_server_options();
  cli.parse(argc, argv);
  return sandbox::run([&] { return serve(options); });
}
