#!/usr/bin/env bash
# The NEON kernels on an x86 machine: cross-builds the kernel tests (cmake/cross_tests.cmake) with
# g++-aarch64-linux-gnu into BUILD_DIR and runs them under qemu-aarch64, where every ARM kernel
# level (scalar, neon, neon_dotprod) is checked against the scalar reference. Then the ARM-only test
# once more on an emulated Cortex-A72 (no dotprod) to check the HWCAP detection.
# Exit 77 (ctest: skipped) when the cross compiler or qemu is not installed.
# usage: neon_qemu.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=${1:?usage: neon_qemu.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: neon_qemu.sh SOURCE_DIR BUILD_DIR}

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/setup.sh installs g++-aarch64-linux-gnu and qemu-user)"
    exit 77
  fi
done

start=$SECONDS
log="$build.log"
mkdir -p "$(dirname "$build")"
if ! { cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
         -DCMAKE_BUILD_TYPE=Release && cmake --build "$build" -j "${KILN_ARM_JOBS:-2}"; } >"$log" 2>&1; then
  grep -E "error|Error" "$log" | head -40
  echo "FAIL: the aarch64 cross build failed (full log: $log)"
  exit 1
fi
built=$SECONDS
echo "aarch64 cross build: $((built - start)) s"

# ctest runs each test through CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64 -L /usr/aarch64-linux-gnu);
# qemu's default CPU ("max") has dotprod, so every level runs.
(cd "$build" && ctest --output-on-failure)
echo "qemu run: $((SECONDS - built)) s"

# The sdot kernels must really have run: qemu's default CPU has to report dotprod.
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
out=$("${qemu[@]}" "$build/bin/test_neon" -s -tc='dispatch*' 2>&1) || { echo "$out"; exit 1; }
if ! grep -q "best: neon_dotprod" <<<"$out"; then
  echo "$out"
  echo "FAIL: qemu's default CPU did not report dotprod, so the neon_dotprod kernels were not tested"
  exit 1
fi
# A CPU without dotprod (Cortex-A72) must get scalar + neon only (test_neon checks the level list
# against HWCAP), and pass on them.
out=$(QEMU_CPU=cortex-a72 "${qemu[@]}" "$build/bin/test_neon" -s 2>&1) || {
  echo "$out"; echo "FAIL: test_neon on an emulated Cortex-A72"; exit 1; }
if ! grep -q "best: neon$" <<<"$out"; then
  echo "$out"
  echo "FAIL: on a Cortex-A72 (no dotprod) the best level should be neon"
  exit 1
fi
echo "Cortex-A72 (no dotprod): levels scalar + neon, test_neon passed"
