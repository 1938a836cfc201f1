# cbpscan — build, test and demo.
#
#   make demo    install missing packages, build, scan a generated sample tree
#   make check   install missing packages, build, run every test (also under ASan+UBSan)
#   make deps    install the Debian packages the build and tests need (root, idempotent)
#   make fuzz    run every libFuzzer target for FUZZ_SECONDS each
#   make bench   build the benchmark tree and time cbpscan against other tools

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DATADIR   ?= $(PREFIX)/share/cbpscan
MANDIR    ?= $(PREFIX)/share/man
DESTDIR   ?=
PKG_CONFIG ?= pkg-config
PYTHON    ?= /usr/bin/python3
VERSION   := 0.1.0

CC        ?= cc
CLANG     ?= clang
LIBS_PC   := libmagic libarchive libisal libpcre2-8 libcurl libcrypto libfyaml libjpeg spng libtiff-4 libopenjp2 libwebp libgif sqlite3 zlib libseccomp jansson
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS   := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter
CPPFLAGS  += -Iinclude -D_GNU_SOURCE -DCBP_VERSION='"$(VERSION)"' -DCBP_DATADIR='"$(DATADIR)"'
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(PC_CFLAGS) -pthread -MMD -MP
LDLIBS    += $(PC_LIBS) -pthread -lm

# Sanitizer build: same sources, own object directory.
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS      := $(filter-out scanner/main.c,$(wildcard scanner/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

B         := build
BS        := build-asan
BF        := build-fuzz

OBJS      := $(SRCS:scanner/%.c=$(B)/obj/%.o)
SOBJS     := $(SRCS:scanner/%.c=$(BS)/obj/%.o)
FOBJS     := $(SRCS:scanner/%.c=$(BF)/obj/%.o)
UNITS     := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
SUNITS    := $(UNIT_SRCS:tests/unit/%.c=$(BS)/tests/%)
FUZZERS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(BF)/%)

FUZZ_SECONDS ?= 600
FUZZ_CHECK_SECONDS ?= 15

.PHONY: all deps demo check test unit unit-asan e2e e2e-asan fuzz fuzz-check fuzz-build \
	mancheck lint bench install uninstall clean

all: $(B)/cbpscan $(B)/cbpscan.mgc $(B)/cbpscan-faults

deps:
	@sh contrib/install-deps.sh

# ---- build ---------------------------------------------------------------

$(B)/obj/%.o: scanner/%.c | $(B)/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BS)/obj/%.o: scanner/%.c | $(BS)/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BF)/obj/%.o: scanner/%.c | $(BF)/obj
	$(CLANG) $(CPPFLAGS) $(ALL_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(B)/libcbp.a: $(OBJS)
	rm -f $@ && ar rcs $@ $^

$(BS)/libcbp.a: $(SOBJS)
	rm -f $@ && ar rcs $@ $^

$(B)/cbpscan: $(B)/obj/main.o $(B)/libcbp.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Tests only, never installed: the same scanner with scan.c's fault hooks
# (a file starting "CBPSCAN-FAULT:loop" makes a worker loop, and so on), to
# show what the parent does when a parser misbehaves.  The linker takes
# scan-faults.o's definitions, so the archive's scan.o is not pulled in.
$(B)/obj/scan-faults.o: scanner/scan.c | $(B)/obj
	$(CC) $(CPPFLAGS) -DCBP_FAULT_HOOKS $(ALL_CFLAGS) -c $< -o $@

$(B)/cbpscan-faults: $(B)/obj/main.o $(B)/obj/scan-faults.o $(B)/libcbp.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BS)/obj/scan-faults.o: scanner/scan.c | $(BS)/obj
	$(CC) $(CPPFLAGS) -DCBP_FAULT_HOOKS $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BS)/cbpscan-faults: $(BS)/obj/main.o $(BS)/obj/scan-faults.o $(BS)/libcbp.a
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BS)/cbpscan: $(BS)/obj/main.o $(BS)/libcbp.a
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(B)/obj/main.o: scanner/main.c | $(B)/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BS)/obj/main.o: scanner/main.c | $(BS)/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

# Our own magic entries, compiled by file(1) at build time: the fast
# identification database (see scanner/identify.c).
$(B)/cbpscan.mgc: rules/cbpscan.magic | $(B)
	cd $(B) && file -C -m ../rules/cbpscan.magic && mv -f cbpscan.magic.mgc cbpscan.mgc

$(BS)/cbpscan.mgc: $(B)/cbpscan.mgc | $(BS)
	cp $< $@

$(B) $(B)/obj $(B)/tests $(BS) $(BS)/obj $(BS)/tests $(BF) $(BF)/obj:
	mkdir -p $@

# ---- unit tests (cmocka, one binary per tests/unit/test_*.c) -------------

$(B)/tests/%: tests/unit/%.c $(B)/libcbp.a | $(B)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(B)/libcbp.a $(LDFLAGS) $(LDLIBS) $(CMOCKA_LIBS)

$(BS)/tests/%: tests/unit/%.c $(BS)/libcbp.a | $(BS)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SAN_FLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(BS)/libcbp.a $(LDFLAGS) $(LDLIBS) $(CMOCKA_LIBS)

export CBP_TESTDATA ?= $(abspath ../shared/testdata)

unit: $(UNITS) $(B)/cbpscan.mgc
	@CBP_TEST_STRICT=1 CBPSCAN_MAGIC=$(abspath $(B)/cbpscan.mgc) sh tests/run-units.sh $(UNITS)

unit-asan: $(SUNITS) $(BS)/cbpscan.mgc
	@CBP_TEST_STRICT=1 CBPSCAN_MAGIC=$(abspath $(BS)/cbpscan.mgc) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run-units.sh $(SUNITS)

# ---- end-to-end tests (the real binary, fixtures generated at test time) --

e2e: $(B)/cbpscan $(B)/cbpscan.mgc $(B)/cbpscan-faults
	CBP_TEST_STRICT=1 CBPSCAN=$(abspath $(B)/cbpscan) CBPSCAN_FAULTS=$(abspath $(B)/cbpscan-faults) $(PYTHON) -m pytest -q -p no:cacheprovider tests/cli

e2e-asan: $(BS)/cbpscan $(BS)/cbpscan.mgc $(BS)/cbpscan-faults
	CBP_TEST_STRICT=1 CBPSCAN=$(abspath $(BS)/cbpscan) CBPSCAN_FAULTS=$(abspath $(BS)/cbpscan-faults) CBP_SANITIZED=1 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/cli

# ---- fuzzing (libFuzzer, clang) ------------------------------------------

$(BF)/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(FOBJS)
	$(CLANG) $(CPPFLAGS) $(ALL_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< $(FOBJS) $(LDFLAGS) $(LDLIBS)

fuzz-build: $(FUZZERS)

fuzz: $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

fuzz-check: $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZ_CHECK_SECONDS) $(FUZZERS)

# ---- docs ----------------------------------------------------------------

mancheck:
	@for m in man/*.[0-9]; do mandoc -Tlint -W warning $$m || exit 1; done; echo "man pages: clean"

# Functions that have caused overflows elsewhere: use snprintf, bounded
# copies and strtoull with range checks instead.
BANNED := sprintf|vsprintf|strcpy|strcat|stpcpy|atoi|atol|atoll|gets|strtok|tmpnam|mktemp
lint:
	@if grep -nE '\<($(BANNED))[[:space:]]*\(' scanner/*.c include/*.h; then \
		echo "lint: banned function used (see above)"; exit 1; fi; echo "lint: no banned functions"

# ---- the two commands ----------------------------------------------------

demo: deps
	$(MAKE) all
	@sh contrib/demo.sh $(B)/cbpscan

test: unit e2e

check: deps
	$(MAKE) all
	$(MAKE) lint mancheck unit e2e
	$(MAKE) unit-asan e2e-asan
	$(MAKE) fuzz-check

$(B)/microbench: bench/microbench.c $(B)/libcbp.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(B)/libcbp.a $(LDFLAGS) $(LDLIBS)

# Known-image lists at scale: load time, memory, index vs brute force.
$(B)/known_bench: bench/known_bench.c $(B)/libcbp.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(B)/libcbp.a $(LDFLAGS) $(LDLIBS)

bench: all $(B)/microbench
	@sh contrib/install-deps.sh --bench
	@bash bench/run.sh

# ---- install -------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/cbpscan $(DESTDIR)$(BINDIR)/cbpscan
	install -m 644 $(B)/cbpscan.mgc $(DESTDIR)$(DATADIR)/cbpscan.mgc
	install -m 644 rules/*.yaml $(DESTDIR)$(DATADIR)/rules/
	install -m 644 contrib/cbpscan.conf $(DESTDIR)$(DATADIR)/cbpscan.conf.sample
	install -m 644 man/cbpscan.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cbpscan $(DESTDIR)$(MANDIR)/man1/cbpscan.1 \
		$(DESTDIR)$(MANDIR)/man5/cbpscan-rules.5 $(DESTDIR)$(MANDIR)/man5/cbpscan.conf.5
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf $(B) $(BS) $(BF)

# Objects are made through pattern rules; keep them so a rebuild is incremental.
.SECONDARY:

-include $(OBJS:.o=.d) $(SOBJS:.o=.d) $(FOBJS:.o=.d) $(B)/obj/main.d $(BS)/obj/main.d \
	$(B)/obj/scan-faults.d $(BS)/obj/scan-faults.d
