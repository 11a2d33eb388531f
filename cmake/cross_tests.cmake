# The cross build (cmake/aarch64-linux-gnu.cmake): only the kernel tests, run under qemu by ctest.
# Included by CMakeLists.txt in place of the native targets. The library holds only the parts of
# src/ those tests use (not the tokenizer, whose PCRE2 is a host-only library here, nor the model,
# the importers and the CLI), which keeps the qemu leg of `make test` to about 30 compilations.
# tests/<name>.cpp (the kernel tests, shared with the native build) and tests/arm/<name>.cpp (ARM only).
set(KILN_CROSS_TESTS test_ops test_ops_arch test_qkernels test_neon)
set(KILN_CROSS_LIB_DIRS core ops quant)
# Of src/formats, only the KILN file reader/writer (test_qkernels writes and reads a rows8 file); the
# importers are the bulk of the compile time. A new dependency of these shows as an undefined
# reference in the neon_qemu log: add its file here.
set(KILN_CROSS_FORMATS checksum kiln_reader kiln_writer metadata output_file)

set(kiln_cross_sources ${KILN_ARCH_SOURCES})
foreach(dir ${KILN_CROSS_LIB_DIRS})
  file(GLOB dir_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${dir}/*.cpp)
  list(APPEND kiln_cross_sources ${dir_sources})
endforeach()
foreach(name ${KILN_CROSS_FORMATS})
  list(APPEND kiln_cross_sources ${CMAKE_SOURCE_DIR}/src/formats/${name}.cpp)
endforeach()
add_library(kiln_core STATIC ${kiln_cross_sources})
target_include_directories(kiln_core PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(kiln_core PUBLIC OpenMP::OpenMP_CXX fmt::fmt nlohmann_json::nlohmann_json)
target_compile_definitions(kiln_core PUBLIC KILN_VERSION="${PROJECT_VERSION}")

enable_testing()
add_library(kiln_test_main STATIC ${CMAKE_SOURCE_DIR}/tests/support/doctest_main.cpp
                                  ${CMAKE_SOURCE_DIR}/tests/support/test_paths.cpp
                                  ${CMAKE_SOURCE_DIR}/tests/support/test_files.cpp
                                  ${CMAKE_SOURCE_DIR}/tests/support/test_numeric.cpp)
target_include_directories(kiln_test_main PUBLIC ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(kiln_test_main PUBLIC kiln_core doctest::doctest)
# No kiln binary in this build: a test that runs the CLI fails, naming this path.
target_compile_definitions(kiln_test_main PUBLIC
  KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}" KILN_BINARY="kiln-is-not-built-in-a-cross-build")
foreach(name ${KILN_CROSS_TESTS})
  set(test_src ${CMAKE_SOURCE_DIR}/tests/${name}.cpp)
  if(NOT EXISTS ${test_src})
    set(test_src ${CMAKE_SOURCE_DIR}/tests/arm/${name}.cpp)
  endif()
  if(NOT EXISTS ${test_src})
    message(FATAL_ERROR "KILN_CROSS_TESTS: neither tests/${name}.cpp nor tests/arm/${name}.cpp exists")
  endif()
  add_executable(${name} ${test_src})
  target_link_libraries(${name} PRIVATE kiln_test_main)
  # CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64) runs it.
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600)
endforeach()
