#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# fdwatch under a real systemd as PID 1, end to end (TAP). A Debian root made
# by debootstrap (cached under /var/cache/fdwatch-test-rootfs, keyed by suite,
# package list and architecture) gets `make install DESTDIR=... PREFIX=/usr`
# and what a package's postinst does (sysusers, tmpfiles, catalog,
# `systemctl enable fdwatch.socket`) on a throw-away overlay, then boots in
# systemd-nspawn with CAP_BPF, CAP_PERFMON, bpf() and perf_event_open()
# allowed and the host's tracefs bound in. Driven from the host with
# `nsenter -t <container PID 1> -a`:
#   - the first `fdwatchctl status` starts fdwatchd by socket activation, with
#     exactly CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH;
#   - the count pass runs under the unit's hardening;
#   - leaky.service (User=nobody) leaking pipes is reported in the journal with
#     OBJECT_SYSTEMD_UNIT= and FDWATCH_UNIT=leaky.service, and shown by
#     `fdwatchctl top` and `fdwatchctl show PID`;
#   - a process in a real `systemd-run --scope` is shown with its unit, and
#     `top --unit=` finds it;
#   - scopes named as docker's and the kubelet's systemd cgroup drivers name them
#     are shown as container and pod (top, show, filters), and the pod container's
#     leak alert carries FDWATCH_CONTAINER_* and FDWATCH_POD_* in the journal;
#   - fdwatch-metrics.socket as installed answers GET /metrics (a DynamicUser
#     instance per connection) with leaky.service's open fds, labelled with
#     pid, comm, unit and user;
#   - `systemctl reload fdwatch` applies a drop-in (TickSec=, an Ignore= rule)
#     in the same process;
#   - SIGSTOP makes the watchdog restart the daemon (new MainPID);
#   - a stopped journald with a full socket queue does not: the daemon keeps
#     answering, feeding the watchdog and updating STATUS=, and the alerts
#     raised meanwhile reach the journal once it runs again;
#   - `systemctl stop fdwatch` leaves none of its BPF programs in the kernel
#     (`bpftool prog show` on the host).
# Everything happens in a private mount namespace (tracefs, the overlay, a
# tmpfs over /run/systemd/nspawn), so the host's mounts are never changed and
# nothing is left behind. Timings are printed as "# time ..." lines.
# Usage: tests/integration/test-systemd-e2e.sh   (root; OUTPUT=build dir)
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
OUTPUT=${OUTPUT:-$PWD/build}
CACHE=${FDWATCH_ROOTFS_CACHE:-/var/cache/fdwatch-test-rootfs}
PKGS=systemd,dbus,libbpf1,libdw1,procps,libcjson1,python3
SUITE=bookworm
if [ -r /etc/os-release ] && . /etc/os-release && [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ]; then
	SUITE=$VERSION_CODENAME # the binaries were built here: their libraries must match
fi

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }
diag() { sed 's/^/# /'; }
skip_all() { echo "ok 1 - systemd end to end # SKIP $1"; echo "1..1"; exit 0; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for tool in systemd-nspawn nsenter unshare bpftool systemd-sysusers python3; do
	command -v $tool >/dev/null || skip_all "$tool not installed"
done
[ -r /sys/kernel/btf/vmlinux ] || skip_all "no kernel BTF"
[ -x "$OUTPUT/fdwatchd" ] && [ -x "$OUTPUT/fdwatchctl" ] || skip_all "fdwatchd/fdwatchctl not built in $OUTPUT"
# The container has the runtime libraries of a package install, not the sanitizers'.
ldd "$OUTPUT/fdwatchd" | grep -q 'lib[at]san' && skip_all "a sanitizer build (SANITIZE=1) does not run in the container"

# Everything below runs in a private mount namespace: its mounts vanish with it.
if [ -z "${FDWATCH_E2E_PRIVATE:-}" ]; then
	FDWATCH_E2E_PRIVATE=1 exec unshare -m --propagation private bash "$0" "$@"
fi

work= nspawn_pid= leader= pidns= created_dirs=()
cleanup() {
	local i
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$leader" ] || { declare -F find_leader >/dev/null && find_leader; }
		kill -CONT "$nspawn_pid" 2>/dev/null
		kill -TERM "$nspawn_pid" 2>/dev/null # nspawn asks the container's systemd to power off
		for i in $(seq 100); do [[ $(ps -o stat= -p "$nspawn_pid") == [^Z]* ]] || break; sleep 0.1; done
		kill -KILL "$nspawn_pid" 2>/dev/null
		wait "$nspawn_pid" 2>/dev/null
	fi
	# Should nspawn have died first, the container's PID 1 takes its namespace with it.
	if [ -n "$leader" ] && [ "$(readlink /proc/"$leader"/ns/pid 2>/dev/null)" = "${pidns:-none}" ]; then
		kill -KILL "$leader" 2>/dev/null
	fi
	if [ -n "$work" ]; then
		umount -l "$work/root" 2>/dev/null
		umount -l "$work" 2>/dev/null
		rm -rf "$work"
	fi
	umount -l /run/systemd/nspawn 2>/dev/null
	for ((i = ${#created_dirs[@]} - 1; i >= 0; i--)); do rmdir "${created_dirs[i]}" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_all=$(now)

# --- tracefs: per-syscall tracepoints need it; mounted here only ---------------
if ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs nodev /sys/kernel/tracing || skip_all "cannot mount tracefs"
fi

# --- the root file system, cached -------------------------------------------
key=$(printf '%s minbase %s %s\n' "$SUITE" "$PKGS" "$(dpkg --print-architecture)" | sha256sum | cut -c1-16)
base=$CACHE/$SUITE-$key
mkdir -p "$CACHE"
t0=$(now)
exec 9>"$CACHE/.lock"
flock 9
if [ ! -e "$base/.fdwatch-rootfs-complete" ]; then
	command -v debootstrap >/dev/null || skip_all "debootstrap not installed"
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
	rm -rf "$base.tmp"
	if ! debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$base.tmp" "${mirror:-http://deb.debian.org/debian}" \
		>"$CACHE/debootstrap.log" 2>&1; then
		not_ok "debootstrap $SUITE"
		tail -20 "$CACHE/debootstrap.log" | diag
		rm -rf "$base.tmp"
		echo "1..$n"
		exit 1
	fi
	rm -f "$base.tmp"/var/cache/apt/archives/*.deb
	touch "$base.tmp/.fdwatch-rootfs-complete"
	mv "$base.tmp" "$base"
	echo "# time debootstrap $(since "$t0") s (fresh root, now cached in $base)"
else
	echo "# time debootstrap 0 s (cached: $base)"
fi
flock -u 9

# A throw-away overlay on the cached root: the cache stays pristine.
work=$(mktemp -d /var/tmp/fdwatch-e2e.XXXXXX)
mount -t tmpfs -o size=2g,mode=0700 tmpfs "$work"
mkdir "$work/upper" "$work/ovl" "$work/root"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$work/root"
root=$work/root

# --- install, as a package would ----------------------------------------------
install_into_root() {
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/usr OUTPUT="$OUTPUT" || return 1
	systemd-sysusers --root="$root" || return 1
	systemd-tmpfiles --root="$root" --create "$root/usr/lib/tmpfiles.d/fdwatch.conf" || return 1
	journalctl --root="$root" --update-catalog || return 1
	systemctl --root="$root" enable fdwatch.socket || return 1
}
if out=$(install_into_root 2>&1); then ok "make install DESTDIR=<root> PREFIX=/usr, sysusers, tmpfiles, catalog, enable fdwatch.socket"; else
	not_ok "make install into the container root"
	printf '%s\n' "$out" | tail -20 | diag
	echo "1..$n"
	exit 1
fi
if out=$(chroot "$root" /usr/sbin/fdwatchd --version 2>&1); then ok "the installed fdwatchd runs in the container's libraries ($out)"; else
	not_ok "the installed fdwatchd runs in the container's libraries"
	{ printf '%s\n' "$out"; chroot "$root" ldd /usr/sbin/fdwatchd; } 2>&1 | diag
fi

# Quicker verdicts than the defaults, so the test takes seconds, not minutes.
cat >"$root/etc/fdwatch/fdwatch.conf.d/10-e2e.conf" <<'EOF'
[Detect]
LeakMinSec=5s
CooldownSec=10s
EOF
# The workload: pipes leaking at a steady rate, in a unit of its own, as
# another user (reading its /proc/PID/fd needs CAP_DAC_READ_SEARCH).
if [ -x "$OUTPUT/workloads/leak" ]; then
	install -m 0755 "$OUTPUT/workloads/leak" "$root/usr/local/bin/leak"
	leak_cmd="/usr/local/bin/leak --kind pipe --rate 20 --limit 1024 --duration 600"
else
	install -m 0755 tests/workloads/origin_story.py "$root/usr/local/bin/origin_story.py"
	leak_cmd="/usr/bin/python3 /usr/local/bin/origin_story.py --limit 1024 --period 0.1 --duration 600"
fi
cat >"$root/etc/systemd/system/leaky.service" <<EOF
[Unit]
Description=fdwatch e2e: a service that leaks pipes
[Service]
ExecStart=$leak_cmd
User=nobody
EOF

# --- boot ---------------------------------------------------------------------
for d in /run/systemd /run/systemd/nspawn; do
	[ -d $d ] || { mkdir $d && created_dirs+=($d); }
done
mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn # nspawn's locks and propagation dirs

machine=fdwatch-e2e-$$
t0=$(now)
# setsid: its own session, so no signal meant for this script's process group reaches it.
setsid systemd-nspawn -b -D "$root" --machine="$machine" --register=no --keep-unit --console=pipe \
	--capability=CAP_BPF,CAP_PERFMON --system-call-filter='bpf perf_event_open' \
	--bind-ro=/sys/kernel/tracing </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
find_leader() { # the container's PID 1: nspawn's child in a PID namespace of its own
	leader=$(ps -o pid= --ppid "$nspawn_pid" | head -1 | tr -d ' ')
	[ -n "$leader" ] && pidns=$(readlink /proc/"$leader"/ns/pid) && [ "$pidns" != "$(readlink /proc/self/ns/pid)" ]
}
c() { nsenter -t "$leader" -a -- "$@"; }
booted() { find_leader && [[ $(c systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
if wait_for 60 booted; then
	ok "container boots: systemctl is-system-running = $(c systemctl is-system-running)"
	echo "# time boot $(since "$t0") s"
else
	not_ok "container boots"
	{ tail -20 "$work/console.log"; [ -n "$leader" ] && c systemctl --failed --no-pager; } 2>&1 | diag
	echo "1..$n"
	exit 1
fi
c systemctl --failed --no-legend --no-pager 2>&1 | diag
t_tests=$(now)

prop() { c systemctl show -p "$2" --value "$1"; }
json_get() { # json_get EXPR: evaluate EXPR on the parsed JSON on stdin (as j)
	python3 -c 'import json, sys; j = json.loads(sys.stdin.read().split("\0")[0]); print(eval(sys.argv[1]))' "$1"
}
# Host PIDs of the container's fdwatchd processes (bpftool reports host PIDs).
host_pids_of_daemon() {
	local p
	for p in $(pgrep -x fdwatchd); do
		[ "$(readlink /proc/$p/ns/pid 2>/dev/null)" = "$pidns" ] && echo "$p"
	done
}
# IDs and names of the BPF programs the given host PIDs hold, from the
# prog_id: lines of their fds' fdinfo (program and link fds); names from bpftool.
bpf_progs_of() {
	local p ids
	[ $# -gt 0 ] || return 0
	ids=$(for p in "$@"; do cat /proc/"$p"/fdinfo/* 2>/dev/null; done | sed -n 's/^prog_id:[[:space:]]*//p' | sort -un)
	for p in $ids; do
		echo "$p $(bpftool prog show id "$p" -j 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("name", "?"))' 2>/dev/null)"
	done
}

# --- units as installed -------------------------------------------------------
check_socket() {
	[ "$(prop fdwatch.socket ActiveState)" = active ] || { echo "fdwatch.socket: $(prop fdwatch.socket ActiveState)"; return 1; }
	[ "$(prop fdwatch.service ActiveState)" = inactive ] || { echo "fdwatch.service already $(prop fdwatch.service ActiveState)"; return 1; }
	[ "$(c stat -c '%A %U %G' /run/fdwatch/api.sock)" = "srw-rw---- root fdwatch" ] ||
		{ c stat -c '%A %U %G' /run/fdwatch/api.sock; return 1; }
}
if out=$(check_socket 2>&1); then ok "fdwatch.socket listens on /run/fdwatch/api.sock (0660 root:fdwatch), the daemon not started"; else
	not_ok "fdwatch.socket listens, daemon not started"; printf '%s\n' "$out" | diag
fi

# --- socket activation --------------------------------------------------------
t0=$(now)
if out=$(c fdwatchctl status 2>&1) && [ "$(prop fdwatch.service ActiveState)" = active ]; then
	ok "first fdwatchctl status starts fdwatchd by socket activation ($(since "$t0") s)"
	printf '%s\n' "$out" | head -15 | diag
else
	not_ok "first fdwatchctl status starts fdwatchd by socket activation"
	{ printf '%s\n' "$out"; c systemctl status --no-pager fdwatch.service; c journalctl -b -u fdwatch --no-pager | tail -20; } 2>&1 | diag
fi
pid1=$(prop fdwatch.service MainPID)

# The capabilities it runs with: exactly the bounding set of the unit.
want_caps=000000c000000004 # CAP_BPF (39), CAP_PERFMON (38), CAP_DAC_READ_SEARCH (2)
caps=$(c awk '/^Cap(Eff|Bnd):/ { printf "%s=%s ", $1, $2 }' /proc/"$pid1"/status 2>&1)
if [ "$caps" = "CapEff:=$want_caps CapBnd:=$want_caps " ]; then
	ok "fdwatchd runs with CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH only"
else
	not_ok "fdwatchd runs with CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH only (want $want_caps)"
	echo "$caps" | diag
fi

# The count pass and the census iterators load under the unit's hardening (light skeletons:
# their loader programs are BPF too), and no kernel BTF was read at start.
sleep 2
passes=$(c fdwatchctl --json status | json_get 'j["count_passes"]' 2>/dev/null)
if [ "${passes:-0}" -gt 0 ] && ! c journalctl -b -u fdwatch --no-pager | grep -q "not available here"; then
	ok "count passes run in the hardened service ($passes so far)"
else
	not_ok "count passes run in the hardened service (count_passes ${passes:-?})"
	c journalctl -b -u fdwatch --no-pager | tail -10 | diag
fi

# Who may connect: fdwatch.socket's SocketGroup=fdwatch, SocketMode=0660.
gid=$(c getent group fdwatch | cut -d: -f3)
c setpriv --reuid=nobody --regid=nogroup --clear-groups fdwatchctl status >/dev/null 2>&1
rc_other=$?
c setpriv --reuid=nobody --regid=nogroup --groups="$gid" fdwatchctl status >/dev/null 2>&1
rc_member=$?
if [ "$rc_other" = 77 ] && [ "$rc_member" = 0 ]; then
	ok "the socket admits group fdwatch (exit 0) and refuses other users (exit 77)"
else
	not_ok "the socket admits group fdwatch (exit $rc_member, want 0) and refuses other users (exit $rc_other, want 77)"
fi

# --- a leaking service is reported --------------------------------------------
c systemctl start leaky.service
leaky_pid=$(prop leaky.service MainPID)
t0=$(now)
alert_json() { c journalctl -o json --no-pager FDWATCH_UNIT=leaky.service | head -1; }
has_alert() { [ -n "$(alert_json)" ]; }
if wait_for 90 has_alert; then
	ok "leaky.service (pid $leaky_pid) alerted in the journal after $(since "$t0") s"
	alert_json | python3 -c '
import json, sys
e = json.loads(sys.stdin.readline())
for k in ("MESSAGE", "PRIORITY", "MESSAGE_ID", "OBJECT_PID", "OBJECT_COMM", "OBJECT_SYSTEMD_UNIT",
          "FDWATCH_UNIT", "FDWATCH_STATE", "FDWATCH_KIND", "FDWATCH_FDS", "FDWATCH_RATE", "FDWATCH_ETA_SEC"):
    print(k + "=" + str(e.get(k)))' >"$work/alert.txt"
	diag <"$work/alert.txt"
	if grep -qx OBJECT_SYSTEMD_UNIT=leaky.service "$work/alert.txt" && grep -qx FDWATCH_UNIT=leaky.service "$work/alert.txt"; then
		ok "journald enriched the alert: OBJECT_SYSTEMD_UNIT=leaky.service, FDWATCH_UNIT=leaky.service"
	else
		not_ok "journald enriched the alert: OBJECT_SYSTEMD_UNIT=leaky.service, FDWATCH_UNIT=leaky.service"
	fi
	if grep -qx "OBJECT_PID=$leaky_pid" "$work/alert.txt"; then
		ok "the alert names the process (OBJECT_PID=$leaky_pid)"
	else
		not_ok "the alert names the process (OBJECT_PID=$leaky_pid)"
	fi
	if grep -qx FDWATCH_KIND=pipe "$work/alert.txt"; then
		ok "the alert names the kind of fd leaked (FDWATCH_KIND=pipe)"
	else
		not_ok "the alert names the kind of fd leaked (FDWATCH_KIND=pipe, not $(sed -n 's/^FDWATCH_KIND=//p' "$work/alert.txt"))"
	fi
else
	not_ok "leaky.service alerted in the journal within 90 s"
	{ c fdwatchctl top; c journalctl -b -u fdwatch --no-pager | tail -20; } 2>&1 | diag
	not_ok "journald enriched the alert (no alert)"
	not_ok "the alert names the process (no alert)"
	not_ok "the alert names the kind of fd leaked (no alert)"
fi
if out=$(c fdwatchctl top 2>&1) && grep -qw "$leaky_pid" <<<"$out"; then
	ok "fdwatchctl top lists leaky.service's process"
	printf '%s\n' "$out" | head -8 | diag
else
	not_ok "fdwatchctl top lists leaky.service's process ($leaky_pid)"
	printf '%s\n' "$out" | head -20 | diag
fi
if out=$(c fdwatchctl show "$leaky_pid" 2>&1) && grep -q '^Unit: *leaky.service' <<<"$out"; then
	ok "fdwatchctl show $leaky_pid names leaky.service"
	printf '%s\n' "$out" | head -20 | diag
else
	not_ok "fdwatchctl show $leaky_pid names leaky.service"
	printf '%s\n' "$out" | head -20 | diag
fi
# The probe, not only reconciliation with /proc, saw the pipes being made.
if pipes=$(c fdwatchctl --json show "$leaky_pid" | json_get 'j["created"]["pipe"]') && [ "${pipes:-0}" -gt 0 ]; then
	ok "the probe counted leaky.service's pipe() calls (created.pipe $pipes)"
else
	not_ok "the probe counted leaky.service's pipe() calls (created.pipe ${pipes:-?}: the counts came from /proc alone)"
fi

# --- a scope by name, and the metrics endpoint as installed -------------------
# A process in a real `systemd-run --scope` is shown with its unit.
c sh -c 'setsid systemd-run --quiet --scope --unit=fdw-e2e-scope.scope -- sh -c "echo \$\$ >/run/fdw-e2e-scope.pid; exec sleep 600" </dev/null >/dev/null 2>&1 &'
scope_pid() { c cat /run/fdw-e2e-scope.pid 2>/dev/null; }
scope_shown() { local p; p=$(scope_pid) && [ -n "$p" ] && c fdwatchctl show "$p" 2>/dev/null | grep -q '^Unit: *fdw-e2e-scope.scope'; }
if wait_for 20 scope_shown; then
	ok "a process in systemd-run --scope (pid $(scope_pid)) is shown with its unit fdw-e2e-scope.scope"
	c fdwatchctl show "$(scope_pid)" | head -6 | diag
else
	not_ok "a process in systemd-run --scope is shown with its unit fdw-e2e-scope.scope"
	{ c systemctl status --no-pager fdw-e2e-scope.scope; c cat /proc/"$(scope_pid)"/cgroup; c fdwatchctl show "$(scope_pid)"; } 2>&1 | head -20 | diag
fi
if out=$(c fdwatchctl --json top --unit='fdw-e2e-*.scope' 2>&1) &&
	[ "$(json_get '[p["pid"] for p in j["processes"]]' <<<"$out")" = "[$(scope_pid)]" ]; then
	ok "fdwatchctl top --unit=fdw-e2e-*.scope lists exactly that process"
else
	not_ok "fdwatchctl top --unit=fdw-e2e-*.scope lists exactly that process"
	printf '%s\n' "$out" | head -10 | diag
fi
c systemctl stop fdw-e2e-scope.scope 2>/dev/null

# Containers and pods by name, from real cgroups laid out as docker's and the kubelet's
# systemd cgroup drivers lay them out (a scope per container, a slice per pod).
cid=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
kid=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
pod=8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f
c sh -c "setsid systemd-run --quiet --scope --unit=docker-$cid.scope -- sh -c 'echo \$\$ >/run/fdw-e2e-docker.pid; exec sleep 600' </dev/null >/dev/null 2>&1 &"
# The pod's container leaks (as leaky.service does), so its alert is in the journal too.
pod_cmd=${leak_cmd/--limit 1024/--limit 4096}
c sh -c "setsid systemd-run --quiet --scope --slice=kubepods-burstable-pod${pod//-/_}.slice --unit=cri-containerd-$kid.scope -- sh -c 'echo \$\$ >/run/fdw-e2e-pod.pid; exec $pod_cmd' </dev/null >/dev/null 2>&1 &"
docker_pid() { c cat /run/fdw-e2e-docker.pid 2>/dev/null; }
pod_pid() { c cat /run/fdw-e2e-pod.pid 2>/dev/null; }
containers_shown() {
	local p q
	p=$(docker_pid) && q=$(pod_pid) && [ -n "$p" ] && [ -n "$q" ] &&
		c fdwatchctl show "$p" | grep -qx "Container:  docker $cid" &&
		c fdwatchctl show "$q" | grep -qx "Container:  containerd $kid" &&
		c fdwatchctl show "$q" | grep -qx "Pod:        $pod (QoS burstable)"
}
if wait_for 20 containers_shown; then
	ok "fdwatchctl show names the docker container and the Kubernetes pod (QoS burstable) of real cgroups"
	c fdwatchctl show "$(pod_pid)" | sed -n '4,8p' | diag
else
	not_ok "fdwatchctl show names the docker container and the Kubernetes pod of real cgroups"
	{ c cat /proc/"$(pod_pid)"/cgroup; c fdwatchctl show "$(pod_pid)"; c fdwatchctl show "$(docker_pid)"; } 2>&1 | head -30 | diag
fi
pids_of() { c fdwatchctl --json top "$@" | json_get 'sorted(p["pid"] for p in j["processes"])'; }
if [ "$(pids_of --runtime=docker)" = "[$(docker_pid)]" ] && [ "$(pids_of --pod=${pod:0:8})" = "[$(pod_pid)]" ] &&
	[ "$(pids_of --container=${kid:0:12})" = "[$(pod_pid)]" ] &&
	c fdwatchctl top | grep -q "docker:${cid:0:12}"; then
	ok "top filters by --runtime, --pod, --container and shows runtime:id in its UNIT column"
else
	not_ok "top filters by --runtime, --pod, --container and shows runtime:id in its UNIT column"
	{ pids_of --runtime=docker; pids_of --pod=${pod:0:8}; c fdwatchctl top; } 2>&1 | head -20 | diag
fi
pod_alert() { c journalctl -o json --no-pager FDWATCH_POD_UID="$pod" | head -1; }
has_pod_alert() { [ -n "$(pod_alert)" ]; }
if wait_for 60 has_pod_alert && pod_alert | python3 -c '
import json, sys
e = json.loads(sys.stdin.readline())
want = {"FDWATCH_CONTAINER_RUNTIME": "containerd", "FDWATCH_CONTAINER_ID": sys.argv[1],
        "FDWATCH_POD_UID": sys.argv[2], "FDWATCH_POD_QOS": "burstable",
        "OBJECT_PID": sys.argv[3]}
bad = {k: e.get(k) for k, v in want.items() if e.get(k) != v}
print(e.get("MESSAGE"))
sys.exit(1 if bad else 0)' "$kid" "$pod" "$(pod_pid)" >"$work/pod-alert.txt" 2>&1; then
	ok "the pod container's leak alert carries FDWATCH_CONTAINER_RUNTIME/_ID, FDWATCH_POD_UID/_QOS in the journal"
	diag <"$work/pod-alert.txt"
else
	not_ok "the pod container's leak alert carries FDWATCH_CONTAINER_RUNTIME/_ID, FDWATCH_POD_UID/_QOS in the journal"
	{ cat "$work/pod-alert.txt"; pod_alert; c fdwatchctl show "$(pod_pid)"; } 2>&1 | head -20 | diag
fi
c systemctl stop "docker-$cid.scope" "cri-containerd-$kid.scope" 2>/dev/null

# fdwatch-metrics.socket as installed: each scrape is a fdwatch-metrics@.service instance
# (a dynamic user in the groups fdwatch and fdwatch-metrics) that sees every process
# through the installed AdminGroup=fdwatch-metrics drop-in. systemd accepts a TCP
# connection in the socket unit's cgroup (so IPAddressDeny= and the like apply), which
# this nested container's cgroup setup refuses ("Failed to join unit cgroup"): here a
# drop-in moves the socket to a Unix path, everything else as shipped. test-fleet.py
# serves the shipped TCP address to Prometheus.
c mkdir -p /run/systemd/system/fdwatch-metrics.socket.d
c sh -c "printf '[Socket]\nListenStream=\nListenStream=/run/fdwatch-metrics.sock\n' >/run/systemd/system/fdwatch-metrics.socket.d/50-e2e-unix.conf"
c systemctl daemon-reload
c systemctl start fdwatch-metrics.socket
scrape() { # GET /metrics over the socket; the body of the reply
	c python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect("/run/fdwatch-metrics.sock")
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
buf = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    buf += b
head, _, body = buf.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), file=sys.stderr)
sys.stdout.write(body.decode())'
}
leaky_series() { scrape | grep -E "^fdwatch_process_open_fds\{pid=\"$leaky_pid\",comm=\"leak\",unit=\"leaky.service\",user=\"nobody\"\} [0-9]+$"; }
if wait_for 20 leaky_series; then
	ok "GET /metrics from fdwatch-metrics.socket (as installed, on a Unix path): $(leaky_series)"
else
	not_ok "GET /metrics from fdwatch-metrics.socket shows leaky.service's open fds with pid, comm, unit, user"
	{ scrape 2>&1 | grep -E '^fdwatch_(up|processes\{|process_open_fds)|Error' | head; c systemctl status --no-pager fdwatch-metrics.socket | tail -5; c systemctl list-units --all --no-pager --no-legend 'fdwatch-metrics@*' | tail -3; c journalctl -b --no-pager | grep -i 'metrics' | tail -15; } 2>&1 | head -40 | diag
fi
if [ "$(c systemctl show -p Accept --value fdwatch-metrics.socket)" = yes ] &&
	[ "$(c systemctl show -p NAccepted --value fdwatch-metrics.socket)" -ge 1 ]; then
	ok "fdwatch-metrics.socket accepted $(c systemctl show -p NAccepted --value fdwatch-metrics.socket) connections, one instance each"
else
	not_ok "fdwatch-metrics.socket accepted connections (Accept=yes)"
fi
timeout 20 nsenter -t "$leader" -a -- systemctl stop fdwatch-metrics.socket

# --- reload -------------------------------------------------------------------
cat >"$root/etc/fdwatch/fdwatch.conf.d/50-e2e-reload.conf" <<'EOF'
[Probe]
TickSec=2s

[Rule e2e-quiet]
Unit=leaky.service
Ignore=yes
EOF
c systemctl reload fdwatch.service
reloaded() {
	[ "$(c fdwatchctl --json status | json_get 'float(j["tick_sec"]) == 2.0')" = True ] &&
		[ "$(c fdwatchctl --json show "$leaky_pid" | json_get 'j["ignored"]')" = True ]
}
if wait_for 10 reloaded && [ "$(prop fdwatch.service MainPID)" = "$pid1" ]; then
	ok "systemctl reload fdwatch applies a drop-in (tick_sec 2, leaky ignored) in the same process"
else
	not_ok "systemctl reload fdwatch applies a drop-in (tick_sec 2, leaky ignored) in the same process"
	{ c fdwatchctl --json status; echo; c fdwatchctl --json show "$leaky_pid"; echo; c journalctl -b -u fdwatch --no-pager | tail -10; } 2>&1 | head -40 | diag
fi

# --- watchdog -----------------------------------------------------------------
prog_ids=$(bpf_progs_of $(host_pids_of_daemon))
if [ -n "$prog_ids" ]; then
	ok "host bpftool sees the daemon's programs: $(echo "$prog_ids" | awk '{ print $2 }' | sort -u | tr '\n' ' ')"
else
	not_ok "host bpftool sees the daemon's BPF programs"
fi
all_prog_ids=$(echo "$prog_ids" | awk '{ print $1 }')
c mkdir -p /run/systemd/system/fdwatch.service.d
c sh -c 'printf "[Service]\nWatchdogSec=2s\nRestartSec=100ms\n" >/run/systemd/system/fdwatch.service.d/50-e2e-watchdog.conf'
c systemctl daemon-reload
c systemctl restart fdwatch.service # WATCHDOG_USEC is passed at start
wait_for 10 test "$(prop fdwatch.service ActiveState)" = active
pid2=$(prop fdwatch.service MainPID)
all_prog_ids="$all_prog_ids $(bpf_progs_of $(host_pids_of_daemon) | awk '{ print $1 }')"
restarts=$(prop fdwatch.service NRestarts)
[[ $pid2 =~ ^[1-9][0-9]*$ ]] && c kill -STOP "$pid2" # never "kill -STOP 0": that is our own group
t0=$(now)
restarted() {
	local p
	p=$(prop fdwatch.service MainPID)
	[ "$p" != 0 ] && [ "$p" != "$pid2" ] && [ "$(prop fdwatch.service ActiveState)" = active ]
}
if wait_for 30 restarted; then
	ok "SIGSTOPped daemon restarted by the watchdog after $(since "$t0") s (MainPID $pid2 -> $(prop fdwatch.service MainPID), NRestarts $restarts -> $(prop fdwatch.service NRestarts))"
	c journalctl -b -u fdwatch --no-pager | grep -i watchdog | tail -2 | diag
else
	not_ok "SIGSTOPped daemon restarted by the watchdog within 30 s"
	{ c systemctl status --no-pager fdwatch.service; c journalctl -b -u fdwatch --no-pager | tail -10; } 2>&1 | diag
fi
all_prog_ids="$all_prog_ids $(bpf_progs_of $(host_pids_of_daemon) | awk '{ print $1 }')"

# --- journald stuck -----------------------------------------------------------
# journald stopped (as if stuck on a slow disk) and its socket's queue full, for
# three times WatchdogSec (2 s, above) while a service leaks to EMFILE: the
# daemon keeps answering and feeding the watchdog (WATCHDOG=1 goes to PID 1, not
# to journald), so it is not restarted; once journald runs again the alerts
# raised meanwhile are in the journal.
wait_for 10 test "$(prop fdwatch.service ActiveState)" = active
c fdwatchctl status >/dev/null 2>&1
pid3=$(prop fdwatch.service MainPID)
restarts3=$(prop fdwatch.service NRestarts)
jpid=$(prop systemd-journald.service MainPID)
fill_journal='
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setblocking(False)
n = 0
try:
    while n < 100000:
        s.sendto(b"MESSAGE=fdwatch e2e filler\n", "/run/systemd/journal/socket")
        n += 1
except BlockingIOError:
    print(n)
'
slow=0 replies=0 worst=0.0
if [[ $pid3 =~ ^[1-9][0-9]*$ ]] && [[ $jpid =~ ^[1-9][0-9]*$ ]]; then
	c kill -STOP "$jpid"
	took=$(c python3 -c "$fill_journal" 2>&1)
	echo "# journald (pid $jpid) stopped; its socket took ${took:-?} filler datagrams, then EAGAIN"
	# It keeps trying after EMFILE, as a leaking service does: in auto mode the probe is
	# armed once a read sees it at its limit, and counts the failures from then on.
	c systemd-run --quiet --unit=leak-stall -p User=nobody /usr/local/bin/leak --kind pipe --rate 400 \
		--limit 200 --duration 4 >/dev/null 2>&1
	c kill -HUP "$pid3" # a reload: log lines on stderr, a stream to the stopped journald
	t0=$(now)
	while [ "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print (b - a < 6.5) }')" = 1 ]; do
		t1=$(now)
		timeout 10 nsenter -t "$leader" -a -- fdwatchctl status >/dev/null 2>&1 || slow=$((slow + 1))
		d=$(since "$t1")
		replies=$((replies + 1))
		awk -v d="$d" 'BEGIN { exit !(d >= 1.0) }' && slow=$((slow + 1))
		awk -v d="$d" -v w="$worst" 'BEGIN { exit !(d > w) }' && worst=$d
		sleep 0.3
	done
	stalled=$(since "$t0")
	status_text=$(prop fdwatch.service StatusText)
	alerts_stalled=$(c fdwatchctl --json alerts | json_get 'len([a for a in j["alerts"] if a.get("unit") == "leak-stall.service"])' 2>/dev/null)
	queued=$(c fdwatchctl --json status | json_get 'j["journal"]["queued"]' 2>/dev/null)
	c kill -CONT "$jpid"
	if [ "$slow" = 0 ] && [ "$(prop fdwatch.service MainPID)" = "$pid3" ] && [ "$(prop fdwatch.service NRestarts)" = "$restarts3" ]; then
		ok "journald stopped ${stalled} s (WatchdogSec=2s): not restarted (MainPID $pid3, NRestarts $restarts3), $replies status replies, slowest ${worst} s"
	else
		not_ok "journald stopped ${stalled} s (WatchdogSec=2s): not restarted (MainPID $pid3 -> $(prop fdwatch.service MainPID), NRestarts $restarts3 -> $(prop fdwatch.service NRestarts)), $slow of $replies status replies slow or failed"
		c journalctl -b -u fdwatch --no-pager 2>&1 | tail -10 | diag
	fi
	if [[ $status_text == *"journal: "*" waiting"* ]]; then
		ok "STATUS= kept current meanwhile: \"$status_text\""
	else
		not_ok "STATUS= kept current while journald was stopped (\"$status_text\")"
	fi
	stall_alerts() { [ "$(c journalctl -o json --no-pager FDWATCH_UNIT=leak-stall.service | wc -l)" -ge "${alerts_stalled:-1}" ]; }
	if [ "${alerts_stalled:-0}" -ge 1 ] && [ "${queued:-0}" -ge 1 ] && wait_for 20 stall_alerts; then
		ok "the $alerts_stalled alerts raised meanwhile (queued: $queued) are in the journal once it runs again"
	else
		not_ok "alerts raised while journald was stopped reach it afterwards (history ${alerts_stalled:-?}, queued ${queued:-?}, journal $(c journalctl -o json --no-pager FDWATCH_UNIT=leak-stall.service | wc -l))"
	fi
else
	not_ok "journald stuck: no fdwatchd ($pid3) or journald ($jpid) main PID"
	not_ok "STATUS= kept current while journald was stopped (not run)"
	not_ok "alerts raised while journald was stopped reach it afterwards (not run)"
fi

# --- stop ---------------------------------------------------------------------
c systemctl stop fdwatch.service 2>&1 | diag # "can still be activated by fdwatch.socket"
stopped_clean() {
	local id left=""
	[ "$(prop fdwatch.service ActiveState)" = inactive ] || { echo "fdwatch.service $(prop fdwatch.service ActiveState)"; return 1; }
	[ -z "$(host_pids_of_daemon)" ] || { echo "fdwatchd still running: $(host_pids_of_daemon)"; return 1; }
	for id in $all_prog_ids; do
		bpftool prog show id "$id" >/dev/null 2>&1 && left="$left $id"
	done
	[ -z "$left" ] || { echo "BPF programs still loaded:$left"; bpftool prog show | grep -A2 -E "^($(echo $left | tr ' ' '|')):"; return 1; }
}
if wait_for 10 stopped_clean; then
	ok "systemctl stop fdwatch leaves none of its BPF programs loaded (checked $(echo $all_prog_ids | wc -w) ids)"
else
	not_ok "systemctl stop fdwatch leaves no BPF program loaded"
	stopped_clean 2>&1 | diag
	c journalctl -b -u fdwatch --no-pager 2>&1 | tail -15 | diag
fi
# The socket outlives the service (RuntimeDirectoryPreserve=yes keeps
# /run/fdwatch and the socket in it): the next client starts the daemon again.
if c fdwatchctl status >/dev/null 2>&1 && [ "$(prop fdwatch.service ActiveState)" = active ]; then
	ok "after stop, the next fdwatchctl status activates the daemon again"
else
	not_ok "after stop, the next fdwatchctl status activates the daemon again"
	c ls -la /run/fdwatch 2>&1 | diag
fi
c systemctl stop fdwatch.socket fdwatch.service
echo "# time tests $(since "$t_tests") s"

# --- power off ----------------------------------------------------------------
t0=$(now)
kill -TERM "$nspawn_pid"
nspawn_gone() { local s; s=$(ps -o stat= -p "$nspawn_pid" 2>/dev/null); [ -z "$s" ] || [[ $s == Z* ]]; }
if wait_for 30 nspawn_gone; then
	ok "container powers off ($(since "$t0") s)"
else
	not_ok "container powers off within 30 s"
fi
echo "# time total $(since "$t_all") s"
echo "1..$n"
