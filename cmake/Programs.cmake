# Every program of the project (each chapter's executable, chapter 05's race
# demo, the benchmark's C baseline) is built by sandbox_program(), which also
# registers it. The tests read the register instead of a hand-kept list:
# tests/CMakeLists.txt generates one header naming every registered program's
# path, and a --help smoke test per program. So adding a program is one call
# here and nothing on the test side.
#
#   sandbox_program(<target> [C] [HELP_NAMES <option>...] [REFERENCE <script>]
#                   SOURCES <source>...)
#
#   C           a C program: it links only the sanitizers (our warnings are C++
#               flags; the caller sets its C warnings), not sandbox::common.
#   HELP_NAMES  options its --help must name (default: --port), checked by
#               the generated <target>.help test.
#   REFERENCE   the chapter's reference.py, the asyncio program the same
#               behavioural tests run against (a path relative to the caller).
#
# The register is the global property SANDBOX_PROGRAMS (target names, in the
# order registered) and, on each target, the properties SANDBOX_CPP (true or
# false), SANDBOX_HELP_NAMES and SANDBOX_REFERENCE. A property rather than a variable: the chapters, bench and
# tests are different directories, and a variable would not reach the tests.
define_property(GLOBAL PROPERTY SANDBOX_PROGRAMS
  BRIEF_DOCS "Every program built by sandbox_program()"
  FULL_DOCS "Target names, in the order registered; tests/CMakeLists.txt reads them.")

function(sandbox_program target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "C" "REFERENCE" "HELP_NAMES;SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "sandbox_program(${target}): no SOURCES")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sandbox_program(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_HELP_NAMES)
    set(arg_HELP_NAMES --port)
  endif()

  add_executable(${target} ${arg_SOURCES})
  if(arg_C)
    target_link_libraries(${target} PRIVATE sandbox_sanitizers)
  else()
    sandbox_use_common(${target})
  endif()

  set(reference "")
  if(arg_REFERENCE)
    get_filename_component(reference ${arg_REFERENCE} ABSOLUTE)
  endif()
  set(cpp true)
  if(arg_C)
    set(cpp false)
  endif()
  set_target_properties(${target} PROPERTIES
    SANDBOX_CPP ${cpp}
    SANDBOX_HELP_NAMES "${arg_HELP_NAMES}"
    SANDBOX_REFERENCE "${reference}")
  set_property(GLOBAL APPEND PROPERTY SANDBOX_PROGRAMS ${target})
endfunction()
