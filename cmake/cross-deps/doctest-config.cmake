# Cross build: header-only target from the host headers (see deps.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/deps.cmake)
