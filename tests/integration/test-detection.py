#!/usr/bin/env python3
"""Detection and journald alerts, end to end: real BPF probe, real fdwatchd,
real systemd-journald (private mount namespace), real workloads.

All workloads run at once (the whole test takes about as long as its longest
workload, ~95 s) and the alerts are read back from journald with
`journalctl -o json` afterwards:
  - the origin story (Python, 2 pipe fds leaked every 0.1 s, soft limit 1024):
    a leak alert within 10 s of the leak's start and >= 30 s before EMFILE,
    naming pipe, the retry-loop pattern, period ~0.1 s, 2 fds per attempt, an
    ETA within 25% of the real time left; then the EMFILE alert;
  - a slow leak (1 fd/s, limit 1024): an alert within 90 s, rate and ETA
    within 25%;
  - C leakers of each kind, and one leaking from a non-main thread: an alert
    naming the kind;
  - a process that hits EMFILE: the exhausted alert within 2 s, with the syscall;
  - every benign workload: no alert above notice over its whole run.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402

LOG_NOTICE = 5


class Run:
    """A workload whose stdout lines are collected with their arrival time."""

    def __init__(self, name, args):
        self.name = name
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.split()))

    def first(self, word):
        for t, parts in self.lines:
            if parts and parts[0] == word:
                return t, parts
        return None, None

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(5)


def alerts_for(jd, pid):
    es = [e for e in jd.entries(SYSLOG_IDENTIFIER="fdwatchd") if e.get("OBJECT_PID") == str(pid)]
    for e in es:
        e["_t"] = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    return sorted(es, key=lambda e: e["_t"])


def first_of(es, typ):
    for e in es:
        if e.get("FDWATCH_TYPE") == typ:
            return e
    return None


def within(value, want, tolerance):
    return value is not None and abs(value - want) <= tolerance * want


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    jd = fdwlib.Journald().start()
    try:
        run_all(tap, jd)
    finally:
        jd.stop()
    tap.done()


def run_all(tap, jd):
    d = fdwlib.Daemon(["--tick", "1s"]).start()
    leak = fdwlib.workload("leak")
    benign = fdwlib.workload("benign")
    runs = {}
    try:
        runs["origin"] = Run("origin", [sys.executable, os.path.join(fdwlib.WORKLOAD_SRC,
                                        "origin_story.py"), "--limit", "1024", "--period", "0.1",
                                        "--duration", "90", "--hold", "3"])
        runs["slow"] = Run("slow", [leak, "--kind", "file", "--rate", "1", "--limit", "1024",
                                    "--duration", "95"])
        runs["emfile"] = Run("emfile", [leak, "--kind", "file", "--rate", "200", "--limit", "300",
                                        "--until-emfile", "--hold", "3", "--duration", "60"])
        # Steady leaks far from their limit: the detector waits for sustained growth
        # (LeakMinSec) before it calls them leaks, so they run 80 s.
        for kind in ("file", "pipe", "socket", "eventfd", "epoll", "inotify", "dup"):
            rate = "1" if kind == "inotify" else "5"   # 128 inotify instances per user
            runs["kind-" + kind] = Run("kind-" + kind, [leak, "--kind", kind, "--rate", rate,
                                                        "--limit", "8192", "--duration", "80"])
        runs["thread"] = Run("thread", [leak, "--kind", "eventfd", "--rate", "5", "--thread",
                                        "--limit", "8192", "--duration", "80"])
        for mode, secs in (("churn", "40"), ("plateau", "60"), ("pool", "60"),
                           ("sawtooth", "60"), ("burst", "40")):
            runs["benign-" + mode] = Run("benign-" + mode, [benign, "--mode", mode,
                                                            "--duration", secs])
        for r in runs.values():
            r.wait(130)
        time.sleep(2)   # the last ticks reach journald
        check(tap, jd, runs)
        st = fdwlib.call("io.fdwatch.GetStatus")
        tap.diag("status: %s" % json.dumps(st))
    finally:
        for r in runs.values():
            if r.proc.poll() is None:
                r.proc.kill()
        rc = d.stop()
        tap.ok(rc == 0, "fdwatchd exits 0", d.output()[-3000:])


def check(tap, jd, runs):
    # ---- the origin story
    r = runs["origin"]
    t_start, start = r.first("start")
    _, emf = r.first("emfile")
    es = alerts_for(jd, r.pid)
    leak = first_of(es, "leak") or first_of(es, "critical")
    if not (t_start and emf and leak):
        tap.ok(False, "origin story: leak alert and EMFILE seen",
               "start=%s emfile=%s alerts=%s" % (start, emf, [e.get("MESSAGE") for e in es]))
    else:
        t_emfile = float(emf[3])
        t_alert = leak["_t"]
        left = t_emfile - t_alert
        tap.diag("origin story: alert %.1fs after start, %.1fs before EMFILE: %s" %
                 (t_alert - t_start, left, leak.get("MESSAGE")))
        tap.ok(t_alert - t_start <= 10, "origin story: leak alert within 10 s of the leak's start",
               "%.1fs" % (t_alert - t_start))
        tap.ok(left >= 30, "origin story: alert at least 30 s before EMFILE", "%.1fs" % left)
        tap.ok(leak.get("FDWATCH_KIND") == "pipe", "origin story: names pipe", leak)
        tap.ok(leak.get("FDWATCH_PATTERN") == "retry-loop", "origin story: retry-loop pattern",
               leak.get("FDWATCH_PATTERN"))
        tap.ok(within(_f(leak, "FDWATCH_PERIOD_SEC"), 0.1, 0.25),
               "origin story: period ~0.1 s", leak.get("FDWATCH_PERIOD_SEC"))
        tap.ok(within(_f(leak, "FDWATCH_PER_ATTEMPT"), 2, 0.1),
               "origin story: 2 fds per attempt", leak.get("FDWATCH_PER_ATTEMPT"))
        tap.ok(within(_f(leak, "FDWATCH_ETA_SEC"), left, 0.25),
               "origin story: ETA within 25%% of the real %.0f s left" % left,
               leak.get("FDWATCH_ETA_SEC"))
        tap.ok(leak.get("PRIORITY") in ("4", "2") and len(leak.get("MESSAGE_ID", "")) == 32,
               "origin story: PRIORITY and MESSAGE_ID set", leak)
        tap.ok(leak.get("OBJECT_COMM", leak.get("FDWATCH_COMM", "")).startswith("python"),
               "origin story: journald names the process", leak)
        exh = first_of(es, "exhausted")
        tap.ok(exh is not None and exh["_t"] - t_emfile <= 2.5,
               "origin story: EMFILE alert when it hits the limit",
               exh and "%.1fs after" % (exh["_t"] - t_emfile))
        tap.ok(exh is not None and exh.get("FDWATCH_SYSCALL") == "pipe2",
               "origin story: EMFILE alert names pipe2", exh)

    # ---- slow leak, 1 fd/s
    r = runs["slow"]
    t_start, start = r.first("start")
    es = alerts_for(jd, r.pid)
    leak = first_of(es, "leak")
    tap.ok(leak is not None and leak["_t"] - t_start <= 90,
           "slow leak: alert within 90 s", leak and "%.1fs" % (leak["_t"] - t_start))
    if leak:
        fds = int(leak.get("FDWATCH_FDS", "0"))
        tap.ok(within(_f(leak, "FDWATCH_RATE"), 1.0, 0.25), "slow leak: rate within 25% of 1/s",
               leak.get("FDWATCH_RATE"))
        tap.ok(within(_f(leak, "FDWATCH_ETA_SEC"), 1024 - fds, 0.25),
               "slow leak: ETA within 25%% of %d s" % (1024 - fds), leak.get("FDWATCH_ETA_SEC"))

    # ---- EMFILE, fast
    r = runs["emfile"]
    _, emf = r.first("emfile")
    exh = first_of(alerts_for(jd, r.pid), "exhausted")
    tap.ok(emf is not None and exh is not None and exh["_t"] - float(emf[3]) <= 2.0,
           "EMFILE: exhausted alert within 2 s", exh and emf and
           "%.2fs" % (exh["_t"] - float(emf[3])))
    tap.ok(exh is not None and exh.get("FDWATCH_SYSCALL") == "openat" and
           exh.get("PRIORITY") == "1", "EMFILE: names openat, PRIORITY alert", exh)

    # ---- each kind, and a leak in a non-main thread
    for name in sorted(k for k in runs if k.startswith("kind-")) + ["thread"]:
        kind = "eventfd" if name == "thread" else name[5:]
        r = runs[name]
        leak = first_of(alerts_for(jd, r.pid), "leak")
        tap.ok(leak is not None and leak.get("FDWATCH_KIND") == kind,
               "%s: leak alert naming %s" % (name, kind), leak and leak.get("MESSAGE"))

    # ---- benign: nothing above notice
    for name in sorted(k for k in runs if k.startswith("benign-")):
        r = runs[name]
        loud = [e.get("MESSAGE") for e in alerts_for(jd, r.pid)
                if int(e.get("PRIORITY", "6")) < LOG_NOTICE]
        tap.ok(r.first("done")[0] is not None and not loud,
               "%s: no alert above notice over its whole run" % name, loud)


def _f(e, key):
    try:
        return float(e[key])
    except (KeyError, TypeError, ValueError):
        return None


if __name__ == "__main__":
    main()
