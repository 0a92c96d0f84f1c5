# wicket build.  Objects go to $(BUILD) (build/ by default, build/asan with
# SANITIZE=1, so the two never mix).  Dependencies come from pkg-config.
#
#   make               build wicketd, wicket-sim and the plugins
#   make deps          apt-get install everything needed to build, test, demo
#   make check         unit tests (cmocka) and integration tests (pytest)
#   make demo          simulated gate, local broker, wicketd deciding passages
#   make install       DESTDIR=... PREFIX=... SYSCONFDIR=...
#   make SANITIZE=1    AddressSanitizer + UBSan build (and check)
#   make CC=clang      the same with clang
#   make deb           a Debian package in build/ (PREFIX=/usr)
#   make deps-cross    cross compilers, qemu-user, -dev packages for arm64
#   make CROSS=aarch64-linux-gnu             everything (and the unit tests)
#                      for the board, in build/aarch64-linux-gnu
#   make CROSS=aarch64-linux-gnu check-unit  the unit tests under qemu-aarch64
#   (CROSS=arm-linux-gnueabihf for 32-bit boards: armhf and qemu-arm)
#   make deps-vm       a Debian kernel with its headers and source, qemu
#   make check-vm      the GPIO code against the kernel's gpio-sim, in a VM

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
LOCALSTATEDIR ?= /var
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
PLUGINDIR  ?= $(LIBDIR)/wicket/plugins
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/wicket
UNITDIR    ?= $(LIBDIR)/systemd/system

# Cross builds.  CROSS is a GNU triplet for which Debian has a cross
# compiler; the libraries are the multiarch -dev packages of the board's
# architecture, found by the triplet's pkg-config (pkgconf:ARCH), and the
# unit tests run under qemu-user.  The outputs go to build/TRIPLET, never
# mixed with the native ones.  Integration tests, valgrind, the demo and the
# benches stay native.
DEB_ARCH_aarch64-linux-gnu   := arm64
DEB_ARCH_arm-linux-gnueabihf := armhf
QEMU_aarch64-linux-gnu       := qemu-aarch64
QEMU_arm-linux-gnueabihf     := qemu-arm
ifneq ($(CROSS),)
ifeq ($(origin CC),default)
CC         := $(CROSS)-gcc
endif
PKG_CONFIG ?= $(CROSS)-pkg-config
EMULATOR   ?= $(QEMU_$(CROSS))
NATIVE_ONLY := $(filter check check-integration check-valgrind demo bench-run,$(MAKECMDGOALS))
ifneq ($(NATIVE_ONLY),)
$(error CROSS=$(CROSS): $(NATIVE_ONLY) runs natively only; use make CROSS=$(CROSS) check-unit)
endif
endif
PKG_CONFIG ?= pkg-config

# The -dev packages of the libraries we link, for deps and deps-cross.
DEV_PKGS   := libmodbus-dev libmosquitto-dev libinih-dev libsqlite3-dev \
              libssl-dev libcmocka-dev libqrencode-dev libpng-dev libgpiod-dev

ifeq ($(SANITIZE),1)
BUILD      ?= build$(if $(CROSS),/$(CROSS))/asan
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD      ?= build$(if $(CROSS),/$(CROSS))
SANFLAGS   :=
endif

PKGS       := libmodbus libmosquitto inih sqlite3 libssl libcrypto
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
# Drawing QR codes (wicketctl pass issue --qr) is wicketctl's alone:
# wicketd reads pass tokens and never links these.
CTL_PKGS   := libqrencode libpng
CTL_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CTL_PKGS) 2>/dev/null)
CTL_PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(CTL_PKGS) 2>/dev/null)
# Say what is missing now rather than fail later on a header.
ifneq ($(CROSS),)
ifeq ($(filter deps-cross clean,$(MAKECMDGOALS)),)
ifneq ($(shell $(PKG_CONFIG) --exists $(PKGS) $(CTL_PKGS) cmocka 2>/dev/null && echo ok),ok)
$(error CROSS=$(CROSS): $(PKG_CONFIG) does not find $(PKGS) $(CTL_PKGS) cmocka; run make deps-cross CROSS=$(CROSS))
endif
endif
endif

WARN       := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
              -Wformat=2 -Wvla -Werror
CFLAGS     ?= -O2 -g
# 64-bit time_t and file offsets on 32-bit boards too (armhf), so the
# clock does not end in 2038; no change on 64-bit.
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64 \
              $(WARN) -fPIC $(SANFLAGS) \
              -Iinclude -Idaemon -Iplugins/modbus $(PKG_CFLAGS) \
              -DWICKET_VERSION='"$(VERSION)"' \
              -DWICKET_PLUGINDIR='"$(PLUGINDIR)"' \
              -DWICKET_SYSCONFDIR='"$(SYSCONFDIR)"' \
              -DWICKET_STATEDIR='"$(LOCALSTATEDIR)/lib/wicket"' \
              $(CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)

# daemon/main.c is the program; the rest of daemon/ is also linked into the
# unit tests.  inifile and confval are shared with the tools and plugins.
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
SHARED_OBJ := $(BUILD)/daemon/confval.o $(BUILD)/daemon/inifile.o
MODBUS_MAP_OBJ := $(BUILD)/plugins/modbus/regmap.o $(BUILD)/plugins/modbus/mbmap.o
# The bus layer every Modbus plugin links: one copy in the process, so
# devices of different plugins on one serial line share one bus.
MODBUS_LIB_OBJ := $(MODBUS_MAP_OBJ) $(BUILD)/plugins/modbus/mbdev.o \
                  $(BUILD)/daemon/confval.o
MODBUS_LIB := $(BUILD)/plugins/libwicket-modbus.so
MODBUS_LIBS := $(shell $(PKG_CONFIG) --libs libmodbus 2>/dev/null)
MODBUS_PLUGINS := thermal gate reader
PLUGIN_SO  := $(MODBUS_PLUGINS:%=$(BUILD)/plugins/modbus-%.so)
# The other plugins and their shared libraries (issue 6): each part below
# appends its own to PLUGIN_SO and PLUGIN_LIBS, here, before `all`.
PLUGIN_LIBS :=
.DEFAULT_GOAL := all

# --- GPIO: libwicket-gpio.so, the gpio and wiegand plugins ---
# The line library (plugins/gpio/gpioline.h): the kernel's chips through
# libgpiod 1.6 (gpiod1.c) and the simulated chip (gpiosim.c).  One copy in
# the process, so the gpio and wiegand plugins share a chip, and a
# simulated chip is one socket.
GPIO_LIB_OBJ := $(BUILD)/plugins/gpio/gpioline.o $(BUILD)/plugins/gpio/gpiod1.o \
                $(BUILD)/plugins/gpio/gpiosim.o
GPIO_LIB   := $(BUILD)/plugins/libwicket-gpio.so
GPIO_LIBS  := $(shell $(PKG_CONFIG) --libs libgpiod 2>/dev/null)
GPIO_PLUGIN_OBJ := $(BUILD)/plugins/gpio/gpio.o $(BUILD)/plugins/gpio/debounce.o \
                   $(BUILD)/plugins/gpio/pattern.o $(BUILD)/daemon/confval.o
# The gpio plugin's test program (tests/gpio/): named like a unit test so
# that tests/run-unit runs it with them.
GPIO_TEST  := $(BUILD)/tests/test_gpio_plugin
PLUGIN_LIBS += $(GPIO_LIB)
PLUGIN_SO  += $(BUILD)/plugins/gpio.so

$(GPIO_LIB): $(GPIO_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libwicket-gpio.so -o $@ $^ \
	  $(GPIO_LIBS) -lpthread

$(BUILD)/plugins/gpio.so: $(GPIO_PLUGIN_OBJ) $(GPIO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $(GPIO_PLUGIN_OBJ) -L$(BUILD)/plugins \
	  -lwicket-gpio -Wl,-rpath,'$$ORIGIN' -lpthread

$(GPIO_TEST): $(BUILD)/tests/gpio/gpio_plugin_test.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ldl -lpthread

check check-unit check-valgrind: $(GPIO_TEST) $(BUILD)/plugins/gpio.so

# the simulated chip's command parser (fuzz_gpiosim.c includes gpiosim.c)
FUZZ_SRC_gpiosim := tests/fuzz/fuzz_gpiosim.c
build/fuzz/fuzz_gpiosim: plugins/gpio/gpiosim.c plugins/gpio/gpiosim.h \
                         plugins/gpio/glbackend.h plugins/gpio/gpioline.h

# The wiegand plugin: the decoder (daemon/wiegand.c) and confval compiled
# in, the lines from libwicket-gpio.so.  Its test program (tests/gpio/)
# is named like a unit test too.
WIEGAND_PLUGIN_OBJ := $(BUILD)/plugins/gpio/wiegand.o $(BUILD)/daemon/wiegand.o \
                      $(BUILD)/daemon/confval.o
WIEGAND_TEST := $(BUILD)/tests/test_wiegand_plugin
PLUGIN_SO  += $(BUILD)/plugins/wiegand.so

$(BUILD)/plugins/wiegand.so: $(WIEGAND_PLUGIN_OBJ) $(GPIO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $(WIEGAND_PLUGIN_OBJ) -L$(BUILD)/plugins \
	  -lwicket-gpio -Wl,-rpath,'$$ORIGIN' -lpthread

$(WIEGAND_TEST): $(BUILD)/tests/gpio/wiegand_plugin_test.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ldl -lpthread

check check-unit check-valgrind: $(WIEGAND_TEST) $(BUILD)/plugins/wiegand.so

# --- the serial scanner plugin ---
# The line reader and confval are compiled in: plugins never link daemon
# symbols.  -Bsymbolic keeps the plugin's calls on its own copies.
SCANNER_OBJ := $(BUILD)/plugins/serial/scanner.o $(BUILD)/daemon/linereader.o \
               $(BUILD)/daemon/confval.o
PLUGIN_SO  += $(BUILD)/plugins/serial-scanner.so

$(BUILD)/plugins/serial-scanner.so: $(SCANNER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-Bsymbolic -o $@ $^ -lpthread

CTL_SRC    := $(wildcard tools/wicketctl/*.c)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/%.o)
SIM_SRC    := $(wildcard tools/wicket-sim/*.c)
SIM_OBJ    := $(SIM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTPLUG_SRC := $(wildcard tests/plugins/*.c)
TESTPLUG_SO  := $(TESTPLUG_SRC:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)

.PHONY: all deps deps-cross check check-unit check-integration check-valgrind demo install clean
# A cross build also builds the unit tests, to run under qemu or on the board.
all: $(BUILD)/wicketd $(BUILD)/wicketctl $(BUILD)/wicket-sim $(PLUGIN_SO) $(PLUGIN_LIBS) \
     $(if $(CROSS),$(UNIT_BIN) $(TESTPLUG_SO))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/wicketd: $(BUILD)/daemon/main.o $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl -lpthread -lm

$(CTL_OBJ): ALL_CFLAGS += $(CTL_PKG_CFLAGS)
$(BUILD)/wicketctl: $(CTL_OBJ) $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CTL_PKG_LIBS) $(PKG_LIBS) -ldl -lpthread -lm

$(BUILD)/wicket-sim: $(SIM_OBJ) $(MODBUS_MAP_OBJ) $(SHARED_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(MODBUS_LIB): $(MODBUS_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libwicket-modbus.so -o $@ $^ \
	  $(MODBUS_LIBS) -lpthread -lm

$(BUILD)/plugins/modbus-%.so: $(BUILD)/plugins/modbus/%.o $(MODBUS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $< -L$(BUILD)/plugins -lwicket-modbus \
	  -Wl,-rpath,'$$ORIGIN' $(MODBUS_LIBS) -lpthread -lm

$(BUILD)/tests/plugins/%.so: $(BUILD)/tests/plugins/%.o
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $^

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(DAEMON_OBJ) $(MODBUS_MAP_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -ldl -lpthread -lm

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	  make gcc clang libclang-rt-14-dev pkg-config libc6-dev $(DEV_PKGS) \
	  mosquitto mosquitto-clients openssl sqlite3 socat gpiod \
	  python3 python3-pytest python3-paho-mqtt python3-pymodbus python3-serial \
	  python3-serial-asyncio valgrind \
	  dpkg-dev systemd shellcheck zbar-tools

# For the triplet in CROSS (arm64 by default): the architecture in dpkg, the
# cross compiler, qemu-user, and the -dev packages of that architecture next
# to the native ones (Multi-Arch: same, so they must be the same versions).
CROSS_TRIPLETS := $(or $(CROSS),aarch64-linux-gnu)
CROSS_ARCHS = $(foreach t,$(CROSS_TRIPLETS),$(or $(DEB_ARCH_$t),$(error CROSS=$t: no Debian architecture known for it)))
deps-cross:
	for a in $(CROSS_ARCHS); do dpkg --add-architecture $$a; done
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	  make qemu-user $(CROSS_TRIPLETS:%=gcc-%) \
	  $(foreach a,$(CROSS_ARCHS),libc6-dev-$a-cross pkgconf:$a $(DEV_PKGS:%=%:$a))

check: all $(UNIT_BIN) $(TESTPLUG_SO)
	@BUILD=$(BUILD) tests/run-unit
	@WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

check-unit: all $(UNIT_BIN) $(TESTPLUG_SO)
	@BUILD=$(BUILD) EMULATOR='$(EMULATOR)' tests/run-unit

# The same suite with every program under valgrind memcheck.
check-valgrind: all $(UNIT_BIN) $(TESTPLUG_SO)
	@VALGRIND=1 BUILD=$(BUILD) tests/run-unit
	@WICKET_VALGRIND=1 WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

check-integration: all $(TESTPLUG_SO)
	@WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

demo: all
	@WICKET_BUILD=$(abspath $(BUILD)) tools/demo/run-demo

# The plugin, configuration and state directories are compiled in, so the
# programs must be built for the directories they are installed to: one
# `make install PREFIX=/usr` builds and installs.  Objects built before for
# other directories are not rebuilt (make does not track flags): install
# checks wicketd and refuses them; make clean, or use another BUILD=.
# The unit, sysusers.d and udev files go under LIBDIR, where systemd and
# udev look for PREFIX=/usr and /usr/local.  After installing by hand (the
# package does this itself):
#   systemd-sysusers; udevadm control --reload; systemctl daemon-reload
SYSUSERSDIR  ?= $(LIBDIR)/sysusers.d
UDEVRULESDIR ?= $(LIBDIR)/udev/rules.d
install: all
	@for p in '$(PLUGINDIR)' '$(SYSCONFDIR)/wicket/rules.json' '$(LOCALSTATEDIR)/lib/wicket'; do \
	  grep -qazxF "$$p" $(BUILD)/wicketd || { \
	    echo "make install: $(BUILD)/wicketd was built for other directories (not for $$p):" \
	      "make clean, or build in another BUILD= with this PREFIX, SYSCONFDIR and LOCALSTATEDIR" >&2; \
	    exit 1; }; \
	done
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/wicket/profiles $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(UDEVRULESDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(DOCDIR)
	install -m 755 $(BUILD)/wicketd $(DESTDIR)$(SBINDIR)/wicketd
	install -m 755 $(BUILD)/wicket-sim $(DESTDIR)$(BINDIR)/wicket-sim
	install -m 755 $(BUILD)/wicketctl $(DESTDIR)$(BINDIR)/wicketctl
	install -m 644 $(PLUGIN_SO) $(MODBUS_LIB) $(PLUGIN_LIBS) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 etc/wicket/wicketd.conf $(DESTDIR)$(SYSCONFDIR)/wicket/wicketd.conf.example
	install -m 644 etc/wicket/profiles/*.conf $(DESTDIR)$(SYSCONFDIR)/wicket/profiles/
	install -m 644 etc/wicket/rules.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json.example
	install -m 644 etc/wicket/rules-cases.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules-cases.json.example
	# the shipped policy, unless the administrator has rules already
	[ -e $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json ] || \
	  install -m 644 etc/wicket/rules.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/wicketd.service.in > $(BUILD)/wicketd.service
	install -m 644 $(BUILD)/wicketd.service $(DESTDIR)$(UNITDIR)/wicketd.service
	install -m 644 systemd/wicket.sysusers $(DESTDIR)$(SYSUSERSDIR)/wicket.conf
	install -m 644 systemd/60-wicket-gpio.rules $(DESTDIR)$(UDEVRULESDIR)/60-wicket-gpio.rules
	install -m 644 tools/wicket-sim/wicket-sim.1 tools/wicketctl/wicketctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 daemon/wicketd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 daemon/wicketd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

# make deb: $(DEB_OUT)/wicket_$(VERSION)_ARCH.deb (packaging/deb/build-deb).
# Built in its own $(DEB_BUILD) for PREFIX=/usr and SYSCONFDIR=/etc, never
# mixed with build/; with CROSS= for the board.  The package tree is staged
# in a temporary directory outside build/ (its sysusers.d and rules.d
# directories would be taken for dependency files there); under make -n,
# which runs this recipe for its $(MAKE), build-deb is only shown.  Needs
# dpkg-dev.
DEB_BUILD ?= $(BUILD)/deb
DEB_OUT   ?= build
.PHONY: deb
deb:
	@stage=$$(mktemp -d) && trap 'rm -rf "$$stage"' EXIT && \
	$(MAKE) install SANITIZE=0 BUILD=$(DEB_BUILD) PREFIX=/usr SYSCONFDIR=/etc \
	  LOCALSTATEDIR=/var DESTDIR=$$stage/debian/wicket && \
	$(if $(findstring n,$(firstword -$(MAKEFLAGS))),echo )packaging/deb/build-deb \
	  $$stage $(VERSION) $(DEB_OUT)

clean:
	rm -rf build

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)

# Fuzz targets (libFuzzer, clang): one per parser of untrusted input.
#   make fuzz               build them in build/fuzz
#   make fuzz-run           run each for FUZZ_SECONDS on its seed corpus
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
               -Iinclude -Idaemon -Iplugins/modbus $(PKG_CFLAGS) \
               -DWICKET_VERSION='"$(VERSION)"' -DWICKET_PLUGINDIR='"$(PLUGINDIR)"' \
               -DWICKET_SYSCONFDIR='"$(SYSCONFDIR)"' -DWICKET_STATEDIR='"/tmp/wicket-fuzz"'
FUZZ_TARGETS := config scenario modbus json rules registry simframe control admin linereader wiegand pass gpiosim
FUZZ_SRC_config   := tests/fuzz/fuzz_config.c $(DAEMON_SRC)
FUZZ_SRC_scenario := tests/fuzz/fuzz_scenario.c tools/wicket-sim/scenario.c daemon/confval.c
FUZZ_SRC_simframe := tests/fuzz/fuzz_simframe.c tools/wicket-sim/frame.c
FUZZ_SRC_control  := tests/fuzz/fuzz_control.c daemon/control.c daemon/loop.c \
                     daemon/jsontree.c daemon/json.c daemon/log.c daemon/confval.c
FUZZ_SRC_json     := tests/fuzz/fuzz_json.c daemon/jsontree.c daemon/confval.c
FUZZ_SRC_rules    := tests/fuzz/fuzz_rules.c $(DAEMON_SRC)
FUZZ_SRC_registry := tests/fuzz/fuzz_registry.c $(DAEMON_SRC)
FUZZ_SRC_modbus   := tests/fuzz/fuzz_modbus.c plugins/modbus/regmap.c plugins/modbus/mbmap.c daemon/confval.c
FUZZ_SRC_admin    := tests/fuzz/fuzz_admin.c daemon/admin.c daemon/jsontree.c daemon/confval.c \
                     daemon/fsutil.c
FUZZ_SRC_pass     := tests/fuzz/fuzz_pass.c daemon/pass.c daemon/admin.c daemon/jsontree.c \
                     daemon/confval.c daemon/fsutil.c
FUZZ_SRC_linereader := tests/fuzz/fuzz_linereader.c daemon/linereader.c
FUZZ_SRC_wiegand  := tests/fuzz/fuzz_wiegand.c daemon/wiegand.c

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard daemon/*.c daemon/*.h plugins/modbus/*.c tools/wicket-sim/scenario.* tools/wicket-sim/frame.*)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRC_$*) $(PKG_LIBS) -ldl -lpthread -lm

fuzz-run: fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus-$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
	    > build/fuzz/$$t.log 2>&1 || { tail -40 build/fuzz/$$t.log; exit 1; }; \
	  tail -1 build/fuzz/$$t.log; \
	done

# Benchmarks for issues 4 and 5: programs that print figures, not timed
# tests.  bench/run starts its own broker on a free port and prints
# MET / NOT MET per target; it fails only when a program does.
# modbus_latency and modbus_load (issue 5) run the real wicketd, wicket-sim
# and mosquitto (and socat), so bench-run builds those too.
#   make bench              build them in $(BUILD)/bench
#   make bench-run          run them all and print every figure
BENCH_SRC := $(filter-out bench/common.c bench/proc.c,$(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: bench bench-run
bench: $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/common.o $(BUILD)/bench/proc.o $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm -ldl

bench-run: all bench
	@BUILD=$(BUILD) bench/run

# --- make check-vm: the GPIO code against the kernel's gpio-sim driver ---
# Debian's own 6.1 kernel in qemu (TCG) with a busybox initramfs; gpio-sim
# built out of tree from linux-source against the same kernel's headers
# (tests/vm/build-module).  The programs run inside the VM against
# /dev/gpiochipN and sim_gpioN/pull in sysfs; tests/vm/run reads their
# results from the serial port.  The module and the kernel are kept in
# $(BUILD)/vm.  docs/testing.md says more.
#   make deps-vm    the kernel, its headers and source, qemu, busybox
#   make check-vm   build, boot, run the checks (30-45 s)
# The kernel is the one linux-headers-amd64 points at now; image, headers
# and linux-source all come from that one kernel upload.
.PHONY: deps-vm check-vm
deps-vm:
	apt-get update
	@abi=$$(apt-cache depends linux-headers-amd64 | \
	  sed -n 's/^ *Depends: linux-headers-\([0-9.]*-[0-9]*-amd64\)$$/\1/p' | head -n 1); \
	series=$$(echo "$$abi" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p'); \
	if [ -z "$$abi" ] || [ -z "$$series" ]; then \
	  echo "deps-vm: apt-cache does not say which kernel linux-headers-amd64 is" >&2; exit 1; fi; \
	echo "deps-vm: kernel $$abi, linux-source-$$series"; \
	set -x; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	  qemu-system-x86 busybox-static cpio xz-utils kmod make gcc pkg-config libgpiod-dev \
	  linux-image-$$abi linux-headers-$$abi linux-source-$$series

$(BUILD)/tests/vm/gpio_smoke: tests/vm/gpio_smoke.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags libgpiod 2>/dev/null) $(ALL_LDFLAGS) \
	  -o $@ $< $(shell $(PKG_CONFIG) --libs libgpiod 2>/dev/null)

check-vm: all $(BUILD)/tests/vm/gpio_smoke $(GPIO_TEST) $(WIEGAND_TEST)
	@BUILD=$(BUILD) tests/vm/run
