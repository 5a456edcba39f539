# segloss: library, CLI, tests. `make` builds, `make test` tests, `make demo` runs the post's
# experiment, `make sanitize` runs the tests under ASan and UBSan.
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
LIB_HDR  := include/segloss.h $(wildcard src/*.h src/kernels/*.h)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# The version is the header's (SL_VERSION_STRING); the shared library's soname carries the major.
VERSION := $(shell sed -n 's/^\#define SL_VERSION_STRING "\(.*\)"/\1/p' include/segloss.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libsegloss.so.$(SOMAJOR)

all: $(BUILD)/libsegloss.a $(BUILD)/libsegloss.so $(BUILD)/segloss

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

CLI_SRC := $(sort $(wildcard cli/*.c))

$(BUILD)/segloss: $(CLI_SRC) $(wildcard cli/*.h) $(BUILD)/libsegloss.a
	$(CC) $(ALL_CFLAGS) -Icli -o $@ $(CLI_SRC) $(BUILD)/libsegloss.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(LIB_HDR) $(BUILD)/libsegloss.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libsegloss.a $(LDLIBS)

tests: $(TEST_BIN)

# Installs what the tests need when it is missing, builds, runs every test.
test: deps-test all tests
	@BUILD=$(BUILD) bash tests/run.sh

# The C tests and the CLI tests under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps-test
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all tests
	@BUILD=build-san bash tests/run.sh

demo: deps all
	./$(BUILD)/segloss demo --out out/demo

# The benchmark: segloss beside PyTorch (and SciPy) on the same formulas and sizes, in one run,
# with each timing's correctness check; then peak memory. bench-quick: S1 only.
bench: deps-test all
	/usr/bin/python3 bench/peers.py --segloss $(BUILD)/segloss
	/usr/bin/python3 bench/memory.py --segloss $(BUILD)/segloss

bench-quick: deps-test all
	/usr/bin/python3 bench/peers.py --quick --segloss $(BUILD)/segloss
	/usr/bin/python3 bench/memory.py --segloss $(BUILD)/segloss

# make install PREFIX=/usr/local DESTDIR=: the header, both libraries (the shared one versioned,
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
	install -m 644 include/segloss.h $(DESTDIR)$(INCDIR)/segloss.h
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
	rm -f $(DESTDIR)$(BINDIR)/segloss $(DESTDIR)$(INCDIR)/segloss.h \
		$(DESTDIR)$(LIBDIR)/libsegloss.a $(DESTDIR)$(LIBDIR)/libsegloss.so \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libsegloss.so.$(VERSION) \
		$(DESTDIR)$(PCDIR)/segloss.pc
	@if [ -n "$(PYDIR)" ]; then rm -rf $(DESTDIR)$(PYDIR)/segloss; fi

deps:
	@bash scripts/setup.sh build

deps-test:
	@bash scripts/setup.sh test

format:
	clang-format -i include/*.h src/*.c src/*.h src/kernels/*.c src/kernels/*.h cli/*.c tests/*.c tests/*.h

clean:
	rm -rf build build-san out

.PHONY: all tests test sanitize demo deps deps-test format clean bench bench-quick install \
	uninstall
.SECONDARY:
