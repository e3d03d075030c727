# Standalone Asio, as Debian's libasio-dev ships it (header-only, 1.22.1).
#
# Asio is mostly templates, and a translation unit that includes <asio.hpp>
# takes seconds to compile. Two things keep our builds fast:
#  - ASIO_SEPARATE_COMPILATION: Asio's non-template code is compiled once,
#    in common/src/asio_impl.cpp, instead of in every translation unit;
#  - a precompiled header (see common/CMakeLists.txt) that every target reuses.
find_package(Threads REQUIRED)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED
  DOC "Directory holding standalone Asio's asio.hpp (Debian: libasio-dev)")

add_library(sandbox_asio INTERFACE)
target_include_directories(sandbox_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(sandbox_asio INTERFACE
  ASIO_STANDALONE
  ASIO_SEPARATE_COMPILATION
  ASIO_NO_DEPRECATED)   # keep the chapters on the current API
target_link_libraries(sandbox_asio INTERFACE Threads::Threads)

# Asio 1.22 enables co_await under clang only with libc++'s
# <experimental/coroutine>; with libstdc++ (Debian's default) clang 14 has
# C++20's <coroutine>, which Asio already uses for GCC. Tell it so. (Newer
# Asio versions detect this themselves.) Only the fuzz preset uses clang.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_definitions(sandbox_asio INTERFACE ASIO_HAS_CO_AWAIT=1)
endif()
