# Sanitizers are separate switches, set by the asan-ubsan and tsan presets.
# ThreadSanitizer cannot share a process with AddressSanitizer, so asking for
# both is refused here rather than failing obscurely at link time.
option(SANDBOX_ENABLE_ASAN "Build with AddressSanitizer" OFF)
option(SANDBOX_ENABLE_UBSAN "Build with UndefinedBehaviorSanitizer" OFF)
option(SANDBOX_ENABLE_TSAN "Build with ThreadSanitizer" OFF)
option(SANDBOX_ENABLE_FUZZING "Build the libFuzzer targets in fuzz/ (clang only)" OFF)

if(SANDBOX_ENABLE_FUZZING AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "libFuzzer needs clang: use the fuzz preset "
                      "(Debian: clang and libclang-rt-14-dev).")
endif()

if(SANDBOX_ENABLE_TSAN AND SANDBOX_ENABLE_ASAN)
  message(FATAL_ERROR "ThreadSanitizer and AddressSanitizer cannot be combined: "
                      "use the asan-ubsan and tsan presets separately.")
endif()

set(_sandbox_sanitizers "")
if(SANDBOX_ENABLE_ASAN)
  list(APPEND _sandbox_sanitizers address)
endif()
if(SANDBOX_ENABLE_UBSAN)
  list(APPEND _sandbox_sanitizers undefined)
endif()
if(SANDBOX_ENABLE_TSAN)
  list(APPEND _sandbox_sanitizers thread)
endif()

add_library(sandbox_sanitizers INTERFACE)
if(_sandbox_sanitizers)
  list(JOIN _sandbox_sanitizers "," _sandbox_sanitizer_list)
  message(STATUS "Sanitizers: ${_sandbox_sanitizer_list}")
  target_compile_options(sandbox_sanitizers INTERFACE
    -fsanitize=${_sandbox_sanitizer_list}
    -fno-omit-frame-pointer       # readable stack traces in reports
    -fno-sanitize-recover=all)    # a UBSan finding fails the test, not just logs
  target_link_options(sandbox_sanitizers INTERFACE
    -fsanitize=${_sandbox_sanitizer_list})
endif()
if(SANDBOX_ENABLE_UBSAN AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # clang 14 cannot compile coroutines with UBSan's `function` check ("error:
  # Cannot represent a difference across sections", LLVM issue 49689); every
  # other UBSan check stays on.
  target_compile_options(sandbox_sanitizers INTERFACE -fno-sanitize=function)
endif()
if(SANDBOX_ENABLE_FUZZING)
  # Coverage for libFuzzer in every target; only the fuzz targets link its main().
  target_compile_options(sandbox_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(sandbox_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()
if(SANDBOX_ENABLE_TSAN AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC warns that TSan cannot see std::atomic_thread_fence, which Asio's
  # headers use. TSan still checks every access; the warning would only make
  # -Werror builds fail.
  target_compile_options(sandbox_sanitizers INTERFACE -Wno-tsan)
endif()
