#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Alert hooks ([Alert] HooksDirectory=) against the real daemon (TAP):

  - every executable hook runs on each alert, with the alert as one line of JSON on a
    blocking stdin (the same object ListAlerts and Subscribe serve) and the daemon's
    environment; hidden, non-executable and world-writable files are not run;
  - a hook that hangs is killed at HookTimeoutSec= with its process group (its background
    child too), one that exits non-zero is counted as failed, one that cannot be executed
    (a bad interpreter) as not started, and a flood of alerts from a
    dozen leaking processes, three hooks each, overflows MaxConcurrentHooks= and
    HookQueueSize=: the excess is dropped and counted;
  - meanwhile the daemon keeps its tick (ticks counted against the clock) and answers the
    API within 1.5 s (a hung hook lives 3 s); the counters are in GetStatus and `fdwatchctl status`; no hook is left
    a zombie or running.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402
from fdwlib import wait_for  # noqa: E402

TICK = 0.5
# Long enough that a daemon that waited for a hung hook would stall visibly (API_MAX).
TIMEOUT = 3
# Two API calls in a row; this machine is shared (other daemons rescan thousands of processes).
API_MAX = 1.5
LEAKERS = 12

RECORD = """#!/bin/sh
# Records its input, environment and stdin's kind, one file per run.
cat > "%(out)s/record.$$.json"
echo "$FDW_HOOK_MARK" > "%(out)s/record.$$.env"
python3 -c 'import os, stat; print(stat.S_ISFIFO(os.fstat(0).st_mode), os.get_blocking(0))' \\
    > "%(out)s/record.$$.stdin"
"""
HANG = """#!/bin/sh
sleep 1000 &
echo $! > "%(out)s/hang.$$"
wait
"""
FAIL = """#!/bin/sh
cat > /dev/null
exit 3
"""
NEVER = """#!/bin/sh
touch "%(out)s/never.$(basename "$0")"
"""


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def children_of(pid):
    """(pid, state) of pid's children, from /proc/*/stat."""
    res = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            res.append((int(p), fields[0]))
    return res


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    jd = fdwlib.Journald().start()
    tmp = tempfile.mkdtemp(prefix="fdwatch-hooks.")
    daemons = []
    try:
        run(tap, tmp, daemons)
    finally:
        for d in daemons:
            d.stop()
        jd.stop()
        subprocess.run(["rm", "-rf", tmp])
    tap.done()


def run(tap, tmp, daemons):
    hooks, out = os.path.join(tmp, "hooks.d"), os.path.join(tmp, "out")
    os.mkdir(hooks)
    os.mkdir(out)
    sub = {"out": out}
    write(os.path.join(hooks, "10-record"), RECORD % sub, 0o755)
    write(os.path.join(hooks, "20-hang"), HANG % sub, 0o755)
    write(os.path.join(hooks, "30-fail"), FAIL % sub, 0o755)
    write(os.path.join(hooks, "35-bad-interpreter"), "#!/nonexistent/sh\n", 0o755)
    write(os.path.join(hooks, "40-not-executable"), NEVER % sub, 0o644)
    write(os.path.join(hooks, ".hidden"), NEVER % sub, 0o755)
    write(os.path.join(hooks, "50-world-writable"), NEVER % sub, 0o757)
    write(os.path.join(hooks, "60-backup~"), NEVER % sub, 0o755)
    os.environ["FDW_HOOK_MARK"] = "mark-%d" % os.getpid()
    config = """
[Probe]
TickSec=%gs
RescanSec=2s
[Detect]
LeakMinSec=3
CooldownSec=2
[Alert]
HooksDirectory=%s
HookTimeoutSec=%ds
MaxConcurrentHooks=3
HookQueueSize=6
MinInterval=0
# fdwatchd watches the whole machine, where other leaks come and go: only our workloads
# (comm hookleak) alert, so the counts and the drain are ours.
[Rule ours]
Comm=hookleak
[Rule others]
Comm=*
Ignore=yes
""" % (TICK, hooks, TIMEOUT)
    d = fdwlib.Daemon(config=config)
    daemons.append(d)
    d.start()

    leak = os.path.join(tmp, "hookleak")
    shutil.copy(fdwlib.workload("leak"), leak)
    st0 = fdwlib.call("io.fdwatch.GetStatus")
    t0 = time.monotonic()
    leakers = [subprocess.Popen([leak, "--kind", "eventfd", "--rate", str(20 + 5 * i),
                                 "--limit", "8192", "--duration", "60"],
                                stdout=subprocess.DEVNULL) for i in range(LEAKERS)]
    pids = {p.pid for p in leakers}
    worst = 0.0
    try:
        # Until every leaker alerted, and a while longer: hooks hang and queue meanwhile.
        def all_alerted():
            got = {a["pid"] for a in fdwlib.call("io.fdwatch.ListAlerts", {})["alerts"]}
            return pids <= got
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            c0 = time.monotonic()
            done = all_alerted()
            fdwlib.call("io.fdwatch.GetStatus")
            worst = max(worst, time.monotonic() - c0)
            if done:
                break
            time.sleep(0.2)
        for _ in range(10):
            c0 = time.monotonic()
            fdwlib.call("io.fdwatch.GetStatus")
            worst = max(worst, time.monotonic() - c0)
            time.sleep(0.2)
        st1 = fdwlib.call("io.fdwatch.GetStatus")
        t1 = time.monotonic()
    finally:
        for p in leakers:
            p.kill()
            p.wait()
    tap.ok(all_alerted(), "every one of %d leakers alerted" % LEAKERS)
    want = (t1 - t0) / TICK
    ticks = st1["ticks"] - st0["ticks"]
    tap.ok(ticks >= 0.8 * want, "the daemon kept its tick through the flood: %d ticks in %.1f s "
           "(%.0f expected)" % (ticks, t1 - t0, want))
    tap.ok(worst < API_MAX, "the API answered within %.1f s throughout (worst two calls %.3f s)"
           % (API_MAX, worst))

    # The leakers' exits are the last alerts (recovered); then the hung hooks time out and
    # the queue empties.
    def all_recovered():
        got = {a["pid"] for a in fdwlib.call("io.fdwatch.ListAlerts", {})["alerts"]
               if a["type"] == "recovered"}
        return pids <= got
    try:
        wait_for(all_recovered, 30, "the leakers' recovered alerts", interval=0.2)
    except TimeoutError:
        tap.diag("not every leaker's exit was alerted")

    def drained():
        h = fdwlib.call("io.fdwatch.GetStatus")["hooks"]
        return h if h["running"] == 0 and h["queued"] == 0 else None
    try:
        h = wait_for(drained, 60, "hooks drained", interval=0.2)
    except TimeoutError:
        h = fdwlib.call("io.fdwatch.GetStatus")["hooks"]
    tap.diag("hooks: %s" % json.dumps(h))
    tap.ok(h["running"] == 0 and h["queued"] == 0, "every hook run ended", h)
    tap.ok(h["timed_out"] >= 1 and h["failed"] >= 1 and h["dropped"] >= 1
           and h["exec_failed"] >= 1,
           "counted: hung hooks timed out, failing ones failed, one that cannot be executed "
           "not started, the flood's excess dropped", h)
    tap.ok(h["started"] == h["succeeded"] + h["failed"] + h["timed_out"],
           "every started run is counted once: succeeded + failed + timed out = started", h)

    records = sorted(f for f in os.listdir(out) if f.startswith("record.") and f.endswith(".json"))
    alerts = {a["seq"]: a for a in fdwlib.call("io.fdwatch.ListAlerts", {})["alerts"]}
    same, first = 0, None
    for r in records:
        with open(os.path.join(out, r)) as f:
            text = f.read()
        try:
            a = json.loads(text)
        except ValueError:
            continue
        first = first or (text, a)
        if alerts.get(a.get("seq")) == a and text.count("\n") == 1:
            same += 1
    tap.ok(records and same == len(records),
           "the record hook got the alert as one JSON line, equal to ListAlerts' (%d of %d)"
           % (same, len(records)), first)
    envs = set()
    kinds = set()
    for r in os.listdir(out):
        path = os.path.join(out, r)
        if r.endswith(".env"):
            envs.add(open(path).read().strip())
        if r.endswith(".stdin"):
            kinds.add(open(path).read().strip())
    tap.ok(envs == {os.environ["FDW_HOOK_MARK"]}, "hooks run with the daemon's environment", envs)
    tap.ok(kinds == {"True True"}, "stdin is a pipe, blocking", kinds)
    never = [f for f in os.listdir(out) if f.startswith("never.")]
    tap.ok(not never, "hidden, non-executable, world-writable and backup files are not run",
           never)
    tap.ok("skipping hook" in d.output().lower() and "50-world-writable" in d.output(),
           "the world-writable hook is reported", d.output()[-1500:])

    sleepers = []
    for f in os.listdir(out):
        if f.startswith("hang."):
            with open(os.path.join(out, f)) as fh:
                sleepers.append(int(fh.read()))
    time.sleep(0.5)
    left = [p for p in sleepers if alive(p)]
    tap.ok(sleepers and not left, "a timed-out hook's process group is killed: its background "
           "sleep too (%d checked)" % len(sleepers), left)
    # Judge zombies by whether they stay: one may be there for an instant before its exit
    # is dispatched.
    before = children_of(d.pid)
    time.sleep(1.5)
    after = children_of(d.pid)
    stuck = [k for k in before if k[1] == "Z" and k in after]
    tap.ok(not stuck, "no hook stays a zombie (children %s, then %s)" % (before, after), stuck)
    log = d.output()
    tap.ok("exited with status 3" in log and "was killed after" in log and "Dropping hook" in log
           and "Failed to run hook %s/35-bad-interpreter" % hooks in log
           and "hook runs were dropped in this flood" in log,
           "failures are logged: exit status, timeout, exec error, the first drop and the sum",
           log[-2000:])
    n_alerts = len(alerts)
    tap.ok(log.count("Dropping hook") < h["dropped"] / 2
           and log.count("50-world-writable") < n_alerts / 2,
           "a flood's drops and skipped files are not logged alert by alert (%d lines for %d "
           "drops, %d for %d alerts)" % (log.count("Dropping hook"), h["dropped"],
                                         log.count("50-world-writable"), n_alerts))
    r = subprocess.run([fdwlib.FDWATCHCTL, "status"], capture_output=True, text=True)
    m = re.search(r"^Hooks: +(\d+) run, (\d+) failed, (\d+) timed out, (\d+) not started, "
                  r"(\d+) dropped; (\d+) running, (\d+) queued$", r.stdout, re.M)
    # Other processes' alerts may run more hooks meanwhile: the counters only grow.
    keys = ("started", "failed", "timed_out", "exec_failed", "dropped")
    tap.ok(r.returncode == 0 and m and all(int(m.group(i + 1)) >= h[k] for i, k in enumerate(keys)),
           "fdwatchctl status shows the hook counters", r.stdout)
    # Stopping the daemon kills what still runs, with its process group: a hung hook of a
    # new leak, caught before its timeout.
    seen = {f for f in os.listdir(out) if f.startswith("hang.")}
    last = subprocess.Popen([leak, "--kind", "pipe", "--rate", "30",
                             "--limit", "8192", "--duration", "60"], stdout=subprocess.DEVNULL)
    try:
        def new_hang():
            for f in os.listdir(out):
                if f.startswith("hang.") and f not in seen:
                    try:
                        with open(os.path.join(out, f)) as fh:
                            return int(f.split(".")[1]), int(fh.read())
                    except ValueError:
                        return None  # written in a moment
            return None
        try:
            hook, sleeper = wait_for(new_hang, 30, "a hung hook of the new leak", 0.02)
        except TimeoutError:
            hook = sleeper = None
        d.stop()
    finally:
        last.kill()
        last.wait()
    time.sleep(0.3)
    tap.ok(hook and not alive(hook) and not alive(sleeper),
           "fdwatchd's exit kills a running hook and its process group", (hook, sleeper))


if __name__ == "__main__":
    main()
