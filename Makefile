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
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) $(SAN) -Iinclude -Isrc
LDLIBS  := -lz -lm

LIB_SRC  := $(sort $(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
PIC_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/pic/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

all: $(BUILD)/libsegloss.a $(BUILD)/libsegloss.so $(BUILD)/segloss

$(BUILD)/obj/%.o: src/%.c include/segloss.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: src/%.c include/segloss.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libsegloss.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libsegloss.so: $(PIC_OBJ)
	$(CC) -shared $(SAN) -o $@ $^ $(LDLIBS)

CLI_SRC := $(sort $(wildcard cli/*.c))

$(BUILD)/segloss: $(CLI_SRC) $(wildcard cli/*.h) $(BUILD)/libsegloss.a
	$(CC) $(ALL_CFLAGS) -Icli -o $@ $(CLI_SRC) $(BUILD)/libsegloss.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libsegloss.a
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

deps:
	@bash scripts/setup.sh build

deps-test:
	@bash scripts/setup.sh test

format:
	clang-format -i include/*.h src/*.c src/*.h cli/*.c tests/*.c tests/*.h

clean:
	rm -rf build build-san out

.PHONY: all tests test sanitize demo deps deps-test format clean
.SECONDARY:
