#!/usr/bin/env python3
"""The syscall probe armed on suspicion (auto mode), against the real kernel.

Other helpers' daemons and workloads run on this machine too, so each daemon
here ignores every process but the ones this test starts ([Rule] Ignore=yes
for Comm=*, after a rule for our workloads, which run under names of their
own: a symlink's name is the comm of what it execs).

  - nothing suspect: no syscall program attached (asked from the links the
    daemon holds, /proc/PID/fdinfo); a leak arms it at the tick of the read
    that sees the growth, within PollSec of the jump, the attach itself
    under a tick; after the leaker is gone and the cool-down passed, the
    syscall links are detached again (only the lifecycle ones are left);
  - fdwatchctl trace PID arms it for a process nothing made a suspect, and
    status says armed, since when, for which PID;
  - a chronic slow leaker (shortened: 1 fd every 2 s, a 20 s window, 25 %)
    keeps the armed share within the bound, armed in windows, not never;
  - an accept flood against a server that never closes, flat to its limit in
    under a second: the exhausted alert within 3 s, naming accept4;
  - a leaking process whose PID is reused before the next tick gets its
    "exited" alert (the new process makes fd syscalls at once);
  - a fork storm (>= 3,000 short-lived processes a second, 10 s): no
    lifecycle record lost, no dead process left in the table.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402

TMP = tempfile.mkdtemp(prefix="fdwatch-armed.")
OURS = "fdw-arm*"


def named(path, name):
    """A symlink to path called name: what it execs runs with comm == name."""
    link = os.path.join(TMP, name)
    if not os.path.exists(link):
        os.symlink(path, link)
    return link


def config(extra="", probe="", detect=""):
    return ("[Probe]\nTickSec=500ms\nPollSec=1s\nArmCooldownSec=3s\n%s\n"
            "[Detect]\n%s\n"
            "[Rule ours]\nComm=%s\n%s\n"
            "[Rule others]\nComm=*\nIgnore=yes\n" % (probe, detect, OURS, extra))


def daemon(cfg, args=()):
    return fdwlib.Daemon(["--no-journal"] + list(args), config=cfg).start()


def link_progs(pid):
    """Names of the BPF programs behind the links process pid holds."""
    return fdwlib.bpf_program_names(pid, links_only=True)


def syscall_links(pid):
    return [n for n in link_progs(pid) if n.startswith("handle_sys_exit") or
            n.startswith("handle_raw_sys")]


def status():
    return fdwlib.call("io.fdwatch.GetStatus")


# A service that starts flat and then takes 80 fds at once (a burst of pipes), held for 5 s.
JUMP = ("import os, time\n"
        "time.sleep(3)\n"
        "print('jump', time.time(), flush=True)\n"
        "keep = [os.pipe() for _ in range(40)]\n"
        "time.sleep(5)\n")


def test_arm_disarm(tap):
    py = named(os.path.realpath(sys.executable), "fdw-armjump")
    d = daemon(config(detect="MinGrowth=16"))
    try:
        time.sleep(1.5)
        st = status()
        tap.ok(not st["probe_armed"] and not syscall_links(d.pid),
               "nothing suspect: no syscall program attached", (st, link_progs(d.pid)))
        tap.ok(sorted(link_progs(d.pid)) ==
               ["count_fds", "handle_exec", "handle_exit", "handle_fork"],
               "the lifecycle programs and the count pass are attached", link_progs(d.pid))
        census = {"dump_sockets", "find_pipe_holders"}
        tap.ok(not census & set(fdwlib.bpf_program_names(d.pid)),
               "nothing suspect: the census programs are not loaded",
               fdwlib.bpf_program_names(d.pid))
        # Flat for 3 s (the reads space out to PollSec), then 80 fds at once, held.
        p = subprocess.Popen([py, "-c", JUMP], stdout=subprocess.PIPE, text=True)
        t_jump = None
        try:
            line = p.stdout.readline()
            t_jump = float(line.split()[1]) if line.startswith("jump") else None
            st = fdwlib.wait_for(lambda: (lambda s: s if s["probe_armed"] else None)(status()),
                                 5, "armed")
            since = st["probe_armed_since_usec"] / 1e6
            tap.diag("armed %.2f s after the jump, attached in %d us" %
                     (since - (t_jump or 0), st["probe_arm_usec"]))
            tap.ok(t_jump is not None and since - t_jump <= 1.0 + 0.5 + 0.25,
                   "growth arms the probe within PollSec + a tick of the jump",
                   "%s" % (t_jump and since - t_jump))
            tap.ok(st["probe_arm_usec"] < 500000, "attaching takes less than a tick",
                   st["probe_arm_usec"])
            tap.ok(len(syscall_links(d.pid)) > 0, "armed: syscall programs attached",
                   link_progs(d.pid))
        finally:
            p.wait(10)
        # The leaker is gone: after the cool-down the links are detached for real.
        try:
            fdwlib.wait_for(lambda: not syscall_links(d.pid), 30, "syscall links detached",
                            interval=0.5)
        except TimeoutError:
            pass
        # The loop notices the finished detach at its next tick.
        try:
            st = fdwlib.wait_for(lambda: (lambda s: s if s["probe_detach_usec"] else None)(
                status()), 2, "detach time")
        except TimeoutError:
            st = status()
        tap.ok(not syscall_links(d.pid) and not st["probe_armed"],
               "suspect gone, cool-down passed: no syscall program attached",
               (st, link_progs(d.pid)))
        tap.diag("detached in %.2f s" % (st["probe_detach_usec"] / 1e6))
        tap.ok(0 < st["probe_detach_usec"] < 10e6, "the detach time is reported",
               st["probe_detach_usec"])

        # Named by a client: armed for it, said so, then off again.
        sleeper = subprocess.Popen([named("/bin/sleep", "fdw-armsleep"), "30"])
        try:
            fdwlib.wait_for(lambda: _in_table(sleeper.pid), 5, "sleeper in the table")
            out = subprocess.run([fdwlib.FDWATCHCTL, "trace", str(sleeper.pid), "--for", "2s"],
                                 capture_output=True, text=True)
            tap.ok(out.returncode == 0 and "Tracing PID %d" % sleeper.pid in out.stdout,
                   "fdwatchctl trace PID", out.stdout + out.stderr)
            st = status()
            tap.ok(st["probe_armed"] and sleeper.pid in st["suspect_pids"] and
                   syscall_links(d.pid), "traced: armed for that PID, and status says so", st)
            out = subprocess.run([fdwlib.FDWATCHCTL, "status"], capture_output=True, text=True)
            tap.ok("Armed:        yes" in out.stdout and str(sleeper.pid) in out.stdout,
                   "fdwatchctl status shows the probe armed for the PID", out.stdout)
            fdwlib.wait_for(lambda: not status()["probe_armed"], 15, "disarmed after trace")
            tap.ok(True, "the trace ends: disarmed after it and the cool-down")
        except TimeoutError as e:
            tap.ok(False, "the trace ends: disarmed after it and the cool-down", e)
        finally:
            sleeper.kill()
            sleeper.wait()
        try:
            fdwlib.call("io.fdwatch.Trace", {"pid": 999999})
            tap.ok(False, "Trace of an unknown PID: NoSuchProcess")
        except fdwlib.VarlinkError as e:
            tap.ok(e.error == "io.fdwatch.NoSuchProcess", "Trace of an unknown PID: NoSuchProcess",
                   e)
    finally:
        rc = d.stop()
        tap.ok(rc == 0, "fdwatchd exits 0", d.output()[-2000:])


def _in_table(pid):
    try:
        fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})
        return True
    except fdwlib.VarlinkError:
        return False


# Flat with a few fds, then 6 more (three pipes) when told, held.
QUIET = ("import os, sys, time\n"
         "sys.stdin.readline()\n"
         "keep = [os.pipe() for _ in range(3)]\n"
         "print('opened', flush=True)\n"
         "time.sleep(30)\n")


def test_count_pass(tap):
    """Count passes read every process from the kernel each tick: a process flat for a while
    is no longer read from /proc (PollSec=30s would space those reads out to 30 s), yet its
    change is seen at the next pass."""
    py = named(os.path.realpath(sys.executable), "fdw-armpass")
    d = daemon(config(probe="PollSec=30s\nRescanSec=600s"))
    p = subprocess.Popen([py, "-c", QUIET], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        # Flat for 12 s: its /proc reads space out (0.5, 1, 2, 4, 8 s: the next one would be
        # some 3.5 s after the change), and the passes take over.
        time.sleep(12)
        st = status()
        tap.ok(st["count_passes"] >= 20 and st["last_pass_usec"] > 0,
               "count passes run every tick (TickSec=500ms)", st)
        before = fdwlib.call("io.fdwatch.GetProcess", {"pid": p.pid})["process"]["fds"]
        p.stdin.write("go\n")
        p.stdin.flush()
        p.stdout.readline()
        t0 = time.monotonic()
        want = fdwlib.proc_fd_count(p.pid)
        try:
            fdwlib.wait_for(lambda: fdwlib.call("io.fdwatch.GetProcess", {"pid": p.pid})
                            ["process"]["fds"] == want, 10, "the new count")
        except TimeoutError:
            pass
        dt = time.monotonic() - t0
        tap.ok(want == before + 6 and dt < 1.6,
               "a process flat for 12 s: its 6 new fds seen %.2f s later (3 ticks allowed)" % dt,
               (before, want))
    finally:
        p.kill()
        p.wait()
        d.stop()


def test_chronic(tap):
    """1 fd every 2 s (1 fd/min shortened 30x): armed within the bound, in windows."""
    leak = named(fdwlib.workload("leak"), "fdw-armdrip")
    window, bound = 20.0, 25.0
    d = daemon(config(probe="ArmedShareWindowSec=%ds\nMaxArmedPercent=%d\n" % (window, bound),
                      detect="MinGrowth=4\nLeakMinSec=8\nWindowSec=10min"))
    samples = []
    try:
        w = subprocess.Popen([leak, "--rate", "0.5", "--duration", "75"],
                             stdout=subprocess.DEVNULL)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 70:
                st = status()
                samples.append((time.monotonic() - t0, st["probe_armed"],
                                st["probe_armed_share"]))
                time.sleep(0.25)
        finally:
            w.kill()
            w.wait()
    finally:
        d.stop()
    late = [s for s in samples if s[0] >= 30]
    worst = max((s[2] for s in late), default=None)
    armed = sum(1 for s in late if s[1]) / max(len(late), 1)
    tap.diag("chronic leaker: armed %.0f%% of the last %.0f s, daemon's share at most %s" %
             (100 * armed, late[-1][0] - late[0][0] if late else 0, worst))
    tap.ok(worst is not None and worst <= bound / 100 + 0.05,
           "chronic leaker: the armed share stays within %d%%" % bound, worst)
    tap.ok(0.05 <= armed <= bound / 100 + 0.1,
           "chronic leaker: armed in evidence windows, not never, not always", armed)


def test_accept_flood(tap):
    """A server flat at a few fds, then a flood of connections in under a second."""
    server_src = (
        "import socket, sys, resource, time\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1024)\n"
        "print(s.getsockname()[1], flush=True)\n"
        "keep = []\n"
        "while True:\n"
        "    try:\n"
        "        keep.append(s.accept()[0])\n"
        "    except OSError as e:\n"
        "        print('emfile', time.time(), flush=True)\n"
        "        while True:\n"
        "            try:\n"
        "                keep.append(s.accept()[0])\n"
        "            except OSError:\n"
        "                time.sleep(0.01)\n")
    py = named(os.path.realpath(sys.executable), "fdw-armserver")
    d = daemon(config())
    try:
        srv = subprocess.Popen([py, "-c", server_src], stdout=subprocess.PIPE, text=True)
        try:
            port = int(srv.stdout.readline())
            time.sleep(4)   # flat: its reads have spaced out to PollSec
            t_flood = time.time()
            conns = []
            for _ in range(400):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", port))
                conns.append(c)
            line = srv.stdout.readline()
            t_emfile = float(line.split()[1]) if line.startswith("emfile") else None
            tap.ok(t_emfile is not None and t_emfile - t_flood < 1.0,
                   "accept flood: flat to the limit in under a second",
                   t_emfile and t_emfile - t_flood)

            def exhausted():
                for a in fdwlib.call("io.fdwatch.ListAlerts")["alerts"]:
                    if a["pid"] == srv.pid and a["type"] == "exhausted":
                        return a
                return None
            try:
                a = fdwlib.wait_for(exhausted, 6, "exhausted alert")
            except TimeoutError:
                a = None
            t_alert = a["realtime_usec"] / 1e6 if a else None
            tap.diag("accept flood: exhausted alert %.2f s after the flood" %
                     ((t_alert - t_flood) if a else -1))
            tap.ok(a is not None and t_alert - t_flood <= 3.0,
                   "accept flood: exhausted alert within 3 s", a)
            tap.ok(a is not None and a["syscall"] == "accept4",
                   "accept flood: the alert names accept4", a)
            for c in conns:
                c.close()
        finally:
            srv.kill()
            srv.wait()
    finally:
        d.stop()


def test_pid_reuse(tap):
    """A leaker exits; a new process has its PID and makes fd syscalls before the next tick."""
    leak = named(fdwlib.workload("leak"), "fdw-armreuse")
    fdpaths = named(fdwlib.workload("fdpaths"), "fdw-armpaths")
    d = daemon(config(detect="MinGrowth=8\nLeakMinSec=3"), ["--tick", "1s"])
    try:
        w = subprocess.Popen([leak, "--rate", "50", "--duration", "20", "--limit", "4096"],
                             stdout=subprocess.DEVNULL)
        pid = w.pid
        time.sleep(1.5)
        start = fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})["process"]["start_ticks"]
        try:
            fdwlib.wait_for(lambda: any(a["pid"] == pid and a["type"] in ("leak", "critical")
                                        for a in fdwlib.call("io.fdwatch.ListAlerts")["alerts"]),
                            17, "leak alert")
            tap.ok(True, "pid reuse: the leaker is alerted first")
        except TimeoutError as e:
            tap.ok(False, "pid reuse: the leaker is alerted first", e)
        w.wait(25)
        n = subprocess.Popen([fdwlib.workload("spawn_at_pid"), str(pid), fdpaths],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        n.stdin.write("many 5\n")
        n.stdin.flush()
        line = n.stdout.readline()
        tap.ok(line.startswith("ok"), "pid reuse: a new process runs as PID %d at once" % pid,
               line)
        time.sleep(2.5)
        alerts = [a for a in fdwlib.call("io.fdwatch.ListAlerts")["alerts"] if a["pid"] == pid]
        tap.ok(any(a["type"] == "recovered" and a["exited"] and a["start_ticks"] == start
                   for a in alerts),
               "pid reuse within a tick: the leaker's exited alert is raised", alerts)
        n.stdin.write("exit\n")
        n.stdin.flush()
        n.wait(10)
    finally:
        d.stop()


def test_fork_storm(tap):
    storm = named(fdwlib.workload("forkstorm"), "fdw-armstorm")
    d = daemon(config())
    try:
        before = status()
        cpu0 = _cpu(d.pid)
        out = subprocess.run([storm, "--rate", "5000", "--duration", "10"],
                             capture_output=True, text=True).stdout.split()
        cpu = _cpu(d.pid) - cpu0
        rate = float(out[3]) if out and out[0] == "done" else 0
        time.sleep(3)
        st = status()
        tap.diag("fork storm: %s children, %.0f/s; %d fork, %d exit records; daemon CPU %.1f %%"
                 " of a core" % (out[1] if out else "?", rate,
                                 st["events_fork"] - before["events_fork"],
                                 st["events_exit"] - before["events_exit"], cpu / 10 * 100))
        tap.ok(rate >= 3000, "fork storm: at least 3,000 processes a second", rate)
        tap.ok(st["ringbuf_dropped"] == 0, "fork storm: no lifecycle record lost",
               st["ringbuf_dropped"])
        tap.ok(st["events_fork"] - before["events_fork"] >= int(out[1]),
               "fork storm: a fork record for every child", st)
        # Ours only: the storm's children run as fdw-armstorm, or true after their exec.
        left = [p for p in fdwlib.call("io.fdwatch.ListProcesses")["processes"]
                if p["comm"] in ("fdw-armstorm", "true") and
                not os.path.exists("/proc/%d" % p["pid"])]
        tap.ok(not left, "fork storm: no dead process left in the table", left)
    finally:
        rc = d.stop()
        tap.ok(rc == 0, "fork storm: fdwatchd exits 0", d.output()[-2000:])


def _cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    for t in (test_arm_disarm, test_count_pass, test_chronic, test_accept_flood, test_pid_reuse,
              test_fork_storm):
        tap.check(t.__name__, lambda: t(tap))
    tap.done()


if __name__ == "__main__":
    main()
