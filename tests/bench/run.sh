#!/usr/bin/env bash
# fdwatch overhead bench (`make bench`). Not a pass/fail test: it prints what
# it measured, with PASS/FAIL against the goals as information, and exits 0
# unless something crashed (a loop failed, fdwatchd would not start or died).
#
# 1. Syscall overhead. syscall-loop runs getppid (a syscall the probe does not
#    care about), open+close and pipe2+close+close, pinned to one CPU, with
#    nothing attached (baseline), with fdwatchd idle (auto mode, nothing
#    suspect: only the fork/exec/exit tp_btf programs attached), in poll mode
#    (the same, never armed), armed (auto mode, a process traced with
#    fdwatchctl trace), in always mode (the syscall probe attached throughout),
#    and with the same counting as a bpftrace one-liner (the peer). Idle,
#    armed and poll use a config that ignores every process (this machine is
#    shared: another test's leak would arm the probe); a block in which the
#    idle or poll daemon armed anyway is left out. Runs are interleaved: every round measures the
#    baseline again right before each configuration, and the order of the
#    configurations rotates from round to round, so drift on a shared, noisy
#    machine hits all of them alike. Reported: median ns/op of each,
#    median(with) / median(baseline), and the median of the per-round ratios
#    to the baseline run just before. Runs during which something else traced
#    syscalls or took the loop's CPU are left out (see block_start).
# 2. Daemon cost. For each N in IDLE_NS, N idle processes (each holding a few
#    fds), fdwatchd at its defaults (auto mode, 1 s tick); after SETTLE_SEC,
#    its CPU over MEASURE_SEC (utime+stime deltas from /proc/PID/stat, % of one
#    core), its memory (VmRSS, VmHWM from /proc/PID/status), whether it was
#    armed meanwhile (by other people's leaks: the machine is shared), the count
#    passes and /proc reads it made, and one count pass (GetStatus
#    last_pass_usec) beside one stat() of every /proc/PID/fd (bench/statpass).
# 3. Fork storm: STORM_RATE short-lived processes a second for STORM_SEC, with
#    fdwatchd at its defaults: lifecycle records lost, records seen, the
#    daemon's CPU during the storm, and dead processes of the storm left in its
#    table a few seconds after.
# 4. Arming: time to attach the syscall programs and to detach them (in the
#    background), over ARM_ROUNDS traces of a sleeping process.
#
# Runs in a private mount namespace (unshare -m --propagation private): tracefs
# is mounted there if the host has none, and a tmpfs on /run holds the
# daemon's socket; no host mount changes. Only processes this script started
# are ever signalled, by PID.
#
# Environment: OUTPUT (build dir, default ./build), RUNS (rounds, default 7,
# at least 5 for the goals), TARGET_MS (length of one run, default 400),
# IDLE_NS ("1000 10000"), SETTLE_SEC (5), MEASURE_SEC (30), STORM_RATE (5000), STORM_SEC (30),
# ARM_ROUNDS (3), BENCH_CPU (CPU the loops are
# pinned to; default the last one), FDWATCHD, FDWATCHCTL, BPFTRACE (binaries),
# SKIP_PEER=1 (no bpftrace), SKIP_COST=1 / SKIP_OVERHEAD=1 (one part only),
# WAIT_CLEAN_SEC (20), WAIT_CLEAN_TOTAL_SEC (60), MIN_CPU_SHARE (93): see block_start,
# KEEP_TMP=1 (keep the logs and raw samples; they are kept anyway after a failure).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTPUT=${OUTPUT:-$ROOT/build}
case $OUTPUT in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
FDWATCHD=${FDWATCHD:-$OUTPUT/fdwatchd}
FDWATCHCTL=${FDWATCHCTL:-$OUTPUT/fdwatchctl}
BPFTRACE=${BPFTRACE:-bpftrace}
LOOP=$OUTPUT/bench/syscall-loop
IDLE=$OUTPUT/bench/idle
STATPASS=$OUTPUT/bench/statpass
RUNS=${RUNS:-7}
TARGET_MS=${TARGET_MS:-400}
IDLE_NS=${IDLE_NS:-1000 10000}
STORM=$OUTPUT/workloads/forkstorm
STORM_RATE=${STORM_RATE:-5000}
STORM_SEC=${STORM_SEC:-30}
ARM_ROUNDS=${ARM_ROUNDS:-3}
SETTLE_SEC=${SETTLE_SEC:-5}
MEASURE_SEC=${MEASURE_SEC:-30}
SOCKET=/run/fdwatch/api.sock
LOOPS=(getppid openclose pipeclose)
# Goals: with nothing suspect, at most 1.02x per loop (idle, poll); armed no worse than always.
# Daemon CPU % of a core and peak RSS MiB per number of idle processes.
GOAL_IDLE=1.02
declare -A GOAL_CPU_PCT=([1000]=0.2 [10000]=1)
declare -A GOAL_RSS_MIB=([1000]=12 [10000]=24)
TRACEFS=/sys/kernel/tracing

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the overhead bench needs root (it loads BPF programs)."
	exit 0
fi

# --- a private mount namespace -------------------------------------------------
if [ "${FDW_BENCH_NS:-}" != 1 ]; then
	if ! command -v unshare >/dev/null; then
		echo "SKIP: unshare (util-linux) is missing; the bench runs in a private mount namespace."
		exit 0
	fi
	FDW_BENCH_NS=1 exec unshare -m --propagation private bash "${BASH_SOURCE[0]}" "$@"
	echo "bench: unshare -m failed" >&2
	exit 1
fi

die() {
	echo "bench: $*" >&2
	exit 1
}

for f in "$LOOP" "$IDLE" "$FDWATCHD"; do
	[ -x "$f" ] || die "$f is not built: run 'make bench' (it builds everything first)."
done
if [ ! -d $TRACEFS/events/syscalls ]; then
	mount -t tracefs nodev $TRACEFS || die "cannot mount tracefs on $TRACEFS in the bench's namespace."
fi
[ -d $TRACEFS/events/syscalls ] || die "no syscall tracepoints under $TRACEFS/events/syscalls."
mount -t tmpfs -o mode=0755 tmpfs /run || die "cannot mount a tmpfs on /run in the bench's namespace."
mkdir -p /run/fdwatch

TMP=$(mktemp -d /tmp/fdwatch-bench.XXXXXX) || die "mktemp failed"
: >"$TMP/fdwatch.conf" # built-in defaults, whatever /etc/fdwatch holds
# Nothing on this (shared) machine is a suspect unless traced.
printf '[Rule all]\nComm=*\nIgnore=yes\n' >"$TMP/ignore-all.conf"
RESULTS=$TMP/results   # one line per run (see block_end)
: >"$RESULTS"
STARTED=()             # PIDs of everything we started that may still run
CRASHED=0              # something that must make the bench exit non-zero
KEEP_TMP=${KEEP_TMP:-0}

forget() { # drop a PID from STARTED once it is reaped
	local p keep=()
	for p in "${STARTED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	STARTED=("${keep[@]}")
}

# Stop one process we started: SIGTERM (or $2), up to 10 s, then SIGKILL. Reaps it.
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; forget "$pid"; return 0; }
	kill -s "$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bench: PID $pid did not stop on SIG$sig in 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	local rc=$?
	forget "$pid"
	return $rc
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${STARTED[@]}"; do stop_pid "$p"; done
	if [ "$KEEP_TMP" = 1 ] || [ "$CRASHED" != 0 ]; then
		echo "bench: logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

median() { # numbers on stdin -> median ("" when none)
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Anything else that traces syscalls (another fdwatchd, a bpftrace, perf trace,
# ftrace syscall events) puts every syscall on the kernel's slow path, baseline
# included, and skews every ratio. Prints what it finds ("" when nothing);
# attachments of the processes we started ($DPID, $BPID) do not count.
OUR_RAW=0 # 1 while our fdwatchd runs in raw mode (one raw sys_exit link)
foreign_tracing() {
	local out='' n f
	if command -v bpftool >/dev/null; then
		n=$(bpftool perf show 2>/dev/null |
			awk -v a="${DPID:-none}" -v b="${BPID:-none}" '/sys_(enter|exit)/ && $2 != a && $2 != b' | wc -l)
		[ "$n" -gt 0 ] && out+="$n syscall tracepoint attachment(s) of other processes; "
		n=$(bpftool link show 2>/dev/null | grep -cE "tp '(sys_enter|sys_exit)'")
		n=$((n - OUR_RAW))
		[ "$n" -gt 0 ] && out+="$n raw sys_enter/sys_exit program(s) of others; "
	fi
	for f in raw_syscalls syscalls; do
		[ -e "$TRACEFS/events/$f/enable" ] || continue
		[ "$(cat "$TRACEFS/events/$f/enable" 2>/dev/null)" = 0 ] || out+="ftrace $f events enabled; "
	done
	echo "${out%; }"
}

# --- fdwatchd ------------------------------------------------------------------
# The daemon is ready when it sends READY=1 (we listen on NOTIFY_SOCKET) or logs
# "watching N processes"; it failed if it exits first or takes over 30 s.
DPID='' NPID=''
# Configurations: idle (auto, nothing suspect), poll, armed (auto, a process traced),
# always; "defaults" is auto with the built-in configuration.
start_fdwatchd() { # config log -> DPID, NPID; 0 or 1 (with its output shown)
	local cfg=$1 log=$2 notify=$TMP/notify.$RANDOM i mode=auto conf=$TMP/ignore-all.conf
	case $cfg in
	poll | always) mode=$cfg ;;
	defaults) conf=$TMP/fdwatch.conf ;;
	esac
	DPID='' NPID=''
	: >"$log.notify"
	if command -v python3 >/dev/null; then
		python3 -u -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("BOUND", flush=True)
while True:
    print(s.recv(4096).decode(errors="replace").replace("\n", " "), flush=True)
' "$notify" >"$log.notify" 2>&1 &
		NPID=$!
		STARTED+=("$NPID")
		for ((i = 0; i < 100; i++)); do
			grep -q BOUND "$log.notify" && break
			sleep 0.05
		done
	fi
	NOTIFY_SOCKET=$notify "$FDWATCHD" --probe-mode "$mode" --tick 1s --no-journal \
		--socket "$SOCKET" --config "$conf" >"$log" 2>&1 &
	DPID=$!
	STARTED+=("$DPID")
	for ((i = 0; i < 600; i++)); do
		if grep -q 'READY=1' "$log.notify" || grep -q ' watching ' "$log"; then
			[ "$cfg" = armed ] && { arm_for_sleeper 3600 || return 1; }
			return 0
		fi
		if ! kill -0 "$DPID" 2>/dev/null; then
			wait "$DPID"
			local rc=$?
			forget "$DPID"
			echo "bench: fdwatchd --probe-mode $mode failed to start (exit status $rc). Its output:" >&2
			sed 's/^/    /' "$log" >&2
			stop_notify
			DPID=''
			return 1
		fi
		sleep 0.05
	done
	echo "bench: fdwatchd --probe-mode $mode did not get ready in 30 s. Its output:" >&2
	sed 's/^/    /' "$log" >&2
	stop_pid "$DPID"
	stop_notify
	DPID=''
	return 1
}

# The armed configuration: trace a sleeping process of ours until the daemon says armed.
SPID=''
arm_for_sleeper() { # seconds
	local i
	if [ -z "$SPID" ] || ! kill -0 "$SPID" 2>/dev/null; then
		sleep 100000 &
		SPID=$!
		STARTED+=("$SPID")
	fi
	for ((i = 0; i < 100; i++)); do
		"$FDWATCHCTL" --socket "$SOCKET" trace "$SPID" --for "${1}s" >/dev/null 2>&1 && break
		sleep 0.1 # the sleeper joins the table at the tick after its fork
	done
	for ((i = 0; i < 100; i++)); do
		status_field probe_armed | grep -q true && return 0
		sleep 0.05
	done
	echo "bench: fdwatchd did not arm for a traced process" >&2
	return 1
}

status_field() { # name -> its value in GetStatus ("" when unknown)
	"$FDWATCHCTL" --socket "$SOCKET" --json status 2>/dev/null |
		python3 -c 'import json, sys; print(str(json.load(sys.stdin).get(sys.argv[1], "")).lower())' "$1" 2>/dev/null
}

stop_notify() {
	[ -n "$NPID" ] && stop_pid "$NPID"
	NPID=''
}

# Stop the daemon; 1 if it had died on its own (a crash) or exited badly.
stop_fdwatchd() { # log
	local log=$1 rc
	if ! kill -0 "$DPID" 2>/dev/null; then
		wait "$DPID"
		rc=$?
		forget "$DPID"
		echo "bench: fdwatchd (PID $DPID) died during the bench (exit status $rc). Its output:" >&2
		sed 's/^/    /' "$log" >&2
		stop_notify
		return 1
	fi
	stop_pid "$DPID"
	rc=$?
	stop_notify
	if [ "$rc" != 0 ]; then
		echo "bench: fdwatchd exited with status $rc on SIGTERM. Its output:" >&2
		sed 's/^/    /' "$log" >&2
		return 1
	fi
	return 0
}

# --- the bpftrace peer -----------------------------------------------------------
# The same counting as a one-liner: per-pid creations by syscall (probe), per-pid
# closes, on the exit tracepoints of the same syscalls as daemon/syscalls.c
# (those this kernel has, as the daemon skips missing ones). The END block empties
# the maps so exiting prints nothing.
PEER_PROG='' PEER_PROBES=0
make_peer_prog() {
	local name create=() close=()
	while read -r name; do
		[ -d "$TRACEFS/events/syscalls/sys_exit_$name" ] || continue
		case $name in
		close | close_range) close+=("tracepoint:syscalls:sys_exit_$name") ;;
		*) create+=("tracepoint:syscalls:sys_exit_$name") ;;
		esac
	done < <(sed -nE 's/^[[:space:]]*SC\(([a-z0-9_]+),.*/\1/p' "$ROOT/daemon/syscalls.c")
	[ ${#create[@]} -gt 0 ] && [ ${#close[@]} -gt 0 ] || return 1
	PEER_PROBES=$((${#create[@]} + ${#close[@]}))
	PEER_PROG="$(
		IFS=,
		echo "${create[*]} /args->ret >= 0/ { @c[pid, probe] = count(); }"
		echo "${close[*]} /args->ret == 0/ { @cl[pid] = count(); }"
	) END { clear(@c); clear(@cl); }"
}

BPID=''
start_peer() { # log -> BPID; ready once all its tracepoints are attached
	local log=$1 i n
	"$BPFTRACE" -e "$PEER_PROG" >"$log" 2>&1 &
	BPID=$!
	STARTED+=("$BPID")
	for ((i = 0; i < 1200; i++)); do
		if ! kill -0 "$BPID" 2>/dev/null; then
			wait "$BPID"
			echo "bench: bpftrace failed to start (exit status $?). Its output:" >&2
			sed 's/^/    /' "$log" >&2
			forget "$BPID"
			BPID=''
			return 1
		fi
		if grep -q '^Attaching' "$log"; then
			# It prints that before attaching: count its tracepoint links.
			n=$(bpftool perf show 2>/dev/null | grep -c "^pid $BPID ")
			[ "$n" -ge "$PEER_PROBES" ] && return 0
		fi
		sleep 0.05
	done
	echo "bench: bpftrace did not attach its $PEER_PROBES probes in 60 s. Its output:" >&2
	sed 's/^/    /' "$log" >&2
	stop_pid "$BPID" INT
	BPID=''
	return 1
}

# --- the loops -------------------------------------------------------------------
NCPU=$(nproc)
CPU=${BENCH_CPU:-$((NCPU - 1))}
declare -A N

# Samples are taken in blocks (the three loops, baseline or with one probe);
# a block is tainted when foreign_tracing finds something at its start or end.
# RESULTS lines: config loop ns/op tainted(0|1) round for, where "for" is the
# configuration a baseline block came just before (or the config itself).
# A block first waits (up to WAIT_CLEAN_SEC, at most WAIT_CLEAN_TOTAL_SEC in
# all) for such foreign tracing to go away: other people's tests come and go.
# A run is also disturbed when the loop got less than MIN_CPU_SHARE % (default
# 93) of its CPU (its CPU time over its wall time, from syscall-loop): then
# something else ran there, or the hypervisor took the CPU away. That taints
# its block too.
BLOCK_TAINT=''
WAITED=0
block_start() {
	local t0=$SECONDS
	: >"$TMP/block"
	BLOCK_TAINT=$(foreign_tracing)
	while [ -n "$BLOCK_TAINT" ] && [ $((SECONDS - t0)) -lt "${WAIT_CLEAN_SEC:-20}" ] &&
		[ $((WAITED + SECONDS - t0)) -lt "${WAIT_CLEAN_TOTAL_SEC:-60}" ]; do
		sleep 0.5
		BLOCK_TAINT=$(foreign_tracing)
	done
	WAITED=$((WAITED + SECONDS - t0))
}
block_end() { # what for
	local t share
	share=$(awk -v min="${MIN_CPU_SHARE:-93}" '$4 != "" && $4 < min { printf "%s %s got %.0f%% of its CPU; ", $1, $2, $4 }' "$TMP/block")
	t=$(foreign_tracing)
	t=${BLOCK_TAINT:-$t}
	[ -n "$share" ] && t=${t:+$t; }${share%; }
	if [ -n "$t" ]; then
		echo "round $((r + 1)), $1: $t" >>"$TMP/taints"
		awk -v r="$r" -v f="$2" '{ print $1, $2, $3, 1, r, f }' "$TMP/block" >>"$RESULTS"
	else
		awk -v r="$r" -v f="$2" '{ print $1, $2, $3, 0, r, f }' "$TMP/block" >>"$RESULTS"
	fi
}

run_loop() { # config loop -> appends "config loop ns" to the block
	local cfg=$1 loop=$2 out
	if ! out=$(timeout 120 "$LOOP" -c "$CPU" "$loop" "${N[$loop]}"); then
		echo "bench: syscall-loop $loop failed ($cfg)" >&2
		CRASHED=1
		return 1
	fi
	awk -v c="$cfg" '{ print c, $1, $3, $5 }' <<<"$out" >>"$TMP/block"
}

calibrate() { # N per loop, so that one run takes about TARGET_MS
	local loop ns n i
	for loop in "${LOOPS[@]}"; do
		# Grow n until a run lasts 50 ms: shorter ones mostly measure the
		# vCPU waking up.
		for ((n = 10000; ; n *= 4)); do
			ns=$("$LOOP" -c "$CPU" "$loop" "$n" | awk '{ print $3 }')
			[ -n "$ns" ] || die "syscall-loop $loop does not run"
			awk -v ns="$ns" -v n="$n" 'BEGIN { exit !(ns * n >= 5e7) }' && break
		done
		ns=$(for i in 1 2 3; do "$LOOP" -c "$CPU" "$loop" "$n" | awk '{ print $3 }'; done | median)
		N[$loop]=$(awk -v ns="$ns" -v ms="$TARGET_MS" 'BEGIN { n = ms * 1e6 / ns; if (n < 1000) n = 1000; printf "%d", n }')
	done
}

rounds=$RUNS
overhead() {
	local configs=(idle poll armed always) r k cfg loop ok armed
	local -A failed=()
	if [ "${SKIP_PEER:-0}" = 1 ]; then
		PEER_NOTE="skipped (SKIP_PEER=1)"
	elif ! command -v "$BPFTRACE" >/dev/null; then
		PEER_NOTE="not run: $BPFTRACE is not installed (apt-get install bpftrace)"
	elif ! command -v bpftool >/dev/null; then
		PEER_NOTE="not run: bpftool is needed to see when bpftrace has attached"
	elif ! make_peer_prog; then
		PEER_NOTE="not run: found no syscalls in daemon/syscalls.c"
	else
		configs+=(bpftrace)
		PEER_NOTE="bpftrace $("$BPFTRACE" --version 2>/dev/null | awk '{ print $2 }'), $PEER_PROBES tracepoints"
	fi
	calibrate
	printf 'Loops pinned to CPU %s of %s; N per run: getppid %s, openclose %s, pipeclose %s (~%s ms each); %s rounds.\n' \
		"$CPU" "$NCPU" "${N[getppid]}" "${N[openclose]}" "${N[pipeclose]}" "$TARGET_MS" "$rounds"
	for ((r = 0; r < rounds; r++)); do
		printf '  round %d/%d:' $((r + 1)) "$rounds"
		for ((k = 0; k < ${#configs[@]}; k++)); do
			cfg=${configs[$(((k + r) % ${#configs[@]}))]}
			[ -n "${failed[$cfg]:-}" ] && continue
			block_start
			for loop in "${LOOPS[@]}"; do run_loop none "$loop"; done
			block_end "baseline before $cfg" "$cfg"
			case $cfg in
			bpftrace) start_peer "$TMP/bpftrace.log" && ok=1 || ok=0 ;;
			*) start_fdwatchd "$cfg" "$TMP/fdwatchd-$cfg.log" && ok=1 || ok=0 ;;
			esac
			if [ $ok = 0 ]; then
				failed[$cfg]=1
				[ "$cfg" = bpftrace ] || CRASHED=1
				printf ' %s(FAILED)' "$cfg"
				continue
			fi
			sleep 1 # let the daemon finish its start-up scan
			[ "$cfg" = raw ] && OUR_RAW=1
			block_start
			for loop in "${LOOPS[@]}"; do run_loop "$cfg" "$loop"; done
			# An idle or poll daemon that armed after all (it never should) taints its block.
			if [ "$cfg" = idle ] || [ "$cfg" = poll ]; then
				armed=$(status_field probe_arm_usec)
				[ "${armed:-0}" = 0 ] || BLOCK_TAINT="our $cfg fdwatchd armed"
			fi
			block_end "$cfg" "$cfg"
			OUR_RAW=0
			case $cfg in
			bpftrace) stop_pid "$BPID" INT ;;
			*) stop_fdwatchd "$TMP/fdwatchd-$cfg.log" || { CRASHED=1; failed[$cfg]=1; } ;;
			esac
			printf ' %s' "$cfg"
		done
		echo
	done
	PEER_FAILED=${failed[bpftrace]:-}
}

# Medians leave tainted samples out, unless that leaves fewer than 3: then they
# use all of them and the cell is marked with '*'.
clean_enough() { [ "$(awk -v c="$1" -v l="$2" '$1 == c && $2 == l && $4 == 0' "$RESULTS" | wc -l)" -ge 3 ]; }
med_of() {
	if clean_enough "$1" "$2"; then
		awk -v c="$1" -v l="$2" '$1 == c && $2 == l && $4 == 0 { print $3 }' "$RESULTS" | median
	else
		awk -v c="$1" -v l="$2" '$1 == c && $2 == l { print $3 }' "$RESULTS" | median
	fi
}
# Median over rounds of with / the baseline block just before it (clean pairs
# only, unless fewer than 3: then all, marked '*').
paired_of() { # config loop
	awk -v c="$1" -v l="$2" '
		$2 != l || $6 != c { next }
		$1 == "none" { b[$5] = $3; bt[$5] = $4 }
		$1 == c { w[$5] = $3; wt[$5] = $4 }
		END {
			for (r in w) if (r in b) {
				all[++n] = w[r] / b[r]
				if (!wt[r] && !bt[r]) clean[++m] = w[r] / b[r]
			}
			if (m >= 3) { for (i = 1; i <= m; i++) print clean[i] } else { for (i = 1; i <= n; i++) print all[i], "*" }
		}' "$RESULTS" | sort -g | awk '{ a[NR] = $1; star = $2 } END {
			if (NR == 0) { print "n/a"; exit }
			printf "%.2fx%s", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), star }'
}

count_of() { # config loop -> "runs" or "runs (tainted left out)"
	local all clean
	all=$(awk -v c="$1" -v l="$2" '$1 == c && $2 == l' "$RESULTS" | wc -l)
	clean=$(awk -v c="$1" -v l="$2" '$1 == c && $2 == l && $4 == 0' "$RESULTS" | wc -l)
	if [ "$clean" = "$all" ]; then echo "$all"; elif [ "$clean" -ge 3 ]; then echo "$clean of $all"; else echo "$all*"; fi
}

CONFIGS=(idle poll armed always bpftrace)
print_overhead() {
	local loop cfg base m ratio cell cells trusted goal
	echo
	echo "Syscall overhead: median ns/op over $rounds interleaved runs (baseline: every run before each"
	echo "configuration); ratio = median(with) / median(baseline). Goals: idle and poll <= ${GOAL_IDLE}x;"
	echo "armed no worse than always (PASS/FAIL, fdwatchd only)."
	printf '%-10s %9s' loop baseline
	for cfg in "${CONFIGS[@]}"; do printf '  %-19s' "$cfg"; done
	echo
	for loop in "${LOOPS[@]}"; do
		base=$(med_of none "$loop")
		printf '%-10s %9.1f' "$loop" "${base:-0}"
		for cfg in "${CONFIGS[@]}"; do
			m=$(med_of "$cfg" "$loop")
			if [ -z "$m" ] || [ -z "$base" ]; then
				printf '  %-19s' "n/a"
				continue
			fi
			ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
			cell=$(printf '%.1f %.2fx' "$m" "$ratio")
			trusted=1
			clean_enough "$cfg" "$loop" && clean_enough none "$loop" || { cell+='*'; trusted=''; }
			case $cfg in
			idle | poll) goal=$GOAL_IDLE ;;
			armed) goal=$(awk -v a="$(med_of always "$loop")" -v b="$base" 'BEGIN { if (a && b) printf "%.3f", 1.02 * a / b }') ;;
			*) goal='' ;;
			esac
			[ -n "$goal" ] &&
				cell+=$(awk -v r="$ratio" -v g="$goal" -v t="$trusted" 'BEGIN { printf "%s%s", (r <= g ? " PASS" : " FAIL"), (t ? "" : "?") }')
			printf '  %-19s' "$cell"
		done
		echo
	done
	echo "Paired: the median over rounds of each run's ratio to the baseline run just before it:"
	for loop in "${LOOPS[@]}"; do
		printf '%-10s %9s' "$loop" ""
		for cfg in "${CONFIGS[@]}"; do printf '  %-19s' "$(paired_of "$cfg" "$loop")"; done
		echo
	done
	[ "$WAITED" -gt 0 ] && echo "Waited ${WAITED} s in all for other processes' syscall tracing to end."
	printf 'Runs per cell: baseline %s' "$(count_of none getppid)"
	for cfg in "${CONFIGS[@]}"; do printf ', %s %s' "$cfg" "$(count_of "$cfg" getppid)"; done
	echo .
	if [ -s "$TMP/taints" ]; then
		echo "WARNING: something else traced syscalls or competed for the CPUs during $(wc -l <"$TMP/taints") block(s); their runs are left"
		echo "out of the medians ('*': too few clean runs, all used, the ratio is not to be trusted):"
		sed 's/^/    /' "$TMP/taints" | head -20
	fi
	echo "Peer: ${PEER_NOTE}${PEER_FAILED:+ (failed to start, see above)}."
}

# --- daemon cost -----------------------------------------------------------------
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { # utime + stime of every thread, in clock ticks
	# Field 2 (comm) may hold spaces: cut after the last ')'.
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
cpu_ns() { # sum of the threads' run time, in ns (schedstat), for precision
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'
}

daemon_cost() { # N
	local n_idle=$1 ipid log=$TMP/fdwatchd-cost-$1.log hz t0 t1 c0 c1 n0 n1 rss0 pct pct_ns rss hwm anon file shmem watched ok=0 i
	local p0 p1 r0 r1 passes
	local gcpu=${GOAL_CPU_PCT[$1]:-1} grss=${GOAL_RSS_MIB[$1]:-24}
	hz=$(getconf CLK_TCK)
	echo
	echo "Daemon cost: $n_idle idle processes, fdwatchd at its defaults (auto mode, tick 1s),"
	echo "settle ${SETTLE_SEC} s, then CPU over ${MEASURE_SEC} s."
	"$IDLE" -n "$n_idle" >"$TMP/idle.out" 2>"$TMP/idle.err" &
	ipid=$!
	STARTED+=("$ipid")
	for ((i = 0; i < 1200; i++)); do
		grep -q '^ready' "$TMP/idle.out" && { ok=1; break; }
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.05
	done
	if [ $ok = 0 ]; then
		echo "bench: the $n_idle idle processes did not start:" >&2
		sed 's/^/    /' "$TMP/idle.err" >&2
		CRASHED=1
		stop_pid "$ipid"
		return 1
	fi
	if ! start_fdwatchd defaults "$log"; then
		CRASHED=1
		stop_pid "$ipid"
		return 1
	fi
	sleep "$SETTLE_SEC"
	kill -0 "$DPID" 2>/dev/null || { stop_fdwatchd "$log"; CRASHED=1; stop_pid "$ipid"; return 1; }
	c0=$(cpu_ticks "$DPID") n0=$(cpu_ns "$DPID") t0=$(date +%s%N) rss0=$(status_kib "$DPID" VmRSS)
	p0=$(status_field count_passes) r0=$(status_field count_reads)
	sleep "$MEASURE_SEC"
	if ! kill -0 "$DPID" 2>/dev/null; then
		stop_fdwatchd "$log"
		CRASHED=1
		stop_pid "$ipid"
		return 1
	fi
	c1=$(cpu_ticks "$DPID") n1=$(cpu_ns "$DPID") t1=$(date +%s%N)
	p1=$(status_field count_passes) r1=$(status_field count_reads)
	# The count pass's time, sampled 5 times (after the CPU window: the calls cost CPU too).
	passes=()
	for ((i = 0; i < 5; i++)); do passes+=("$(status_field last_pass_usec)"); sleep 1.1; done
	rss=$(status_kib "$DPID" VmRSS) hwm=$(status_kib "$DPID" VmHWM)
	anon=$(status_kib "$DPID" RssAnon) file=$(status_kib "$DPID" RssFile) shmem=$(status_kib "$DPID" RssShmem)
	watched=$(status_field processes)
	pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v t=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * d / hz / (t / 1e9) }')
	pct_ns=$(awk -v d=$((n1 - n0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", 100 * d / t }')
	printf '  %-28s %s\n' "processes on the machine:" "$(ls /proc | grep -c '^[0-9]')"
	printf '  %-28s %s\n' "fdwatchd watches:" "${watched:-?} processes"
	printf '  %-28s %s%% of one core (%s ticks in %.1f s; schedstat: %s%%)  goal < %s%%  %s\n' "CPU:" \
		"$pct" $((c1 - c0)) "$(awk -v t=$((t1 - t0)) 'BEGIN { print t / 1e9 }')" "$pct_ns" "$gcpu" \
		"$(awk -v p="$pct_ns" -v g="$gcpu" 'BEGIN { print (p < g ? "PASS" : "FAIL") }')"
	printf '  %-28s %.1f MiB (anon %.1f, file %.1f, shmem %.1f; %.1f MiB %s s before)\n' "RSS (VmRSS) at the end:" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$anon" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$file" 'BEGIN { print k / 1024 }')" "$(awk -v k="$shmem" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$rss0" 'BEGIN { print k / 1024 }')" "$MEASURE_SEC"
	printf '  %-28s %.1f MiB  goal < %s MiB  %s\n' "peak RSS (VmHWM):" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" \
		"$grss" "$(awk -v k="$hwm" -v g="$grss" 'BEGIN { print (k / 1024 < g ? "PASS" : "FAIL") }')"
	printf '  %-28s %s passes, %s reads of /proc/PID/fd in %s s\n' "counts:" "$((p1 - p0))" "$((r1 - r0))" "$MEASURE_SEC"
	printf '  %-28s count pass %s us (median of 5), stat() of every /proc/PID/fd %s us (%s)\n' \
		"one pass over all:" "$(printf '%s\n' "${passes[@]}" | median)" \
		"$("$STATPASS" | awk '{ print $3 }')" "median of 7"
	printf '  %-28s %s (share of the last hour: %s; other tests on this machine may leak)\n' "armed at the end:" \
		"$(status_field probe_armed)" "$(status_field probe_armed_share)"
	grep -h "Syscall probe armed" "$log" | head -3 | while read -r line; do
		pid=$(sed -n 's/.*PID \([0-9]*\) first.*/\1/p' <<<"$line")
		printf '  %-28s %s (%s)\n' "armed by:" "${line#<6>}" "$(cat "/proc/$pid/comm" 2>/dev/null || echo gone)"
	done
	stop_fdwatchd "$log" || CRASHED=1
	stop_pid "$ipid"
}

# Dead processes of the storm (comm fdw-storm, or true after exec) still in the table.
storm_dead() {
	"$FDWATCHCTL" --socket "$SOCKET" --json top -n 100000 2>/dev/null | python3 -c '
import json, os, sys
n = 0
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    for p in d.get("processes", []):
        if p.get("comm") in ("fdw-storm", "true") and not os.path.exists("/proc/%d" % p["pid"]):
            n += 1
print(n)'
}

fork_storm() {
	local log=$TMP/fdwatchd-storm.log link=$TMP/fdw-storm out c0 c1 t0 t1 hz d0 d1 f0 f1 x0 x1
	hz=$(getconf CLK_TCK)
	echo
	echo "Fork storm: $STORM_RATE short-lived processes a second for $STORM_SEC s (a tenth exec /bin/true),"
	echo "fdwatchd at its defaults."
	[ -x "$STORM" ] || { echo "  not run: $STORM is not built (make test-build)"; return 0; }
	ln -sf "$STORM" "$link"
	start_fdwatchd defaults "$log" || { CRASHED=1; return 1; }
	sleep 2
	d0=$(status_field ringbuf_dropped) f0=$(status_field events_fork) x0=$(status_field events_exit)
	c0=$(cpu_ticks "$DPID") t0=$(date +%s%N)
	out=$("$link" --rate "$STORM_RATE" --duration "$STORM_SEC")
	c1=$(cpu_ticks "$DPID") t1=$(date +%s%N)
	sleep 3
	d1=$(status_field ringbuf_dropped) f1=$(status_field events_fork) x1=$(status_field events_exit)
	printf '  %-28s %s\n' "storm:" "$(awk '{ printf "%s processes in %s s, %s a second", $2, $3, $4 }' <<<"$out")"
	printf '  %-28s %s fork, %s exit records; %s lost (goal 0)  %s\n' "lifecycle records:" \
		$((f1 - f0)) $((x1 - x0)) $((d1 - d0)) "$([ $((d1 - d0)) = 0 ] && echo PASS || echo FAIL)"
	printf '  %-28s %s%% of one core during the storm\n' "fdwatchd CPU:" \
		"$(awk -v d=$((c1 - c0)) -v hz="$hz" -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * d / hz / (t / 1e9) }')"
	printf '  %-28s %s (3 s after)  goal 0\n' "dead storm processes left:" "$(storm_dead)"
	printf '  %-28s %.1f MiB\n' "peak RSS (VmHWM):" "$(awk -v k="$(status_kib "$DPID" VmHWM)" 'BEGIN { print k / 1024 }')"
	stop_fdwatchd "$log" || CRASHED=1
}

arm_times() {
	local log=$TMP/fdwatchd-arm.log i a d prev=0 arms=() detaches=()
	echo
	echo "Arming: $ARM_ROUNDS traces of a sleeping process (fdwatchctl trace --for 1s), auto mode."
	start_fdwatchd idle "$log" || { CRASHED=1; return 1; }
	for ((i = 0; i < ARM_ROUNDS; i++)); do
		arm_for_sleeper 1 || break
		arms+=("$(status_field probe_arm_usec)")
		for ((d = 0; d < 400; d++)); do
			a=$(status_field probe_detach_usec)
			[ "$(status_field probe_armed)" = false ] && [ "$a" != "$prev" ] && break
			sleep 0.1
		done
		prev=$a
		detaches+=("$a")
	done
	printf '  %-28s %s ms (median; each: %s us)\n' "attach (syscall links):" \
		"$(printf '%s\n' "${arms[@]}" | median | awk '{ printf "%.1f", $1 / 1000 }')" "${arms[*]}"
	printf '  %-28s %s s (median; each: %s us), on a thread: the loop goes on\n' "detach:" \
		"$(printf '%s\n' "${detaches[@]}" | median | awk '{ printf "%.2f", $1 / 1e6 }')" "${detaches[*]}"
	stop_fdwatchd "$log" || CRASHED=1
}

# --- main ------------------------------------------------------------------------
echo "fdwatch overhead bench: $(uname -r), $NCPU CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
t=$(foreign_tracing)
[ -n "$t" ] && echo "WARNING: before the bench, something else traces syscalls: $t."
[ "$RUNS" -lt 5 ] && echo "NOTE: RUNS=$RUNS; the goals ask for medians of at least 5."
if [ "${SKIP_OVERHEAD:-0}" != 1 ]; then
	overhead
	print_overhead
fi
if [ "${SKIP_COST:-0}" != 1 ]; then
	for n in $IDLE_NS; do daemon_cost "$n"; done
	fork_storm
	arm_times
fi
if [ "$CRASHED" != 0 ]; then
	echo "bench: something failed (see above)."
	exit 1
fi
exit 0
