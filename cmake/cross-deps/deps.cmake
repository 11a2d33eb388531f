# Imported targets for the header-only dependencies in a cross build (see ../aarch64-linux-gnu.cmake).
# Each <pkg>-config.cmake here includes this file; it defines every target once.
include_guard(GLOBAL)

foreach(dir fmt CLI doctest nlohmann)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "cross build: /usr/include/${dir} is missing (scripts/setup.sh installs it)")
  endif()
endforeach()

# The host's /usr/include is searched with -idirafter, after the cross compiler's own C and C++
# library headers, so a header of the host's C library can never shadow the target's (Debian's cross
# g++ already searches it last; saying so keeps that explicit).
function(kiln_cross_header_target name)
  add_library(${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES INTERFACE_COMPILE_OPTIONS "-idirafter;/usr/include" ${ARGN})
endfunction()

# fmt header-only: Debian's libfmt.so is built for the host only.
kiln_cross_header_target(fmt::fmt INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
kiln_cross_header_target(CLI11::CLI11)
kiln_cross_header_target(doctest::doctest)
kiln_cross_header_target(nlohmann_json::nlohmann_json)
