#!/usr/bin/env python3
"""Attribution bench (`make bench`): what a census and the creation records cost.

  1. Census time: a process holding 1,000 and then 10,000 fds (a quarter each of pipe ends,
     TCP sockets, files, eventfds); GetProcess five times, more than a second apart (a younger
     census is reused): the census's own time (took_sec) and the whole call, medians.
  2. Memory with 100,000 outstanding fds tracked: six processes that leak slowly until fdwatchd
     records their creations, then open 16,667 eventfds each at once (six, because a hard
     RLIMIT_NOFILE may be low and only CAP_SYS_RESOURCE raises it). Reported: the creation
     records held, the BPF maps' memory (memlock from the daemon's fdinfo), the daemon's RSS
     before and after, and the GetProcess calls that aggregate the records.
Not a pass/fail test; it exits non-zero only when something failed to run. Runs in a private
mount namespace (fdwlib.isolate); only processes it started are signalled.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import fdwlib  # noqa: E402

CONFIG = """
[Probe]
TickSec=500ms
RescanSec=2s
[Detect]
LeakMinSec=3
"""
FDHOLD = os.path.join(fdwlib.OUTPUT, "bench", "fdhold")


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def bpf_maps_of(pid):
    """(map_type, max_entries, memlock bytes) of every BPF map the process holds."""
    maps = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:bpf-map":
                continue
            info = {}
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
            maps[info.get("map_id")] = info
        except OSError:
            pass
    return list(maps.values())


def known(pid):
    """GetProcess of pid once the daemon has it in its table (a tick or a rescan away)."""
    def get():
        try:
            return fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})
        except fdwlib.VarlinkError:
            return None
    return fdwlib.wait_for(get, 10, "PID %d in the table" % pid, interval=0.2)


def hold(args):
    p = subprocess.Popen([FDHOLD] + args, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().split()[0] == "start"
    return p


def census_time(n):
    p = hold(["--fds", str(n), "--mix"])
    try:
        line = p.stdout.readline().split()
        assert line and line[0] == "held", line
        known(p.pid)
        time.sleep(1.1)
        took, call = [], []
        for _ in range(5):
            t0 = time.monotonic()
            rep = fdwlib.call("io.fdwatch.GetProcess", {"pid": p.pid})
            call.append(time.monotonic() - t0)
            took.append(rep["census"]["took_sec"])
            fds = rep["census"]["fds"]
            time.sleep(1.1)
        print("census of %6d fds (%d groups): %.1f ms (median of 5; min %.1f, max %.1f); "
              "whole GetProcess %.1f ms" % (fds, len(rep["census"]["groups"]),
                                           statistics.median(took) * 1e3, min(took) * 1e3,
                                           max(took) * 1e3, statistics.median(call) * 1e3))
    finally:
        p.kill()
        p.wait()


def tracked_memory(d, n, procs=6):
    rss0 = status_kib(d.pid, "VmRSS")
    ps = [hold(["--fds", str(n // procs + 3), "--ramp", "50"]) for _ in range(procs)]
    try:
        for p in ps:
            known(p.pid)
        for p in ps:
            fdwlib.wait_for(lambda: (fdwlib.call("io.fdwatch.GetProcess", {"pid": p.pid})
                                     .get("sites") or {}).get("tracking"), 60,
                            "creations of %d recorded" % p.pid, interval=0.5)
            p.send_signal(signal.SIGUSR1)
        for p in ps:
            line = p.stdout.readline().split()
            assert line and line[0] == "held", line
        time.sleep(1.5)
        tracked, calls, took = 0, [], []
        for p in ps:
            t0 = time.monotonic()
            rep = fdwlib.call("io.fdwatch.GetProcess", {"pid": p.pid})
            calls.append(time.monotonic() - t0)
            took.append(rep["census"]["took_sec"])
            tracked += (rep.get("sites") or {}).get("tracked_fds", 0)
        print("%d processes, %d outstanding fds tracked (creation records of open fds); "
              "GetProcess aggregating ~%d records: %.0f ms median (census %.0f ms)"
              % (procs, tracked, tracked // procs, statistics.median(calls) * 1e3,
                 statistics.median(took) * 1e3))
        for m in bpf_maps_of(d.pid):
            name = {"1": "hash", "7": "stack_trace"}.get(m.get("map_type"))
            if name and m.get("value_size") in ("16", str(32 * 8)):
                print("  BPF map %-11s key %s B value %s B, %s entries: memlock %.1f MiB" % (
                    name, m.get("key_size"), m.get("value_size"), m.get("max_entries"),
                    int(m.get("memlock", 0)) / 2**20))
        print("  daemon RSS %.1f MiB before, %.1f MiB after (peak %.1f MiB)" % (
            rss0 / 1024, status_kib(d.pid, "VmRSS") / 1024, status_kib(d.pid, "VmHWM") / 1024))
    finally:
        for p in ps:
            p.kill()
            p.wait()


def main():
    fdwlib.isolate()
    if not os.access(FDHOLD, os.X_OK):
        sys.exit("bench: %s is not built" % FDHOLD)
    print("attribution bench: %s" % os.uname().release)
    d = fdwlib.Daemon(["--no-journal"], config=CONFIG).start()
    try:
        census_time(1000)
        census_time(10000)
        tracked_memory(d, 100000)
    finally:
        rc = d.stop()
    if rc != 0:
        sys.exit("bench: fdwatchd exited with %s:\n%s" % (rc, d.output()[-2000:]))


if __name__ == "__main__":
    main()
