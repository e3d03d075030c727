# The --help smoke test of one program, run by CTest as
#   cmake -DPROGRAM=<path> -DNAME=<name> -DHELP_NAMES=<option>,<option> -P check_help.cmake
# A script rather than a bare PASS_REGULAR_EXPRESSION, which would make CTest
# ignore the exit status: here the status must be 0, the text must start the
# usual way ("Usage: NAME", CLI11's; "usage: NAME", the C baseline's) and it
# must name each of the program's registered options.
execute_process(COMMAND ${PROGRAM} --help
  RESULT_VARIABLE status OUTPUT_VARIABLE help ERROR_VARIABLE errors)
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "${NAME} --help exited with ${status}, not 0\n${help}${errors}")
endif()
if(NOT help MATCHES "[Uu]sage: ${NAME}")
  message(FATAL_ERROR "${NAME} --help does not start with a usage line naming it:\n${help}")
endif()
string(REPLACE "," ";" options "${HELP_NAMES}")
foreach(option IN LISTS options)
  string(FIND "${help}" "${option}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${NAME} --help does not name ${option}:\n${help}")
  endif()
endforeach()
message(STATUS "${NAME} --help: status 0, a usage line, names ${HELP_NAMES}")
