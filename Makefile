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

ifeq ($(SANITIZE),1)
BUILD      ?= build/asan
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD      ?= build
SANFLAGS   :=
endif

PKGS       := libmodbus libmosquitto inih sqlite3 libssl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN       := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
              -Wformat=2 -Wvla -Werror
CFLAGS     ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fPIC $(SANFLAGS) \
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
MODBUS_LIBS := $(shell pkg-config --libs libmodbus)
MODBUS_PLUGINS := thermal gate reader
PLUGIN_SO  := $(MODBUS_PLUGINS:%=$(BUILD)/plugins/modbus-%.so)
CTL_SRC    := $(wildcard tools/wicketctl/*.c)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/%.o)
SIM_SRC    := $(wildcard tools/wicket-sim/*.c)
SIM_OBJ    := $(SIM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTPLUG_SRC := $(wildcard tests/plugins/*.c)
TESTPLUG_SO  := $(TESTPLUG_SRC:tests/plugins/%.c=$(BUILD)/tests/plugins/%.so)

.PHONY: all deps check check-unit check-integration check-valgrind demo install clean
all: $(BUILD)/wicketd $(BUILD)/wicketctl $(BUILD)/wicket-sim $(PLUGIN_SO)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/wicketd: $(BUILD)/daemon/main.o $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl -lpthread -lm

$(BUILD)/wicketctl: $(CTL_OBJ) $(DAEMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl -lpthread -lm

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
	  make gcc clang libclang-rt-14-dev pkg-config libc6-dev \
	  libmodbus-dev libmosquitto-dev libinih-dev libsqlite3-dev libssl-dev \
	  libcmocka-dev mosquitto mosquitto-clients openssl sqlite3 socat \
	  python3 python3-pytest python3-paho-mqtt python3-pymodbus python3-serial \
	  python3-serial-asyncio valgrind

check: all $(UNIT_BIN) $(TESTPLUG_SO)
	@BUILD=$(BUILD) tests/run-unit
	@WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

check-unit: all $(UNIT_BIN) $(TESTPLUG_SO)
	@BUILD=$(BUILD) tests/run-unit

# The same suite with every program under valgrind memcheck.
check-valgrind: all $(UNIT_BIN) $(TESTPLUG_SO)
	@VALGRIND=1 BUILD=$(BUILD) tests/run-unit
	@WICKET_VALGRIND=1 WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

check-integration: all $(TESTPLUG_SO)
	@WICKET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q tests/integration

demo: all
	@WICKET_BUILD=$(abspath $(BUILD)) tools/demo/run-demo

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/wicket/profiles $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(DOCDIR)
	install -m 755 $(BUILD)/wicketd $(DESTDIR)$(SBINDIR)/wicketd
	install -m 755 $(BUILD)/wicket-sim $(DESTDIR)$(BINDIR)/wicket-sim
	install -m 755 $(BUILD)/wicketctl $(DESTDIR)$(BINDIR)/wicketctl
	install -m 644 $(PLUGIN_SO) $(MODBUS_LIB) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 etc/wicket/wicketd.conf $(DESTDIR)$(SYSCONFDIR)/wicket/wicketd.conf.example
	install -m 644 etc/wicket/profiles/*.conf $(DESTDIR)$(SYSCONFDIR)/wicket/profiles/
	install -m 644 etc/wicket/rules.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json.example
	install -m 644 etc/wicket/rules-cases.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules-cases.json.example
	# the shipped policy, unless the administrator has rules already
	[ -e $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json ] || \
	  install -m 644 etc/wicket/rules.json $(DESTDIR)$(SYSCONFDIR)/wicket/rules.json
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/wicketd.service.in > $(DESTDIR)$(UNITDIR)/wicketd.service
	install -m 644 tools/wicket-sim/wicket-sim.1 tools/wicketctl/wicketctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 daemon/wicketd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 daemon/wicketd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzz targets (libFuzzer, clang): one per parser of untrusted input.
#   make fuzz               build them in build/fuzz
#   make fuzz-run           run each for FUZZ_SECONDS on its seed corpus
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
               -Iinclude -Idaemon -Iplugins/modbus $(PKG_CFLAGS) \
               -DWICKET_VERSION='"$(VERSION)"' -DWICKET_PLUGINDIR='"$(PLUGINDIR)"' \
               -DWICKET_SYSCONFDIR='"$(SYSCONFDIR)"' -DWICKET_STATEDIR='"/tmp/wicket-fuzz"'
FUZZ_TARGETS := config scenario modbus json rules registry simframe
FUZZ_SRC_config   := tests/fuzz/fuzz_config.c $(DAEMON_SRC)
FUZZ_SRC_scenario := tests/fuzz/fuzz_scenario.c tools/wicket-sim/scenario.c daemon/confval.c
FUZZ_SRC_simframe := tests/fuzz/fuzz_simframe.c tools/wicket-sim/frame.c
FUZZ_SRC_json     := tests/fuzz/fuzz_json.c daemon/jsontree.c daemon/confval.c
FUZZ_SRC_rules    := tests/fuzz/fuzz_rules.c $(DAEMON_SRC)
FUZZ_SRC_registry := tests/fuzz/fuzz_registry.c $(DAEMON_SRC)
FUZZ_SRC_modbus   := tests/fuzz/fuzz_modbus.c plugins/modbus/regmap.c plugins/modbus/mbmap.c daemon/confval.c

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
