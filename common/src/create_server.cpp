/// \file
/// \brief `loop.create_server()`: a server whose connections each get a
/// protocol and a transport.
#include "sandbox/server.hpp"
#include "sandbox/transport.hpp"

#include <utility>

namespace sandbox {

asio::awaitable<std::shared_ptr<server>> create_server(protocol_factory factory, std::string host,
                                                       std::uint16_t port,
                                                       server::executor_picker pick) {
  // The handler is a named variable, not a lambda written inside the
  // co_await: GCC 12 mishandles a temporary lambda with non-trivial
  // captures in a co_await expression (its captures arrive as garbage).
  server::connection_handler on_connection =
      [factory = std::move(factory)](tcp::socket socket, const tcp::endpoint& peer,
                                     connection_slot slot, const std::shared_ptr<server>&) {
        // Hop onto the connection's strand: from here on, everything this
        // connection does runs there. The transport takes the slot: the
        // connection counts as active until the transport ends it.
        const auto executor = socket.get_executor();
        asio::dispatch(executor, [factory, peer, socket = std::move(socket),
                                  slot = std::move(slot)]() mutable {
          auto conn =
              std::make_shared<transport>(std::move(socket), factory(), std::move(slot), peer);
          conn->start();
        });
      };
  co_return co_await server::listen(std::move(host), port, std::move(on_connection),
                                    std::move(pick));
}

}  // namespace sandbox
