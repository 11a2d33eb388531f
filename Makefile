# Thin wrapper over CMake. The two commands a user needs: `make run` and `make test`.
BUILD     ?= build
JOBS      ?= $(shell nproc)
CMAKE_OPT ?=
KILN      := $(BUILD)/bin/kiln
PROMPT    ?= Once upon a time

.PHONY: all setup build run test test-asan bench clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_OPT) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Obtains stories260K (mirror or official URL, checksum-checked), converts it, completes a prompt.
run: build
	@scripts/get-model.sh $(KILN)
	$(KILN) run -m models/cache/stories260K.kiln -p "$(PROMPT)" -n 128

test: build
	@scripts/get-model.sh $(KILN) >/dev/null || echo "note: default model unavailable; tests that need it are skipped"
	cd $(BUILD) && ctest --output-on-failure -j 2

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j 2

# Random-weight models of the stories110M and TinyLlama-1.1B shapes in each weight type (cached in
# models/cache/), timed by `kiln bench` and printed beside llama.cpp's figures (docs/SYNTH.md).
bench: build
	scripts/bench.sh $(KILN)

clean:
	rm -rf $(BUILD) build-asan
