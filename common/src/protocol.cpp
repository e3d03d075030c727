/// \file
/// \brief The default callbacks of sandbox/protocol.hpp.
#include "sandbox/protocol.hpp"

namespace sandbox {

// The defaults do what asyncio.Protocol's do: nothing, and on EOF let the
// transport close the connection.
void protocol::connection_made(transport& /*transport*/) {}
void protocol::data_received(std::string_view /*data*/) {}
bool protocol::eof_received() { return false; }
void protocol::connection_lost(std::error_code /*error*/) {}
void protocol::pause_writing() {}
void protocol::resume_writing() {}

}  // namespace sandbox
