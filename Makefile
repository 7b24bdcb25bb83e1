# SPDX-License-Identifier: MIT
# pvnet - one Makefile, several build variants in separate output folders:
#   make                      release build (gcc) in build/
#   make CC=clang O=build-clang
#   make SAN=1 O=build-asan   AddressSanitizer + UndefinedBehaviorSanitizer
#   make TSAN=1 O=build-tsan  ThreadSanitizer (not with SAN=1)
#   make fuzz O=build-fuzz    libFuzzer targets (clang)
#   make check                unit tests of this variant (tests/run runs everything)
#   make man                  man pages from the --help texts, in $(O)/man
#   make install              binary, systemd unit, man pages, example config
#                             (PREFIX=/usr/local, DESTDIR=); make uninstall

CC	?= gcc
O	?= build
SAN	?= 0
TSAN	?= 0
PKG_CONFIG ?= pkg-config

WARN	:= -Wall -Wextra -Werror -Wvla -Wshadow -Wformat=2 -Wno-format-nonliteral \
	   -Wmissing-prototypes -Wstrict-prototypes
CSTD	:= -std=gnu11
CPPFLAGS += -Iinclude -D_GNU_SOURCE -MMD -MP
DEPLIBS	:= $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null || echo -ljansson)
DEPLIBS	+= $(shell $(PKG_CONFIG) --libs libpcap 2>/dev/null || echo -lpcap)
# -lm: the bench report's rounding (src/ctl/bench_report.c)
DEPLIBS	+= -lm
# libseccomp is optional: without it `pvnet switch --sandbox` says so.
ifeq ($(shell $(PKG_CONFIG) --exists libseccomp 2>/dev/null && echo y),y)
CPPFLAGS += -DPV_HAVE_SECCOMP
DEPLIBS	+= $(shell $(PKG_CONFIG) --libs libseccomp)
endif

ifeq ($(SAN)$(TSAN),11)
$(error SAN=1 and TSAN=1 are exclusive: ASan and TSan cannot share a process)
endif
ifeq ($(SAN),1)
OPT	:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined
LDSAN	:= -fsanitize=address,undefined
else ifeq ($(TSAN),1)
# ThreadSanitizer for the concurrency tests (tests/run runs only those under
# it: the others are single-threaded and TSan slows everything 5-15x).
OPT	:= -O1 -g -fno-omit-frame-pointer -fsanitize=thread
LDSAN	:= -fsanitize=thread
# gcc warns that TSan does not model atomic_thread_fence. Ours (pv_smp_mb)
# order the ring's index and event words against the peer across guest
# memory, which TSan cannot see from either side anyway.
ifeq ($(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo gcc),gcc)
OPT	+= -Wno-tsan
endif
else
# _FORTIFY_SOURCE needs optimisation; add it only if the compiler does not.
FORTIFY	:= $(shell echo | $(CC) -O2 -dM -E - 2>/dev/null | grep -q _FORTIFY_SOURCE || echo -D_FORTIFY_SOURCE=2)
OPT	:= -O2 -g $(FORTIFY)
LDSAN	:=
endif

# Link-time optimisation of the pvnet binary in gcc release builds: a
# packet's path crosses virtio/, port/, pkt/ and switch/, and inlining
# across them cuts ~8 % of the instructions per forwarded packet (callgrind,
# peers loopback). Fat objects, so tests and helpers link the same objects
# without it (an LTO link per test binary would add minutes). LTO= turns it off.
ifeq ($(SAN)$(TSAN)$(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo gcc),00gcc)
LTO	?= -flto=auto -ffat-lto-objects
endif

HARDEN	:= -fstack-protector-strong -fPIE
LDHARDEN := -pie -Wl,-z,relro,-z,now

CFLAGS	?=
CFLAGS	+= $(CSTD) $(WARN) $(OPT) $(HARDEN) $(LTO) -pthread
LDFLAGS	+= $(LDHARDEN) $(LDSAN) -pthread

# The product: every module under src/ except the command-line entry point.
LIB_SRCS := $(filter-out src/ctl/main.c,$(wildcard src/*/*.c))
LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(LIB_SRCS))
MAIN_OBJ := $(O)/src/ctl/main.o

TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(patsubst %.c,$(O)/%.o,$(TESTLIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))

BENCH_SRCS := $(wildcard bench/micro/*.c)
BENCH_BINS := $(patsubst bench/micro/%.c,$(O)/bench/%,$(BENCH_SRCS))

HELPER_SRCS := $(wildcard tests/peer/*.c)
HELPER_BINS := $(patsubst tests/peer/%.c,$(O)/tests/peer/%,$(HELPER_SRCS))

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))

GIT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# The man pages' date: the last commit's, so a rebuild gives the same pages.
MAN_DATE := $(shell git log -1 --format=%cd --date=short 2>/dev/null || date -u +%Y-%m-%d)

# Install locations. The unit and the config directory are fixed by what
# systemd and the unit expect: /etc/pvnet whatever the PREFIX.
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/pvnet
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL	?= install

.PHONY: all pvnet tests bench helpers fuzz check clean man install uninstall
# Keep objects of pattern-rule binaries (no rebuild on every make).
.SECONDARY:
all: pvnet tests bench helpers

pvnet: $(O)/pvnet
tests: $(UNIT_BINS)
bench: $(BENCH_BINS)
helpers: $(HELPER_BINS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(O)/src/ctl/main.o: CPPFLAGS += -DPVNET_VERSION='"$(GIT_VERSION)"'

$(O)/libpvnet.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(O)/pvnet: $(MAIN_OBJ) $(O)/libpvnet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEPLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJS) $(O)/libpvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(DEPLIBS)

# Test hooks: code under PV_TEST_HOOKS (port_vhost.c's lease hook) is in
# no object of libpvnet.a, so not in pvnet. A test that uses one links the
# file's second object, built with the flag, ahead of the archive: every
# symbol the archive's own object would give is then defined, so the
# linker never takes that object from the archive.
TEST_HOOK_OBJS := $(O)/src/port/port_vhost.hooks.o

$(O)/%.hooks.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DPV_TEST_HOOKS $(CFLAGS) -c $< -o $@

$(O)/tests/test_contract: $(O)/tests/unit/test_contract.o $(TESTLIB_OBJS) \
			  $(TEST_HOOK_OBJS) $(O)/libpvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(DEPLIBS)

$(O)/tests/peer/%: $(O)/tests/peer/%.o $(TESTLIB_OBJS) $(O)/libpvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEPLIBS)

$(O)/bench/%: $(O)/bench/micro/%.o $(O)/libpvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEPLIBS)

# libFuzzer: the library and targets are instrumented; only targets get the
# fuzzer main. Always clang, always with ASan+UBSan.
FUZZ_CFLAGS := $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer -pthread \
	       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) O=$(O) CC=clang SAN=0 TSAN=0 CFLAGS="$(FUZZ_CFLAGS)" \
		LDHARDEN= LDSAN="-fsanitize=address,undefined" HARDEN= fuzz-bins

.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_BINS)

$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(TESTLIB_OBJS) $(O)/libpvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(DEPLIBS)

# One page per command `pvnet --help` lists, made from its --help text.
# The pages name the doc and config directories: made again when they change.
man: $(O)/man/.stamp
$(O)/man/.stamp: $(O)/pvnet tools/mkman.sh $(O)/man/.dirs
	@rm -f $(O)/man/*.8
	MKMAN_DOCDIR=$(DOCDIR) MKMAN_SYSCONFDIR=$(SYSCONFDIR) \
		tools/mkman.sh $(O)/pvnet $(O)/man $(MAN_DATE) >/dev/null
	@touch $@
$(O)/man/.dirs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(DOCDIR) $(SYSCONFDIR)' | cmp -s - $@ || echo '$(DOCDIR) $(SYSCONFDIR)' > $@
.PHONY: FORCE
FORCE:

# The unit is written with this PREFIX's paths at each install.
install: $(O)/pvnet $(O)/man/.stamp
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/pvnet $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(O)/pvnet $(DESTDIR)$(BINDIR)/pvnet
	$(INSTALL) -m 0644 $(O)/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		dist/pvnet.service.in > $(DESTDIR)$(UNITDIR)/pvnet.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pvnet.service
	$(INSTALL) -m 0644 dist/pvnet.json.example \
		$(DESTDIR)$(SYSCONFDIR)/pvnet/pvnet.json.example
	$(INSTALL) -m 0644 README.md docs/*.md dist/pvnet.json.example \
		$(DESTDIR)$(DOCDIR)/

# What install put there (the man pages by name, as `pvnet --help` lists
# them now), and the directories if that left them empty. A pvnet.json
# the administrator wrote stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pvnet $(DESTDIR)$(UNITDIR)/pvnet.service \
		$(DESTDIR)$(SYSCONFDIR)/pvnet/pvnet.json.example \
		$(DESTDIR)$(MANDIR)/man8/pvnet.8 $(DESTDIR)$(MANDIR)/man8/pvnet-*.8
	rm -rf $(DESTDIR)$(DOCDIR)
	rmdir $(DESTDIR)$(SYSCONFDIR)/pvnet 2>/dev/null || true

check: tests
	@for t in $(UNIT_BINS); do echo "== $$t"; timeout 120 $$t || exit 1; done

clean:
	rm -rf build build-*

-include $(shell find $(O) -name '*.d' 2>/dev/null)
