# Two commands on a fresh machine: `make run` (the main job) and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# make fuzz: seconds per libFuzzer target (make test fuzzes each for FUZZ_CI_SECONDS)
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3
CMAKE_ARGS ?=
# make run: cases up to this many padded device bytes also run with data (all: every case)
OOMLESS_RUN_MAX_BYTES ?= 512MB

.PHONY: all deps build build-asan build-fuzz run test test-cpp test-asan test-python test-fuzz fuzz bench format format-check clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DOOMLESS_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS) --target oomless_tests

# libFuzzer targets (fuzz/, FUZZING.md): clang with ASan+UBSan; warnings are
# enforced by the gcc builds, not here.
build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Fuzz \
	  -DCMAKE_CXX_FLAGS_FUZZ="-O1 -g" -DOOMLESS_FUZZ=ON -DOOMLESS_PYTHON=OFF -DOOMLESS_WERROR=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_npy fuzz_profile fuzz_suite fuzz_graph fuzz_results fuzz_call

fuzz: build-fuzz
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# CI: the two targets that link only core/ and device/ (built in a minute); the
# other four need the whole library's clang build, so they run in `make fuzz`.
test-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Fuzz \
	  -DCMAKE_CXX_FLAGS_FUZZ="-O1 -g" -DOOMLESS_FUZZ=ON -DOOMLESS_PYTHON=OFF -DOOMLESS_WERROR=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_npy fuzz_profile
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_CI_SECONDS) npy profile

run: build
	@OOMLESS_RUN_MAX_BYTES=$(OOMLESS_RUN_MAX_BYTES) bash scripts/run-main.sh $(BUILD)

test: format-check test-cpp test-python test-asan test-fuzz

test-cpp: build
	@cd $(BUILD) && OMP_WAIT_POLICY=passive ctest --output-on-failure -j$(JOBS)

test-python: build
	@PYTHONPATH=$(BUILD)/python OOMLESS_BIN=$(BUILD)/oomless $(PYTHON) -m pytest -q tests/python

test-asan: build-asan
	@cd $(ASAN_BUILD) && OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

bench: build
	@PYTHON=$(PYTHON) bash scripts/bench.sh $(BUILD) $(BENCH_ARGS)

format:
	@clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'bench/*.cpp' 'fuzz/*.cpp' 'fuzz/*.hpp')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'bench/*.cpp' 'fuzz/*.cpp' 'fuzz/*.hpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
