# segloss: library, CLI, tests. `make` builds, `make test` tests, `make demo` runs the post's
# experiment, `make sanitize` runs the tests under ASan and UBSan, `make fuzz` fuzzes the parsers.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wundef -Wcast-align
ifeq ($(WERROR),1)
WARN    += -Werror
endif
CFLAGS  ?= $(OPT) -g
# -ffp-contract=off: no fused multiply-add the source did not ask for, so that every ISA path
# computes the same bits. Never -ffast-math.
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) $(SAN) -ffp-contract=off \
             -fopenmp -Iinclude -Isrc
LDLIBS  := -fopenmp -lz -lm

# The kernels are compiled once per ISA with their own flags (src/kernels/kern_*.c).
ISA_FLAGS_kern_scalar := -Wno-psabi
ISA_FLAGS_kern_avx2   := -mavx2 -mfma -Wno-psabi
ISA_FLAGS_kern_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma

LIB_SRC  := $(sort $(wildcard src/*.c src/kernels/*.c))
# One set of position-independent objects serves the static and the shared library.
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
LIB_HDR  := include/segloss.h include/segloss_data.h $(wildcard src/*.h src/kernels/*.h)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# The version is the header's (SL_VERSION_STRING); the shared library's soname carries the major.
VERSION := $(shell sed -n 's/^\#define SL_VERSION_STRING "\(.*\)"/\1/p' include/segloss.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libsegloss.so.$(SOMAJOR)

all: $(BUILD)/libsegloss.a $(BUILD)/libsegloss.so $(BUILD)/segloss $(BUILD)/train_speed

$(BUILD)/obj/%.o: src/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_FLAGS_$(notdir $*)) -fPIC -c $< -o $@

$(BUILD)/libsegloss.a: $(LIB_OBJ)
	ar rcs $@ $^

# The shared library exports only the public sl_ names (src/segloss.map); the internal sl__
# ones stay inside. libsegloss.so -> libsegloss.so.MAJOR -> libsegloss.so.VERSION.
$(BUILD)/libsegloss.so.$(VERSION): $(LIB_OBJ) src/segloss.map
	$(CC) -shared $(SAN) -Wl,-soname,$(SONAME) -Wl,--version-script=src/segloss.map -o $@ \
		$(LIB_OBJ) $(LDLIBS)

$(BUILD)/libsegloss.so: $(BUILD)/libsegloss.so.$(VERSION)
	ln -sf libsegloss.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# The trainer (train/): the network, its data and its loop, on top of the library's public API.
# It links OpenBLAS explicitly; the library itself does not need it.
TRAIN_SRC := $(sort $(wildcard train/*.c))
TRAIN_OBJ := $(TRAIN_SRC:train/%.c=$(BUILD)/train/%.o)
TRAIN_HDR := $(wildcard train/*.h)
BLAS_LIBS := -lopenblas

$(BUILD)/train/%.o: train/%.c $(TRAIN_HDR) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itrain -c $< -o $@

$(BUILD)/libsegtrain.a: $(TRAIN_OBJ)
	ar rcs $@ $^

CLI_SRC := $(sort $(wildcard cli/*.c))

$(BUILD)/segloss: $(CLI_SRC) $(wildcard cli/*.h) $(TRAIN_HDR) $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a
	$(CC) $(ALL_CFLAGS) -Icli -Itrain -o $@ $(CLI_SRC) $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a \
		$(LDLIBS) $(BLAS_LIBS)

# test_alloc wraps the allocator (link-time --wrap) to make each of the library's allocations fail
# in turn; the library is the same static archive as everywhere else.
LDFLAGS_test_alloc := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB_HDR) $(TRAIN_HDR) $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Itrain -o $@ $< $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a \
		$(LDLIBS) $(BLAS_LIBS) $(LDFLAGS_$*)

# Helpers of the Python checks that need the library's internal functions (the shared library
# exports only the public ones): $(BUILD)/tools/NAME from tests/tools/NAME.c.
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libsegloss.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libsegloss.a $(LDLIBS)

# A loss that exists only in a test build (tests/newloss/): its file, and its line in
# tests/newloss/losses.def that the library's registry reads too (SL_EXTRA_LOSSES). The generic
# checks of test_losses run on it (test_newloss); `segloss list` of that build shows it
# (tests/check_newloss.py). Adding a loss to the library is the same file and line in src/.
NEWLOSS_OBJ := $(filter-out $(BUILD)/obj/registry.o,$(LIB_OBJ)) $(BUILD)/newloss/registry.o \
               $(BUILD)/newloss/loss_example.o

$(BUILD)/newloss/registry.o: src/registry.c tests/newloss/losses.def $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I. -DSL_EXTRA_LOSSES='"tests/newloss/losses.def"' -c $< -o $@

$(BUILD)/newloss/loss_example.o: tests/newloss/loss_example.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/newloss/libsegloss.a: $(NEWLOSS_OBJ)
	ar rcs $@ $^

$(BUILD)/newloss/segloss: $(CLI_SRC) $(wildcard cli/*.h) $(TRAIN_HDR) $(BUILD)/libsegtrain.a $(BUILD)/newloss/libsegloss.a
	$(CC) $(ALL_CFLAGS) -Icli -Itrain -o $@ $(CLI_SRC) $(BUILD)/libsegtrain.a \
		$(BUILD)/newloss/libsegloss.a $(LDLIBS) $(BLAS_LIBS)

$(BUILD)/tests/test_newloss: tests/test_losses.c tests/check.h $(LIB_HDR) $(BUILD)/newloss/libsegloss.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -DTEST_ONLY_LOSS='"example"' -o $@ $< \
		$(BUILD)/newloss/libsegloss.a $(LDLIBS)

tests: $(TEST_BIN) $(TOOL_BIN) $(BUILD)/tests/test_newloss $(BUILD)/newloss/segloss

# The trainer's step timer for `make bench` (bench/train_peers.py).
$(BUILD)/train_speed: bench/train_speed.c $(LIB_HDR) $(TRAIN_HDR) $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a
	$(CC) $(ALL_CFLAGS) -Itrain -o $@ $< $(BUILD)/libsegtrain.a $(BUILD)/libsegloss.a \
		$(LDLIBS) $(BLAS_LIBS)

# Installs what the tests need when it is missing, builds, runs every test.
test: deps-test all tests
	@BUILD=$(BUILD) bash tests/run.sh

# The C tests and the CLI tests under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps-test
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all tests
	@BUILD=build-san bash tests/run.sh

demo: deps all
	./$(BUILD)/segloss demo --out out/demo

# The trainer at full size: the default network trained with ce (out/train), then fresh images
# of a seed training never used through segloss infer, scored against their labels.
train-check: deps all
	./$(BUILD)/segloss train --loss ce --out out/train
	./$(BUILD)/segloss images --n 64 --size 64,64 --seed 777 --out out/train/fresh.npy \
		--labels out/train/fresh_labels.npy
	./$(BUILD)/segloss infer --model out/train/model.slm --input out/train/fresh.npy \
		--labels out/train/fresh_labels.npy --out out/train/fresh_probs.npy

# The post's claim put to the test (48 trainings; compare-quick: 8).
compare: deps all
	./$(BUILD)/segloss compare --out out/compare

compare-quick: deps all
	./$(BUILD)/segloss compare --quick --out out/compare-quick

# The benchmark: segloss beside PyTorch (and SciPy) on the same formulas and sizes, in one run,
# with each timing's correctness check; then peak memory. bench-quick: S1 only.
bench: deps-test all
	/usr/bin/python3 bench/peers.py --segloss $(BUILD)/segloss
	/usr/bin/python3 bench/memory.py --segloss $(BUILD)/segloss
	/usr/bin/python3 bench/train_peers.py --timer $(BUILD)/train_speed

bench-quick: deps-test all
	/usr/bin/python3 bench/peers.py --quick --segloss $(BUILD)/segloss
	/usr/bin/python3 bench/memory.py --segloss $(BUILD)/segloss

# Fuzzing (libFuzzer, Debian's clang): one harness per parser of untrusted input (fuzz/*.c), built
# with AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/. `make fuzz` runs each
# for FUZZ_TIME seconds from its seed corpus fuzz/corpus/NAME (new finds go to
# build-fuzz/corpus/NAME; copy the useful ones into fuzz/corpus/NAME). `make fuzz-smoke` (CI)
# replays every committed corpus file once, then runs each harness for FUZZ_SMOKE seconds.
FUZZ_CC    ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_SMOKE ?= 10
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
              -ffp-contract=off -Iinclude -Isrc -Icli -Wno-unknown-pragmas
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
# The vector kernels are not parsers and take clang minutes to build: the fuzzers link the
# regular build's objects of them (gcc, uninstrumented); everything else is instrumented.
FUZZ_KERN  := $(filter $(BUILD)/obj/kernels/kern_%.o,$(LIB_OBJ))
FUZZ_LIB   := $(filter-out src/kernels/kern_%.c,$(LIB_SRC))
FUZZ_LIB   := $(FUZZ_LIB:src/%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_KERN) $(FUZZ_BUILD)/obj/cli_util.o

$(FUZZ_BUILD)/obj/%.o: src/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/obj/cli_util.o: cli/util.c cli/cli.h include/segloss.h include/segloss_data.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) -lz -lm

fuzz-build: deps-fuzz $(FUZZ_BIN)

fuzz: fuzz-build
	@for f in $(FUZZ_BIN); do n=$${f##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== $$f for $(FUZZ_TIME) s"; \
	  $$f -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
	    $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.log 2>&1 || \
	    { tail -n 40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	  tail -n 2 $(FUZZ_BUILD)/$$n.log; done

fuzz-smoke: fuzz-build
	@for f in $(FUZZ_BIN); do n=$${f##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/smoke/$$n; \
	  echo "== $$f: replay fuzz/corpus/$$n, then $(FUZZ_SMOKE) s"; \
	  $$f -runs=0 fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.replay.log 2>&1 || \
	    { tail -n 40 $(FUZZ_BUILD)/$$n.replay.log; exit 1; }; \
	  $$f -max_total_time=$(FUZZ_SMOKE) -timeout=10 -rss_limit_mb=2048 \
	    $(FUZZ_BUILD)/smoke/$$n fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.log 2>&1 || \
	    { tail -n 40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	  tail -n 1 $(FUZZ_BUILD)/$$n.log; done

deps-fuzz:
	@bash scripts/setup.sh fuzz

# make install PREFIX=/usr/local DESTDIR=: both headers, both libraries (the shared one versioned,
# with its soname links), segloss.pc, the CLI and the Python package (into the system Python's
# package directory of PREFIX, with the library's installed path written into it).
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
PCDIR   ?= $(LIBDIR)/pkgconfig
PYTHON  ?= /usr/bin/python3
PYDIR   ?= $(shell $(PYTHON) -c 'import sys; print("$(PREFIX)/lib/python%d.%d/dist-packages" % sys.version_info[:2])' 2>/dev/null)
PY_SRC  := $(wildcard python/segloss/*.py)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 755 $(BUILD)/segloss $(DESTDIR)$(BINDIR)/segloss
	install -m 644 include/segloss.h include/segloss_data.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(BUILD)/libsegloss.a $(DESTDIR)$(LIBDIR)/libsegloss.a
	install -m 755 $(BUILD)/libsegloss.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsegloss.so.$(VERSION)
	ln -sf libsegloss.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsegloss.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' segloss.pc.in > $(DESTDIR)$(PCDIR)/segloss.pc
	chmod 644 $(DESTDIR)$(PCDIR)/segloss.pc
	@if [ -n "$(PYDIR)" ]; then \
		install -d $(DESTDIR)$(PYDIR)/segloss && \
		install -m 644 $(PY_SRC) $(DESTDIR)$(PYDIR)/segloss/ && \
		echo 'LIBRARY = "$(LIBDIR)/$(SONAME)"' > $(DESTDIR)$(PYDIR)/segloss/_installed.py && \
		echo "installed the Python package in $(DESTDIR)$(PYDIR)/segloss"; \
	else echo "no $(PYTHON): the Python package is not installed"; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/segloss $(DESTDIR)$(INCDIR)/segloss.h $(DESTDIR)$(INCDIR)/segloss_data.h \
		$(DESTDIR)$(LIBDIR)/libsegloss.a $(DESTDIR)$(LIBDIR)/libsegloss.so \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libsegloss.so.$(VERSION) \
		$(DESTDIR)$(PCDIR)/segloss.pc
	@if [ -n "$(PYDIR)" ]; then rm -rf $(DESTDIR)$(PYDIR)/segloss; fi

deps:
	@bash scripts/setup.sh build

deps-test:
	@bash scripts/setup.sh test

format:
	clang-format -i include/*.h src/*.c src/*.h src/kernels/*.c src/kernels/*.h cli/*.c tests/*.c tests/*.h \
		train/*.c train/*.h bench/*.c

clean:
	rm -rf build build-san build-fuzz out

.PHONY: all tests test sanitize demo deps deps-test deps-fuzz format clean bench bench-quick \
        train-check compare compare-quick fuzz fuzz-build fuzz-smoke install uninstall
.SECONDARY:
