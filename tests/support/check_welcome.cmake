# The Docker image's welcome (docker/welcome.sh, what `docker run IMAGE`
# prints) lists every chapter program, run by CTest as
#   cmake -DWELCOME=<docker/welcome.sh> -DPROGRAMS=<name>,<name> -P check_welcome.cmake
# A new program is installed into the image by its sandbox_chapter() line;
# this keeps a reader of the welcome from missing it. (scripts/docker-check.sh
# checks the other way round inside the built image: every name listed is
# installed there.)
file(READ ${WELCOME} welcome)
string(REPLACE "," ";" programs "${PROGRAMS}")
set(missing "")
foreach(program IN LISTS programs)
  if(program MATCHES "^ch[0-9][0-9]_" AND NOT welcome MATCHES "\n  ${program} ")
    list(APPEND missing ${program})
  endif()
endforeach()
if(missing)
  string(REPLACE ";" ", " missing "${missing}")
  message(FATAL_ERROR "docker/welcome.sh does not list: ${missing}")
endif()
