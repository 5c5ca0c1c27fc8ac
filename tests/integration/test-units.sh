#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The shipped systemd units, sysusers/tmpfiles snippets, man pages and
# `make install`, checked without booting anything (TAP):
#   - `make install DESTDIR=... PREFIX=/usr` (and /usr/local) puts each file
#     where systemd and man look, with ExecStart= naming the installed daemon;
#     `make uninstall` takes them away again and leaves the configuration;
#   - `systemd-analyze verify` accepts the installed units, executables and
#     Documentation= man pages included;
#   - `systemd-analyze security --offline=yes` exposure is at most 2.0 (printed
#     as "# exposure N"), and the hardening keeps what BPF and /proc need;
#   - systemd-sysusers, systemd-tmpfiles and journalctl --update-catalog take
#     the installed snippets in the staged root;
#   - the man pages render without groff warnings and document every option
#     and configuration key there is.
# Usage: tests/integration/test-units.sh   (OUTPUT=build dir; root for verify)
set -u
cd "$(dirname "$0")/../.."
OUTPUT=${OUTPUT:-$PWD/build}
MAX_EXPOSURE=2.0

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check NAME COMMAND...: ok when COMMAND succeeds; its output is shown on failure
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else
		not_ok "$name"
		printf '%s\n' "$out" | head -20 | sed 's/^/# /'
	fi
}

tmp=$(mktemp -d /tmp/fdwatch-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --- make install / uninstall -------------------------------------------------
stage=$tmp/usr-root
if make -s install DESTDIR="$stage" PREFIX=/usr OUTPUT="$OUTPUT" >"$tmp/install.log" 2>&1; then
	ok "make install DESTDIR PREFIX=/usr"
else
	not_ok "make install DESTDIR PREFIX=/usr"
	sed 's/^/# /' "$tmp/install.log" | tail -20
fi

expect_file() { # expect_file ROOT PATH MODE
	local f=$1$2 mode
	[ -f "$f" ] || { echo "missing: $2"; return 1; }
	mode=$(stat -c %a "$f")
	[ "$mode" = "$3" ] || { echo "$2: mode $mode, want $3"; return 1; }
}
check_layout() { # check_layout ROOT PREFIX
	local r=$1 p=$2 bad=0
	expect_file "$r" "$p/sbin/fdwatchd" 755 || bad=1
	expect_file "$r" "$p/bin/fdwatchctl" 755 || bad=1
	expect_file "$r" "$p/lib/systemd/system/fdwatch.service" 644 || bad=1
	expect_file "$r" "$p/lib/systemd/system/fdwatch.socket" 644 || bad=1
	expect_file "$r" "$p/lib/systemd/system/fdwatch-metrics.socket" 644 || bad=1
	expect_file "$r" "$p/lib/systemd/system/fdwatch-metrics@.service" 644 || bad=1
	expect_file "$r" "$p/share/doc/fdwatch/examples/hooks.d/alertmanager" 755 || bad=1
	expect_file "$r" /etc/fdwatch/fdwatch.conf.d/50-metrics.conf 644 || bad=1
	[ -d "$r/etc/fdwatch/hooks.d" ] || { echo "missing: /etc/fdwatch/hooks.d/"; bad=1; }
	[ -z "$(ls -A "$r/etc/fdwatch/hooks.d" 2>/dev/null)" ] || { echo "a hook is enabled by default"; bad=1; }
	grep -qx "ExecStart=$p/bin/fdwatchctl metrics --http" "$r$p/lib/systemd/system/fdwatch-metrics@.service" ||
		{ echo "fdwatch-metrics@.service ExecStart= is not $p/bin/fdwatchctl metrics --http"; bad=1; }
	expect_file "$r" "$p/lib/sysusers.d/fdwatch.conf" 644 || bad=1
	expect_file "$r" "$p/lib/tmpfiles.d/fdwatch.conf" 644 || bad=1
	expect_file "$r" "$p/lib/systemd/catalog/fdwatch.catalog" 644 || bad=1
	expect_file "$r" "$p/share/man/man8/fdwatchd.8" 644 || bad=1
	expect_file "$r" "$p/share/man/man1/fdwatchctl.1" 644 || bad=1
	expect_file "$r" "$p/share/man/man5/fdwatch.conf.5" 644 || bad=1
	expect_file "$r" /etc/fdwatch/fdwatch.conf 644 || bad=1
	[ -d "$r/etc/fdwatch/fdwatch.conf.d" ] || { echo "missing: /etc/fdwatch/fdwatch.conf.d/"; bad=1; }
	# The unit starts the daemon that was installed, wherever PREFIX put it.
	grep -qx "ExecStart=$p/sbin/fdwatchd" "$r$p/lib/systemd/system/fdwatch.service" ||
		{ echo "ExecStart= is not $p/sbin/fdwatchd"; bad=1; }
	cmp -s "$r$p/sbin/fdwatchd" "$OUTPUT/fdwatchd" || { echo "sbin/fdwatchd is not $OUTPUT/fdwatchd"; bad=1; }
	return $bad
}
check "PREFIX=/usr: every file where systemd and man look" check_layout "$stage" /usr

local_stage=$tmp/local-root
make -s install DESTDIR="$local_stage" PREFIX=/usr/local OUTPUT="$OUTPUT" >"$tmp/install-local.log" 2>&1
check "PREFIX=/usr/local: every file under /usr/local, ExecStart=/usr/local/sbin/fdwatchd" \
	check_layout "$local_stage" /usr/local

uninstalled() {
	make -s uninstall DESTDIR="$local_stage" PREFIX=/usr/local >/dev/null 2>&1 || return 1
	local left
	left=$(find "$local_stage" -type f ! -path '*/etc/fdwatch/*')
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
	[ -f "$local_stage/etc/fdwatch/fdwatch.conf" ] || { echo "uninstall removed the configuration"; return 1; }
}
check "make uninstall removes what install put, keeps /etc/fdwatch" uninstalled

# --- systemd-analyze verify ---------------------------------------------------
units=$stage/usr/lib/systemd/system
if [ "$(id -u)" -ne 0 ] || ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify fdwatch.service" "needs root and systemd-analyze"
	skip "systemd-analyze verify fdwatch.socket" "needs root and systemd-analyze"
else
	# verify checks that ExecStart=/usr/sbin/fdwatchd exists: show it the staged
	# daemon there through an overlay that only this private mount namespace sees;
	# Documentation= man pages are looked up through MANPATH.
	verify() {
		unshare -m --propagation private sh -c '
			mount -t overlay overlay -o "lowerdir=$1/usr/sbin:/usr/sbin" /usr/sbin &&
			MANPATH=$1/usr/share/man systemd-analyze verify "$2"' sh "$stage" "$1"
	}
	check "systemd-analyze verify fdwatch.service (ExecStart, man pages, dependencies)" \
		verify "$units/fdwatch.service"
	check "systemd-analyze verify fdwatch.socket" verify "$units/fdwatch.socket"
	# The socket and an instance of its template (loaded from the template beside it).
	verify_metrics() {
		unshare -m --propagation private sh -c '
			mount -t overlay overlay -o "lowerdir=$1/usr/bin:/usr/bin" /usr/bin &&
			MANPATH=$1/usr/share/man systemd-analyze verify "$2/fdwatch-metrics.socket" \
				"$2/fdwatch-metrics@1.service"' sh "$stage" "$units"
	}
	check "systemd-analyze verify fdwatch-metrics.socket and an instance of fdwatch-metrics@.service" verify_metrics
fi

# --- systemd-analyze security -------------------------------------------------
if out=$(systemd-analyze security --offline=yes "$units/fdwatch.service" 2>&1); then
	exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for fdwatch.service: \([0-9.]*\).*/\1/p')
	echo "# exposure $exposure"
	printf '%s\n' "$out" | grep '✗' | sed 's/  */ /g; s/^/#   /'
	if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
		ok "systemd-analyze security exposure $exposure <= $MAX_EXPOSURE"
	else
		not_ok "systemd-analyze security exposure '$exposure' <= $MAX_EXPOSURE"
	fi
else
	not_ok "systemd-analyze security --offline=yes"
	printf '%s\n' "$out" | head -10 | sed 's/^/# /'
fi

# The per-connection metrics responder: unprivileged and locked down.
if out=$(systemd-analyze security --offline=yes "$units/fdwatch-metrics@.service" 2>&1); then
	exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for fdwatch-metrics@[^:]*: \([0-9.]*\).*/\1/p')
	echo "# exposure (fdwatch-metrics@.service) $exposure"
	printf '%s\n' "$out" | grep '✗' | sed 's/  */ /g; s/^/#   /'
	if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
		ok "fdwatch-metrics@.service: systemd-analyze security exposure $exposure <= $MAX_EXPOSURE"
	else
		not_ok "fdwatch-metrics@.service: systemd-analyze security exposure '$exposure' <= $MAX_EXPOSURE"
	fi
else
	not_ok "systemd-analyze security --offline=yes fdwatch-metrics@.service"
	printf '%s\n' "$out" | head -10 | sed 's/^/# /'
fi
metrics_unprivileged() {
	local f=$units/fdwatch-metrics@.service
	grep -qx 'DynamicUser=yes' "$f" || { echo "no DynamicUser=yes"; return 1; }
	grep -qx 'CapabilityBoundingSet=' "$f" || { echo "capabilities not dropped"; return 1; }
	grep -qx 'StandardInput=socket' "$f" && grep -qx 'StandardOutput=socket' "$f" || { echo "not an inetd-style service"; return 1; }
	grep -qx 'Accept=yes' "$units/fdwatch-metrics.socket" || { echo "fdwatch-metrics.socket: no Accept=yes"; return 1; }
	grep -Eqx 'ListenStream=127\.0\.0\.1:[0-9]+' "$units/fdwatch-metrics.socket" || { echo "fdwatch-metrics.socket not on loopback"; return 1; }
}
check "fdwatch-metrics: loopback socket, Accept=yes, a dynamic user without capabilities per connection" metrics_unprivileged

# What the hardening must keep so that BPF, /proc and journald enrichment work.
unit_value() { # the last assignment of KEY in the unit
	sed -n "s/^$1=//p" "$units/fdwatch.service" | tail -1
}
keeps_access() {
	local bad=0 k caps
	for k in ProtectProc ProcSubset PrivateUsers DynamicUser PrivatePIDs; do
		[ -z "$(unit_value $k)" ] || { echo "$k= hides processes or /proc files the daemon reads"; bad=1; }
	done
	[ "$(unit_value User)" = root ] || { echo "User= must be root: journald adds OBJECT_* only for UID 0"; bad=1; }
	caps=$(unit_value CapabilityBoundingSet | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$caps" = "CAP_BPF CAP_DAC_READ_SEARCH CAP_PERFMON " ] ||
		{ echo "CapabilityBoundingSet= is '$caps'"; bad=1; }
	grep -Eq '^SystemCallFilter=[^~].* bpf( |$)' "$units/fdwatch.service" &&
		grep -Eq '^SystemCallFilter=[^~].* perf_event_open( |$)' "$units/fdwatch.service" ||
		{ echo "SystemCallFilter= does not allow bpf and perf_event_open"; bad=1; }
	[ "$(unit_value Type)" = notify ] || { echo "Type= is not notify"; bad=1; }
	[ -n "$(unit_value WatchdogSec)" ] || { echo "no WatchdogSec="; bad=1; }
	return $bad
}
check "hardening keeps /proc, CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH, bpf(), UID 0" keeps_access

# --- sysusers, tmpfiles, catalog in the staged root ---------------------------
if [ "$(id -u)" -ne 0 ]; then
	skip "sysusers.d creates the groups fdwatch and fdwatch-metrics" "needs root"
	skip "tmpfiles.d creates /etc/fdwatch/fdwatch.conf.d and hooks.d" "needs root"
else
	sysusers() {
		mkdir -p "$stage/etc" && touch "$stage/etc/passwd" "$stage/etc/group" &&
			systemd-sysusers --root="$stage" "$stage/usr/lib/sysusers.d/fdwatch.conf" &&
			grep -q '^fdwatch:x:[0-9]*:$' "$stage/etc/group" &&
			grep -q '^fdwatch-metrics:x:[0-9]*:$' "$stage/etc/group"
	}
	check "sysusers.d creates the groups fdwatch and fdwatch-metrics" sysusers
	tmpfiles() {
		rm -rf "$stage/etc/fdwatch/fdwatch.conf.d" &&
			systemd-tmpfiles --root="$stage" --create "$stage/usr/lib/tmpfiles.d/fdwatch.conf" &&
			[ -d "$stage/etc/fdwatch/fdwatch.conf.d" ] && [ -d "$stage/etc/fdwatch/hooks.d" ]
	}
	check "tmpfiles.d creates /etc/fdwatch/fdwatch.conf.d and hooks.d" tmpfiles
fi
catalog() {
	local ids
	journalctl --root="$stage" --update-catalog || return 1
	ids=$(sed -n 's/^-- \([0-9a-f]\{32\}\).*/\1/p' systemd/fdwatch.catalog | sort -u)
	[ -n "$ids" ] || { echo "no entries in systemd/fdwatch.catalog"; return 1; }
	for id in $ids; do
		journalctl --root="$stage" --list-catalog "$id" | grep -q "$id" || { echo "$id not in the catalog"; return 1; }
	done
}
check "journalctl --update-catalog takes fdwatch.catalog" catalog

# --- man pages ----------------------------------------------------------------
for page in daemon/man/fdwatchd.8 daemon/man/fdwatchctl.1 daemon/man/fdwatch.conf.5; do
	renders() {
		local warn
		warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$1" 2>&1) || return 1
		[ -z "$warn" ] || { echo "$warn"; return 1; }
		MANWIDTH=80 man -l "$1" 2>&1 | grep -q '^NAME' || { echo "man -l shows no NAME"; return 1; }
	}
	check "$(basename $page) renders without warnings" renders "$page"
done

# The pages keep up with the code: every option the programs take, every key the config has.
man_text() { MANWIDTH=200 man -l "$1" 2>/dev/null | col -b; }
options_documented() { # options_documented PROGRAM PAGE
	local missing="" opt text
	[ -x "$OUTPUT/$1" ] || { echo "$OUTPUT/$1 not built"; return 1; }
	text=$(man_text "$2")
	for opt in $("$OUTPUT/$1" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$opt" <<<"$text" || missing="$missing $opt"
	done
	[ -z "$missing" ] || { echo "not in $2:$missing"; return 1; }
}
check "fdwatchd.8 documents every option of fdwatchd --help" options_documented fdwatchd daemon/man/fdwatchd.8
check "fdwatchctl.1 documents every option of fdwatchctl --help" options_documented fdwatchctl daemon/man/fdwatchctl.1
keys_documented() {
	local missing="" key text
	[ -f config/fdwatch.conf ] || { echo "no config/fdwatch.conf"; return 1; }
	text=$(man_text daemon/man/fdwatch.conf.5)
	for key in $(sed -n 's/^#\{0,1\} *\([A-Z][A-Za-z]*\)=.*/\1/p' config/fdwatch.conf | sort -u); do
		grep -q -- "$key=" <<<"$text" || missing="$missing $key"
	done
	for key in $(sed -n 's/^#\{0,1\} *\[\([A-Za-z]*\)[^]]*\] *$/\1/p' config/fdwatch.conf | sort -u); do
		grep -q -- "\[$key" <<<"$text" || missing="$missing [$key]"
	done
	[ -z "$missing" ] || { echo "not in fdwatch.conf.5:$missing"; return 1; }
}
check "fdwatch.conf.5 documents every section and key of config/fdwatch.conf" keys_documented

echo "1..$n"
