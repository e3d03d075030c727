# Warnings for our own code only. Asio, CLI11 and GoogleTest live under
# /usr/include, which the compiler treats as system headers, so their
# warnings stay out of our way.
#
# Warnings are errors in CI (the CI environment variable is set there) or when
# asked for; locally they stay warnings so an experiment still compiles.
if(DEFINED ENV{CI})
  set(_sandbox_werror_default ON)
else()
  set(_sandbox_werror_default OFF)
endif()
option(SANDBOX_WARNINGS_AS_ERRORS "Treat compiler warnings as errors"
  ${_sandbox_werror_default})

add_library(sandbox_warnings INTERFACE)
target_compile_options(sandbox_warnings INTERFACE
  -Wall -Wextra -Wpedantic
  -Wshadow                # a local hiding a member is a classic async bug
  -Wnon-virtual-dtor      # protocol is a polymorphic base
  -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wconversion -Wsign-conversion   # byte counts are size_t; say so
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  # Not -Wnull-dereference: at -O2 it fires inside Asio's own code, which
  # asio_impl.cpp compiles as ours (ASIO_SEPARATE_COMPILATION).
  -Winvalid-pch           # tell us when the precompiled header is not used
  $<$<BOOL:${SANDBOX_WARNINGS_AS_ERRORS}>:-Werror>)
