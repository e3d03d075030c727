# The documentation site: Doxygen, themed with Debian's doxygen-awesome-css.
# Both are optional: without them the build goes on and says docs are skipped.
find_package(Doxygen 1.9 OPTIONAL_COMPONENTS dot)
find_path(SANDBOX_DOXYGEN_AWESOME_DIR doxygen-awesome.css
  PATHS /usr/share/doxygen-awesome-css
  DOC "Directory of doxygen-awesome.css (Debian: doxygen-awesome-css)")

# The site's header loads the theme's JavaScript extensions (dark-mode toggle,
# copy button, interactive table of contents), shipped from version 2.1 on.
if(SANDBOX_DOXYGEN_AWESOME_DIR
   AND NOT EXISTS ${SANDBOX_DOXYGEN_AWESOME_DIR}/doxygen-awesome-interactive-toc.js)
  message(STATUS "Docs: ${SANDBOX_DOXYGEN_AWESOME_DIR} has no JavaScript extensions (2.1 or later has)")
  set(SANDBOX_DOXYGEN_AWESOME_DIR "")
endif()

if(NOT DOXYGEN_FOUND OR NOT SANDBOX_DOXYGEN_AWESOME_DIR)
  message(STATUS "Docs skipped: install doxygen and doxygen-awesome-css (2.1 or later) for the 'docs' target")
  set(SANDBOX_DOCS_AVAILABLE OFF)
  return()
endif()
set(SANDBOX_DOCS_AVAILABLE ON)

if(TARGET Doxygen::dot)
  set(SANDBOX_DOXYGEN_HAVE_DOT YES)
else()
  set(SANDBOX_DOXYGEN_HAVE_DOT NO)
endif()
set(SANDBOX_DOCS_OUTPUT ${PROJECT_BINARY_DIR}/docs)
configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${PROJECT_BINARY_DIR}/Doxyfile @ONLY)

# Warnings are errors (WARN_AS_ERROR in the Doxyfile): an undocumented entity,
# a broken \ref or \snippet fails this target.
add_custom_target(docs
  COMMAND ${CMAKE_COMMAND} -E remove_directory ${SANDBOX_DOCS_OUTPUT}/html
  COMMAND Doxygen::doxygen ${PROJECT_BINARY_DIR}/Doxyfile
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  COMMENT "Building the documentation site in ${SANDBOX_DOCS_OUTPUT}/html"
  VERBATIM)
