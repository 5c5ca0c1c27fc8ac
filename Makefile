# fdwatch - build, run, check, bench, install.
#
# Pipeline (after libbpf-bootstrap): bpf/X.bpf.c -> build/X.bpf.o ->
# build/X.skel.h (bpftool gen skeleton) -> daemon objects -> fdwatchd, for the
# probe (fdwatch) and the census iterators (census), plus build/min-btf.h: the
# kernel types the probe's CO-RE reads need.
#
# vmlinux.h is generated at build time from /sys/kernel/btf/vmlinux rather than
# checked in: fdwatch needs kernel BTF at run time anyway (CO-RE relocations,
# the iterators), the build host is a machine it runs on, and a checked-in
# header is a 3 MB blob tied to one kernel's types. CO-RE makes the object
# portable to other kernels with BTF (there the whole kernel BTF is read at
# start). Set VMLINUX_BTF=path to build from another kernel's BTF.

OUTPUT ?= build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
PREFIX ?= /usr/local
DESTDIR ?=
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
VERSION := 0.1.0

ARCH := $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/' \
	| sed 's/ppc64le/powerpc/' | sed 's/mips.*/mips/' | sed 's/riscv64/riscv/' \
	| sed 's/loongarch64/loongarch/')

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
	MAKEFLAGS += --no-print-directory
endif

# Debian packages: build, then test. `make deps` installs what is missing.
BUILD_PKGS := clang llvm bpftool python3 libbpf-dev libelf-dev libdw-dev zlib1g-dev libsystemd-dev libcjson-dev \
	libcmocka-dev uthash-dev pkg-config make gcc
TEST_PKGS := clang-format systemd bpftrace util-linux procps iproute2 systemd-container debootstrap \
	libclang-rt-14-dev gdb varlink-go man-db groff-base prometheus prometheus-alertmanager
PKGS := $(BUILD_PKGS) $(TEST_PKGS)

PC_LIBS := libbpf libsystemd libcjson
SANITIZE ?=
ifeq ($(SANITIZE),1)
	SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
endif
CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wshadow -Wformat=2 -D_GNU_SOURCE -DFDWATCH_VERSION='"$(VERSION)"' \
	-I$(OUTPUT) -Ibpf -Idaemon $(SAN_FLAGS) \
	$(shell pkg-config --cflags $(PC_LIBS) 2>/dev/null)
LDFLAGS += $(SAN_FLAGS)
LIBS_CORE := $(shell pkg-config --libs libcjson 2>/dev/null) -ldw -lelf -lm
LIBS_DAEMON := $(shell pkg-config --libs libbpf libsystemd 2>/dev/null) -lz -lpthread $(LIBS_CORE)
LIBS_TEST := $(shell pkg-config --libs cmocka 2>/dev/null) $(LIBS_CORE)

# Modules that talk to the kernel, sd-event, journald or sockets. Every other
# daemon/*.c is a pure module: it goes into libfdwatch-core.a, which the unit
# tests link alone (the module rule: pure modules include no libbpf, sd-event or socket headers).
SYS_MODULES := probe manager api varlink-server journal client hooks attribution
MAINS := fdwatchd fdwatchctl
SYS_SRCS := $(wildcard $(addprefix daemon/,$(addsuffix .c,$(SYS_MODULES))))
CORE_SRCS := $(filter-out $(SYS_SRCS) $(addprefix daemon/,$(addsuffix .c,$(MAINS))),$(wildcard daemon/*.c))
CORE_OBJS := $(patsubst daemon/%.c,$(OUTPUT)/%.o,$(CORE_SRCS))
SYS_OBJS := $(patsubst daemon/%.c,$(OUTPUT)/%.o,$(SYS_SRCS))
UNIT_TESTS := $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(wildcard tests/test-*.c))
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(wildcard tests/workloads/*.c))
BENCHES := $(patsubst tests/bench/%.c,$(OUTPUT)/bench/%,$(wildcard tests/bench/*.c))
FUZZERS := $(wildcard tests/fuzz/*.c)

.DELETE_ON_ERROR:
.PHONY: all deps run check bench format format-check clean install uninstall unit fuzz unit-sanitize soak

all: $(OUTPUT)/fdwatchd $(OUTPUT)/fdwatchctl

# Idempotent: asks dpkg what is missing and installs only that.
deps:
	$(Q)missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: missing packages: $$missing; run as root" >&2; exit 1; fi; \
		echo "  DEPS     $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(OUTPUT) $(OUTPUT)/tests $(OUTPUT)/workloads $(OUTPUT)/bench:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)test -r $(VMLINUX_BTF) || { echo "no kernel BTF at $(VMLINUX_BTF): fdwatch needs CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c bpf/fdwatch.h bpf/pidns.bpf.h $(OUTPUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -Ibpf \
		-Wall -Wno-unused-function -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

.SECONDARY: $(OUTPUT)/fdwatch.bpf.o $(OUTPUT)/census.bpf.o $(OUTPUT)/count.bpf.o
$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# A light skeleton: a loader program does the loading in the kernel, which
# finds the BTF attach point and applies CO-RE itself (no kernel BTF read here).
$(OUTPUT)/%.lskel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton -L $< name $(subst -,_,$*)_bpf > $@

# The few kernel types fdwatch.bpf.o's CO-RE reads use, cut from the kernel's
# BTF (2.5 KB of 5.5 MB) and compiled in, with the size and CRC-32 of the BTF
# they came from: when the running kernel's BTF is that one, libbpf relocates
# against these instead of reading the whole BTF (a 12 MB peak, measured).
$(OUTPUT)/min-btf.h: $(OUTPUT)/fdwatch.bpf.o
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) gen min_core_btf $(VMLINUX_BTF) $(OUTPUT)/fdwatch.min.btf $<
	$(Q)python3 -c 'import sys, zlib; src = open(sys.argv[1], "rb").read(); \
		b = open(sys.argv[2], "rb").read(); \
		print("/* Generated by the Makefile from %s. */" % sys.argv[1]); \
		print("#define FDW_MIN_BTF_SOURCE_SIZE %dU" % len(src)); \
		print("#define FDW_MIN_BTF_SOURCE_CRC32 0x%08xU" % zlib.crc32(src)); \
		print("static const unsigned char fdw_min_btf[] = {"); \
		[print("\t" + "".join("0x%02x, " % c for c in b[i:i + 12]).rstrip()) \
		 for i in range(0, len(b), 12)]; \
		print("};")' $(VMLINUX_BTF) $(OUTPUT)/fdwatch.min.btf > $@

$(OUTPUT)/probe.o: $(OUTPUT)/fdwatch.skel.h $(OUTPUT)/census.lskel.h $(OUTPUT)/count.lskel.h \
	$(OUTPUT)/min-btf.h

$(OUTPUT)/%.o: daemon/%.c $(wildcard daemon/*.h) bpf/fdwatch.h | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/libfdwatch-core.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/fdwatchd: $(OUTPUT)/fdwatchd.o $(SYS_OBJS) $(OUTPUT)/libfdwatch-core.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS_DAEMON) -o $@

$(OUTPUT)/fdwatchctl: $(OUTPUT)/fdwatchctl.o $(filter $(OUTPUT)/client.o,$(SYS_OBJS)) $(OUTPUT)/libfdwatch-core.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS_DAEMON) -o $@

$(OUTPUT)/tests/test-%: tests/test-%.c $(OUTPUT)/libfdwatch-core.a $(wildcard daemon/*.h tests/*.h) \
		| $(OUTPUT)/tests
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $(LDFLAGS) $< $(OUTPUT)/libfdwatch-core.a $(LIBS_TEST) -o $@

# conn_leak's creation sites are unwound by frame pointers, as a service's would have to be.
$(OUTPUT)/workloads/conn_leak: WL_CFLAGS := -fno-omit-frame-pointer

$(OUTPUT)/workloads/%: tests/workloads/%.c tests/workloads/workload.h | $(OUTPUT)/workloads
	$(call msg,CC-WL,$@)
	$(Q)$(CC) -g -O2 -Wall -D_GNU_SOURCE $(WL_CFLAGS) $< -lpthread -o $@

$(OUTPUT)/bench/%: tests/bench/%.c | $(OUTPUT)/bench
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) -g -O2 -Wall -D_GNU_SOURCE $< -lpthread -lm -o $@

unit: $(UNIT_TESTS)

# libFuzzer harnesses (clang), each built with the pure modules; `make fuzz FUZZ_TIME=60` runs
# each that long (seconds).
FUZZ_TIME ?= 20
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZERS))
$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(wildcard daemon/*.h)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon -Ibpf \
		$(shell pkg-config --cflags libcjson 2>/dev/null) \
		$< $(CORE_SRCS) $(LIBS_CORE) -o $@

# Each keeps its corpus in $(OUTPUT)/fuzz/NAME.corpus; the config parser's starts from the
# shipped file with every key set (uncommented) and a [Rule].
fuzz: $(FUZZ_BINS)
	$(Q)mkdir -p $(patsubst %,%.corpus,$(FUZZ_BINS))
	$(Q){ sed 's/^#\([A-Z][A-Za-z]*=\)/\1/' config/fdwatch.conf; \
		printf '[Rule build]\nComm=cc1*\nUnit=user@*.service\nIgnore=yes\n'; } \
		> $(OUTPUT)/fuzz/fuzz-config.corpus/shipped.conf
	$(Q)for f in $(FUZZ_BINS); do echo "  FUZZ     $$f ($(FUZZ_TIME)s)"; \
		out=$$($$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 $$f.corpus 2>&1); rc=$$?; \
		echo "$$out" | tail -3; [ $$rc = 0 ] || { echo "$$out" | tail -60; exit 1; }; done

# The unit tests under ASan/UBSan, built apart (SANITIZE_OUTPUT) so the normal build stays as it is.
SANITIZE_OUTPUT ?= $(OUTPUT)/sanitize
unit-sanitize:
	$(Q)$(MAKE) -s OUTPUT=$(SANITIZE_OUTPUT) SANITIZE=1 unit
	$(Q)failed=0; for t in $(patsubst $(OUTPUT)/%,$(SANITIZE_OUTPUT)/%,$(UNIT_TESTS)); do \
		if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			$$t >$$t.log 2>&1; then echo "  SAN-OK   $$t"; \
		else echo "  SAN-FAIL $$t"; tail -40 $$t.log; failed=1; fi; done; exit $$failed

# Everything the tests need, built once.
test-build: all $(UNIT_TESTS) $(WORKLOADS)

# The default probe needs tracefs; systemd mounts it at boot (sys-kernel-tracing.mount),
# a bare VM or container may not: mount it as systemd would.
run: deps
	$(Q)$(MAKE) -s all
	$(Q)if [ ! -d /sys/kernel/tracing/events ] && [ "$$(id -u)" = 0 ]; then \
		echo "  MOUNT    tracefs on /sys/kernel/tracing"; \
		mount -t tracefs nodev /sys/kernel/tracing; fi
	$(OUTPUT)/fdwatchd $(RUN_ARGS)

check: deps
	$(Q)$(MAKE) -s test-build
	$(Q)OUTPUT=$(abspath $(OUTPUT)) tests/run.sh $(TESTS)

bench: deps
	$(Q)$(MAKE) -s all $(WORKLOADS) $(BENCHES)
	$(Q)OUTPUT=$(abspath $(OUTPUT)) tests/bench/run.sh
	$(Q)OUTPUT=$(abspath $(OUTPUT)) python3 tests/bench/attribution.py
	$(Q)OUTPUT=$(abspath $(OUTPUT)) python3 tests/bench/soak.py

# The soak alone; SOAK_SEC=300 for a shorter one.
soak: deps
	$(Q)$(MAKE) -s all $(WORKLOADS)
	$(Q)OUTPUT=$(abspath $(OUTPUT)) python3 tests/bench/soak.py

FORMAT_SRCS = $(wildcard bpf/*.c bpf/*.h daemon/*.c daemon/*.h tests/*.c tests/*.h tests/workloads/*.c tests/workloads/*.h \
	tests/bench/*.c tests/fuzz/*.c)
format:
	$(Q)clang-format -i $(FORMAT_SRCS)

# CI runs this: `make format` must change nothing on main.
format-check:
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

# --- install, uninstall ---
# PREFIX is /usr/local (from source) or /usr (packages): systemd reads units,
# sysusers.d, tmpfiles.d and journal catalogs under both $(PREFIX)/lib trees
# (systemd.unit(5), sysusers.d(5), tmpfiles.d(5)), so everything but the config
# stays inside PREFIX. For any other PREFIX they go where systemd's pkg-config
# file says. The config is always /etc/fdwatch: fdwatchd reads it there.
# The unit's ExecStart= names /usr/sbin/fdwatchd; install rewrites it to SBINDIR.
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
EXAMPLESDIR ?= $(PREFIX)/share/doc/fdwatch/examples
SYSCONFDIR ?= /etc
ifneq ($(filter /usr /usr/local,$(PREFIX)),)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
else
pc_systemd = $(or $(shell pkg-config --variable=$(1) systemd 2>/dev/null),$(2))
SYSTEMDUNITDIR ?= $(call pc_systemd,systemdsystemunitdir,/usr/lib/systemd/system)
SYSUSERSDIR ?= $(call pc_systemd,sysusersdir,/usr/lib/sysusers.d)
TMPFILESDIR ?= $(call pc_systemd,tmpfilesdir,/usr/lib/tmpfiles.d)
CATALOGDIR ?= /usr/lib/systemd/catalog
endif

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(SYSCONFDIR)/fdwatch/fdwatch.conf.d \
		$(DESTDIR)$(SYSCONFDIR)/fdwatch/hooks.d $(DESTDIR)$(EXAMPLESDIR)/hooks.d \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -m 0755 $(OUTPUT)/fdwatchd $(DESTDIR)$(SBINDIR)/fdwatchd
	$(Q)install -m 0755 $(OUTPUT)/fdwatchctl $(DESTDIR)$(BINDIR)/fdwatchctl
	$(Q)sed 's|/usr/sbin/fdwatchd|$(SBINDIR)/fdwatchd|g' systemd/fdwatch.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch.service && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch.service
	$(Q)install -m 0644 systemd/fdwatch.socket $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch.socket
	$(Q)install -m 0644 systemd/fdwatch-metrics.socket $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch-metrics.socket
	$(Q)sed 's|/usr/bin/fdwatchctl|$(BINDIR)/fdwatchctl|g' systemd/fdwatch-metrics@.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch-metrics@.service && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch-metrics@.service
	@# The Alertmanager hook is an example: copy it into $(SYSCONFDIR)/fdwatch/hooks.d to enable it.
	$(Q)install -m 0755 config/hooks.d/alertmanager $(DESTDIR)$(EXAMPLESDIR)/hooks.d/alertmanager
	$(Q)install -m 0644 systemd/fdwatch.sysusers $(DESTDIR)$(SYSUSERSDIR)/fdwatch.conf
	$(Q)install -m 0644 systemd/fdwatch.tmpfiles $(DESTDIR)$(TMPFILESDIR)/fdwatch.conf
	$(Q)install -m 0644 systemd/fdwatch.catalog $(DESTDIR)$(CATALOGDIR)/fdwatch.catalog
	$(Q)install -m 0644 daemon/man/fdwatchctl.1 $(DESTDIR)$(MANDIR)/man1/fdwatchctl.1
	$(Q)install -m 0644 daemon/man/fdwatch.conf.5 $(DESTDIR)$(MANDIR)/man5/fdwatch.conf.5
	$(Q)install -m 0644 daemon/man/fdwatchd.8 $(DESTDIR)$(MANDIR)/man8/fdwatchd.8
	@# An administrator's fdwatch.conf is never overwritten (a staged DESTDIR install always gets one).
	$(Q)if [ -n "$(DESTDIR)" ] || [ ! -e $(SYSCONFDIR)/fdwatch/fdwatch.conf ]; then \
		install -m 0644 config/fdwatch.conf $(DESTDIR)$(SYSCONFDIR)/fdwatch/fdwatch.conf; \
	else echo "  KEEP     $(SYSCONFDIR)/fdwatch/fdwatch.conf"; fi
	$(Q)if [ -n "$(DESTDIR)" ] || [ ! -e $(SYSCONFDIR)/fdwatch/fdwatch.conf.d/50-metrics.conf ]; then \
		install -m 0644 config/fdwatch.conf.d/50-metrics.conf \
			$(DESTDIR)$(SYSCONFDIR)/fdwatch/fdwatch.conf.d/50-metrics.conf; \
	else echo "  KEEP     $(SYSCONFDIR)/fdwatch/fdwatch.conf.d/50-metrics.conf"; fi
	@# On the live system, do what a package's postinst would; a DESTDIR is for packaging.
	$(Q)if [ -z "$(DESTDIR)" ]; then \
		systemd-sysusers $(SYSUSERSDIR)/fdwatch.conf || true; \
		systemd-tmpfiles --create $(TMPFILESDIR)/fdwatch.conf || true; \
		journalctl --update-catalog || true; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi; \
	fi

# Leaves /etc/fdwatch (the administrator's configuration) in place.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/fdwatchd $(DESTDIR)$(BINDIR)/fdwatchctl \
		$(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch.service $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch.socket \
		$(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch-metrics.socket $(DESTDIR)$(SYSTEMDUNITDIR)/fdwatch-metrics@.service \
		$(DESTDIR)$(EXAMPLESDIR)/hooks.d/alertmanager \
		$(DESTDIR)$(SYSUSERSDIR)/fdwatch.conf $(DESTDIR)$(TMPFILESDIR)/fdwatch.conf \
		$(DESTDIR)$(CATALOGDIR)/fdwatch.catalog $(DESTDIR)$(MANDIR)/man1/fdwatchctl.1 \
		$(DESTDIR)$(MANDIR)/man5/fdwatch.conf.5 $(DESTDIR)$(MANDIR)/man8/fdwatchd.8
	$(Q)if [ -z "$(DESTDIR)" ]; then journalctl --update-catalog || true; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi; fi
