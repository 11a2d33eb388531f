# Cross build for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; the test executables run
# under qemu-aarch64 (Debian qemu-user), so `ctest` in such a build directory runs the NEON kernels
# on an x86 machine. Used by tests/arm/neon_qemu.sh (the neon_qemu test of `make test`); by hand:
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm -j2 && (cd build-arm && ctest --output-on-failure)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(KILN_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${KILN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${KILN_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${KILN_CROSS_TRIPLE})

# find_library/find_path/find_package look in the cross toolchain's sysroot only: finding a host
# (x86) library would be silently wrong.
set(CMAKE_FIND_ROOT_PATH /usr/${KILN_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The libraries the kernel tests need besides libstdc++/libgomp (which come with the cross compiler)
# are header-only, or used header-only (fmt), and architecture-independent: cmake/cross-deps/ gives
# find_package() targets for the host's Debian headers, so no arm64 packages are needed. The cross
# build (cmake/cross_tests.cmake) uses neither xbyak (x86 only) nor oneDNN nor PCRE2 (tokenizer); the
# values below only satisfy the top-level find calls.
foreach(pkg fmt CLI11 doctest nlohmann_json)
  set(${pkg}_DIR ${CMAKE_CURRENT_LIST_DIR}/cross-deps CACHE PATH "" FORCE)
endforeach()
set(XBYAK_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/cross-deps CACHE PATH "" FORCE)
set(DNNL_INCLUDE_DIR DNNL_INCLUDE_DIR-NOTFOUND CACHE PATH "" FORCE)
set(DNNL_LIBRARY DNNL_LIBRARY-NOTFOUND CACHE FILEPATH "" FORCE)

# add_test() commands of this build run through qemu; -L finds the ARM dynamic loader and libraries.
find_program(KILN_QEMU_AARCH64 qemu-aarch64)
if(KILN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KILN_QEMU_AARCH64} -L /usr/${KILN_CROSS_TRIPLE})
endif()
