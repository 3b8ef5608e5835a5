# vram-swap: plain Makefile in the earlyoom tradition.
# `make` builds, `make check` tests everything, `make install` honours
# DESTDIR and PREFIX.

VERSION    := $(shell cat VERSION)
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/lib/vram-swap
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/vram-swap
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?= -Werror
WARN    := -std=c11 -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wvla \
           -Wmissing-prototypes -Wstrict-prototypes
CPPFLAGS += -D_GNU_SOURCE -DVS_VERSION='"$(VERSION)"' -Isrc
LDLIBS  += -pthread -ldl

BUILD ?= build
SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
OBJS := $(SRCS:src/%.c=$(BUILD)/%.o)

.PHONY: all check install uninstall clean deb rpm bench e2e
all: $(BUILD)/vram-swapd $(BUILD)/vram-swap-excl $(BUILD)/vram-swap-holder

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libvs.a: $(OBJS)
	$(AR) rcs $@ $^

$(BUILD)/vram-swapd: $(BUILD)/main.o $(BUILD)/libvs.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The shell front's interlock with the kernel (libexec/vram-swap-excl.c).
$(BUILD)/vram-swap-excl: libexec/vram-swap-excl.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Keeps the daemon's pages while no daemon runs, where systemd does not
# (libexec/vram-swap-holder.c).
$(BUILD)/vram-swap-holder: libexec/vram-swap-holder.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD):
	mkdir -p $@

-include $(wildcard $(BUILD)/*.d)

# check-deps installs the packages every other check needs, so it must be
# the first prerequisite of check: the mk/*.mk files each add theirs after.
check: check-deps

include mk/*.mk

clean:
	rm -rf build build-*
