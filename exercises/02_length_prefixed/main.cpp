// Exercise 02: a length-prefixed protocol on readexactly(). Read README.md
// first; run the tests with ./scripts/sandbox.sh exercise 02.
//
// It builds and serves, but echoes raw bytes: the frames are never parsed.
#include "sandbox/address.hpp"
#include "sandbox/console.hpp"
#include "sandbox/options.hpp"
#include "sandbox/run.hpp"
#include "sandbox/streams.hpp"

#include <cstdint>

namespace {

// The longest payload a frame may announce. Without a limit, a client that
// sends a header of 0xffffffff makes the server wait for (and buffer) 4 GiB.
[[maybe_unused]] constexpr std::uint32_t max_payload = 64 * 1024;

// A frame: the payload's length as 4 bytes, most significant first (big
// endian, "network byte order"), then the payload. Done for you: the reply.
[[maybe_unused]] std::string frame(std::string_view payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  std::string framed;
  for (const int shift : {24, 16, 8, 0}) {
    framed += static_cast<char>((size >> shift) & 0xff);
  }
  framed += payload;
  return framed;
}

// TODO: the length a 4-byte header announces (the inverse of frame()'s
// first four bytes).
[[maybe_unused]] std::uint32_t decode_length([[maybe_unused]] std::string_view header) {
  return 0;
}

asio::awaitable<void> reverse_frames(sandbox::stream_reader reader,
                                     sandbox::stream_writer writer) {
  // TODO: replace this raw echo by a loop over frames:
  //   - read a 4-byte header with reader.readexactly(4); at end of file it
  //     throws sandbox::incomplete_read_error: then stop, quietly;
  //   - decode_length(); above max_payload, close without a reply;
  //   - read exactly that many bytes, and reply with frame(payload
  //     reversed).
  for (;;) {
    std::string data = co_await reader.read(8192);
    if (data.empty()) {
      break;
    }
    writer.write(std::move(data));
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
