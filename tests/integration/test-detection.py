#!/usr/bin/env python3
"""Detection and journald alerts, end to end: real BPF probe, real fdwatchd,
real systemd-journald (private mount namespace), real workloads.

All workloads run at once (the whole test takes about as long as its longest
workload, ~100 s) and the alerts are read back from journald with
`journalctl -o json` afterwards. Each workload runs under a program name of
its own (a symlink), as separate programs do, since alerts are also
rate-limited per unit and command name. What must be shown:
  - the origin story (Python, 2 pipe fds leaked every 0.1 s, soft limit 1024):
    a leak alert within 10 s of the leak's start with >= 80 % of its runway
    left, naming pipe, the retry-loop pattern, period ~0.1 s, 2 fds per
    attempt, an ETA within 25% of the real time left; then the EMFILE alert;
  - a slow leak (1 fd/s, limit 1024): an alert within 90 s, rate and ETA
    within 25%; with an hour of runway (limit 3700): `leaking`, never critical;
  - C leakers of each kind, and one leaking from a non-main thread: an alert
    naming the kind;
  - a process that hits EMFILE: the exhausted alert within 2 s, with the
    syscall and the count at the failure;
  - retry loops that close inside each attempt (a Python health check with a
    subprocess pipe: 4 fds created, 3 closed; a shell that opens, dups and
    closes): named retry loops, +1 fd per attempt, their period;
  - a sawtooth whose troughs rise: a leak with the rise per cycle;
  - sawtooths with flat troughs (to 58-78 % of the limit) and pool warm-ups
    running into cycles: at most one episode each, during the first ramp,
    closed ("released") at the first drop, nothing above notice after it;
  - start-up ramps then flat: any episode closed within the cool-down after
    the ramp stops; a churner with batches in flight: `ok` in every API poll;
    a forking parent whose children inherit 300 fds: no alert; six processes
    of one program flat 28 fds under their limit: at most one warning, none
    critical; the old benign workloads: nothing above notice, and the daemon
    saw each with its real count;
  - every alerted episode has exactly one closing line, and an "exited" line
    says FDWATCH_STATE=exited.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402

LOG_NOTICE = 5
LOG_CRIT = 2
COOLDOWN = 60    # [Detect] CooldownSec default
INOTIFY_UID = 4243  # no account needed: setuid() takes any number
OPENINGS = ("leak", "critical", "exhausted")


class Run:
    """A workload whose stdout lines are collected with their arrival time."""

    def __init__(self, name, args, uid=None):
        self.name = name
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1,
                                     preexec_fn=(lambda: (os.setgid(uid), os.setuid(uid)))
                                     if uid is not None else None)
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

    def last(self, word):
        for t, parts in reversed(self.lines):
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


def with_t(es):
    for e in es:
        e["_t"] = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    return sorted(es, key=lambda e: e["_t"])


def alerts_for(jd, pid):
    return with_t([e for e in jd.entries(SYSLOG_IDENTIFIER="fdwatchd")
                   if e.get("OBJECT_PID") == str(pid)])


def alerts_of_runs(jd, rs):
    """Alerts about these workloads and the children they said they forked: other programs
    on the machine may run the same workloads (same comm), and are not ours to judge."""
    pids = set()
    for r in rs:
        pids.add(str(r.pid))
        pids.update(parts[1] for _, parts in list(r.lines) if parts and parts[0] == "child")
    return with_t([e for e in jd.entries(SYSLOG_IDENTIFIER="fdwatchd")
                   if e.get("OBJECT_PID") in pids])


def first_of(es, *types):
    for e in es:
        if e.get("FDWATCH_TYPE") in types:
            return e
    return None


def within(value, want, tolerance):
    return value is not None and abs(value - want) <= tolerance * want


def episodes_of(es):
    """The alerted episodes: runs of rising alerts (leak, critical, exhausted) up to a close."""
    eps, cur = [], None
    for e in es:
        if e.get("FDWATCH_TYPE") == "recovered":
            if cur:
                eps.append(cur + [e])
            cur = None
        elif e.get("FDWATCH_TYPE") in OPENINGS:
            cur = (cur or []) + [e]
    return eps + ([cur] if cur else [])


def loud(es, after=0):
    return [e.get("MESSAGE") for e in es if int(e.get("PRIORITY", "6")) < LOG_NOTICE and
            e["_t"] > after]


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    jd = fdwlib.Journald().start()
    try:
        run_all(tap, jd)
    finally:
        jd.stop()
    tap.done()


class Names:
    """Programs under names of their own: symlinks in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fdwatch-names.")
        os.chmod(self.dir, 0o755)   # the inotify leaker runs as another user

    def __call__(self, name, target):
        path = os.path.join(self.dir, name)
        os.symlink(target, path)
        return path


def start_runs(name):
    leak = fdwlib.workload("leak")
    benign = fdwlib.workload("benign")
    batch = fdwlib.workload("batch")
    py = sys.executable
    src = fdwlib.WORKLOAD_SRC
    runs = {}

    def run(key, args, uid=None):
        runs[key] = Run(key, args, uid)

    run("origin", [name("python3-origin", py), os.path.join(src, "origin_story.py"),
                   "--limit", "1024", "--period", "0.1", "--duration", "90", "--hold", "3"])
    run("slow", [name("slowleak", leak), "--kind", "file", "--rate", "1", "--limit", "1024",
                 "--duration", "95"])
    run("hour", [name("hourleak", leak), "--kind", "socket", "--rate", "1", "--limit", "3700",
                 "--duration", "95"])
    run("emfile", [name("emfileleak", leak), "--kind", "file", "--rate", "200", "--limit", "300",
                   "--until-emfile", "--hold", "3", "--duration", "60"])
    # Steady leaks far from their limit: the detector waits for sustained growth
    # (LeakMinSec) before it calls them leaks, so they run 80 s.
    for kind in ("file", "pipe", "socket", "eventfd", "epoll", "inotify", "dup"):
        rate = "1" if kind == "inotify" else "5"
        # fs.inotify.max_user_instances (128) is per user: the inotify leaker runs as a user
        # of its own, so what root's other processes on this host hold does not count.
        run("kind-" + kind, [name("leak-" + kind, leak), "--kind", kind, "--rate", rate,
                             "--limit", "8192", "--duration", "80"],
            INOTIFY_UID if kind == "inotify" else None)
    run("thread", [name("leak-thread", leak), "--kind", "eventfd", "--rate", "5", "--thread",
                   "--limit", "8192", "--duration", "80"])
    # Retry loops that close inside each attempt.
    run("retry-py", [name("healthchk", py), os.path.join(src, "health_check.py"),
                     "--limit", "1024", "--period", "0.5", "--duration", "90"])
    run("retry-sh", [os.path.join(src, "retry_shell.sh"), "--limit", "1024", "--period", "0.2",
                     "--duration", "90"])
    # A leak under a GC: batches of 200 a second apart, 20 of each kept.
    run("gc-leak", [name("gcleak", batch), "--mode", "sawtooth", "--rate", "50", "--peak", "200",
                    "--keep", "20", "--pause", "1", "--limit", "2048", "--duration", "70"])
    # Sawtooths with flat troughs, and pools warming up into cycles (rate, peak, limit, pause).
    for key, args in (("saw-600", ["--rate", "20", "--peak", "600", "--limit", "1024"]),
                      ("saw-800", ["--rate", "100", "--peak", "800", "--limit", "1024",
                                   "--pause", "2"]),
                      ("saw-150", ["--rate", "8", "--peak", "150", "--limit", "256"]),
                      ("warm-64", ["--pool", "32", "--ramp", "3", "--rate", "100", "--peak", "300",
                                   "--limit", "1024"]),
                      ("warm-128", ["--pool", "64", "--ramp", "6", "--rate", "30", "--peak", "250",
                                    "--limit", "2048", "--pause", "1"])):
        mode = "warmup" if key.startswith("warm") else "sawtooth"
        run(key, [name(key, batch), "--mode", mode, "--duration", "90"] + args)
    # Start-up ramps, then flat.
    run("start-400", [name("start-400", batch), "--mode", "startup", "--peak", "400", "--ramp", "3",
                      "--limit", "1024", "--duration", "90"])
    run("start-3000", [name("start-3000", batch), "--mode", "startup", "--peak", "3000",
                       "--ramp", "8", "--limit", "8192", "--duration", "90"])
    run("churner", [name("churner", batch), "--mode", "churn", "--rate", "20000", "--batch", "32",
                    "--limit", "1024", "--duration", "60"])
    run("forker", [name("forkd", batch), "--mode", "fork", "--peak", "300", "--every", "0.5",
                   "--life", "2", "--limit", "1024", "--duration", "60"])
    # ... and one near its limit: its children too, with its fds.
    run("forker-near", [name("forknear", batch), "--mode", "fork", "--peak", "990", "--every", "0.5",
                        "--life", "6", "--limit", "1024", "--duration", "40"])
    pg = name("pgback", batch)
    for k in range(6):
        run("near-%d" % k, [pg, "--mode", "near", "--gap", "28", "--ramp", "1.5",
                            "--limit", "512", "--duration", "60"])
    for mode, secs in (("churn", "40"), ("plateau", "60"), ("pool", "60"),
                       ("sawtooth", "60"), ("burst", "40")):
        run("benign-" + mode, [benign, "--mode", mode, "--duration", secs])
    return runs


def poll(runs, samples, stop):
    """While the workloads run: the churner's API state, and each flat process's count."""
    flat = ("benign-plateau", "benign-pool", "benign-churn", "benign-burst", "start-400",
            "start-3000", "forker", "near-0")
    while not stop.wait(2):
        for key in ("churner", "retry-py", "retry-sh") + flat:
            r = runs[key]
            t, prog = r.last("progress")
            if r.proc.poll() is not None or not prog:
                continue
            try:
                p = fdwlib.call("io.fdwatch.GetProcess", {"pid": r.pid})["process"]
            except Exception as e:  # noqa: BLE001 - not (yet) tracked is what we record
                p = {"error": str(e)}
            samples.setdefault(key, []).append((int(prog[2]), p))


def run_all(tap, jd):
    d = fdwlib.Daemon(["--tick", "1s"]).start()
    runs = {}
    samples = {}
    stop = threading.Event()
    names = Names()
    try:
        runs = start_runs(names)
        poller = threading.Thread(target=poll, args=(runs, samples, stop), daemon=True)
        poller.start()
        for r in runs.values():
            r.wait(130)
        stop.set()
        poller.join(10)
        time.sleep(3)   # the last ticks (and the exits) reach journald
        check(tap, jd, runs, samples)
        st = fdwlib.call("io.fdwatch.GetStatus")
        tap.diag("status: %s" % json.dumps(st))
    finally:
        stop.set()
        for r in runs.values():
            if r.proc.poll() is None:
                r.proc.kill()
        rc = d.stop()
        shutil.rmtree(names.dir, ignore_errors=True)
        tap.ok(rc == 0, "fdwatchd exits 0", d.output()[-3000:])


def check(tap, jd, runs, samples):
    check_leaks(tap, jd, runs, samples)
    check_benign(tap, jd, runs, samples)
    check_episodes(tap, jd, runs)


def check_leaks(tap, jd, runs, samples):
    # ---- the origin story
    r = runs["origin"]
    t_start, start = r.first("start")
    _, emf = r.first("emfile")
    es = alerts_for(jd, r.pid)
    leak = first_of(es, "leak", "critical")
    if not (t_start and emf and leak):
        tap.ok(False, "origin story: leak alert and EMFILE seen",
               "start=%s emfile=%s alerts=%s" % (start, emf, [e.get("MESSAGE") for e in es]))
    else:
        t_emfile = float(emf[3])
        t_alert = leak["_t"]
        left = t_emfile - t_alert
        runway = t_emfile - float(start[3])
        tap.diag("origin story: alert %.1fs after start, %.1fs before EMFILE (%.0f%% of the "
                 "runway left): %s" % (t_alert - t_start, left, 100 * left / runway,
                                       leak.get("MESSAGE")))
        tap.ok(t_alert - t_start <= 10, "origin story: leak alert within 10 s of the leak's start",
               "%.1fs" % (t_alert - t_start))
        tap.ok(left >= 0.8 * runway, "origin story: alert with >= 80%% of the runway left",
               "%.1fs of %.1fs" % (left, runway))
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

    # ---- slow leaks, 1 fd/s: 17 min and an hour of runway
    for key, limit in (("slow", 1024), ("hour", 3700)):
        r = runs[key]
        t_start, start = r.first("start")
        es = alerts_for(jd, r.pid)
        leak = first_of(es, "leak", "critical")
        tap.ok(leak is not None and leak["_t"] - t_start <= 90,
               "%s leak: alert within 90 s" % key, leak and "%.1fs" % (leak["_t"] - t_start))
        if leak:
            fds = int(leak.get("FDWATCH_FDS", "0"))
            tap.ok(within(_f(leak, "FDWATCH_RATE"), 1.0, 0.25),
                   "%s leak: rate within 25%% of 1/s" % key, leak.get("FDWATCH_RATE"))
            tap.ok(within(_f(leak, "FDWATCH_ETA_SEC"), limit - fds, 0.25),
                   "%s leak: ETA within 25%% of %d s" % (key, limit - fds),
                   leak.get("FDWATCH_ETA_SEC"))
    es = alerts_for(jd, runs["hour"].pid)
    tap.ok(first_of(es, "leak", "critical") is not None and
           first_of(es, "leak", "critical").get("FDWATCH_TYPE") == "leak" and
           not [e for e in es if int(e.get("PRIORITY", "6")) <= LOG_CRIT],
           "hour of runway: leaking (warning), never critical", [e.get("MESSAGE") for e in es])

    # ---- EMFILE, fast: at once, naming the call, with the count at the failure
    r = runs["emfile"]
    _, emf = r.first("emfile")
    exh = first_of(alerts_for(jd, r.pid), "exhausted")
    tap.ok(emf is not None and exh is not None and exh["_t"] - float(emf[3]) <= 2.0,
           "EMFILE: exhausted alert within 2 s", exh and emf and
           "%.2fs" % (exh["_t"] - float(emf[3])))
    tap.ok(exh is not None and exh.get("FDWATCH_SYSCALL") == "openat" and
           exh.get("PRIORITY") == "1", "EMFILE: names openat, PRIORITY alert", exh)
    tap.ok(exh is not None and exh.get("FDWATCH_FDS") == "300",
           "EMFILE: the count at the failure (300/300)", exh and exh.get("MESSAGE"))

    # ---- each kind, and a leak in a non-main thread
    for name in sorted(k for k in runs if k.startswith("kind-")) + ["thread"]:
        kind = "eventfd" if name == "thread" else name[5:]
        r = runs[name]
        leak = first_of(alerts_for(jd, r.pid), "leak", "critical")
        tap.ok(leak is not None and leak.get("FDWATCH_KIND") == kind,
               "%s: leak alert naming %s" % (name, kind), leak and leak.get("MESSAGE"))

    # ---- retry loops that close inside each attempt: net +1 each, at the period they kept
    # (the shell's sleep(1) takes longer on a loaded machine)
    for key in ("retry-py", "retry-sh"):
        r = runs[key]
        es = alerts_for(jd, r.pid)
        leak = first_of(es, "leak", "critical")
        prog = [(float(p[1]), int(p[3])) for _, p in r.lines if p and p[0] == "progress"]
        period = (prog[-1][0] - prog[0][0]) / (prog[-1][1] - prog[0][1]) if len(prog) > 1 \
            else None
        seen = [(p.get("state"), p.get("pattern"), p.get("period_sec"), p.get("per_attempt"))
                for _, p in samples.get(key, [])]
        tap.ok(leak is not None and period and leak.get("FDWATCH_PATTERN") == "retry-loop" and
               within(_f(leak, "FDWATCH_PER_ATTEMPT"), 1, 0.15) and
               within(_f(leak, "FDWATCH_PERIOD_SEC"), period, 0.15),
               "%s: a retry loop, +1 fd an attempt, at its period" % key,
               "%s (period %s); the API said %s" % (leak and leak.get("MESSAGE"), period, seen))
        if leak:
            tap.diag("%s: %s (it ran an attempt every %.3f s)" % (key, leak.get("MESSAGE"),
                                                                 period or 0))

    # ---- a sawtooth whose troughs rise by 20 a cycle
    es = alerts_for(jd, runs["gc-leak"].pid)
    tr = [e for e in es if e.get("FDWATCH_PATTERN") == "rising-troughs" and
          e.get("FDWATCH_TYPE") in ("leak", "critical")]
    tap.ok(tr and within(_f(tr[0], "FDWATCH_RISE_PER_CYCLE"), 20, 0.15),
           "rising troughs: a leak, +20 per cycle", [e.get("MESSAGE") for e in es])
    if tr:
        tap.diag("gc-leak: %.1fs after start: %s" % (tr[0]["_t"] - runs["gc-leak"].first("start")[0],
                                                      tr[0].get("MESSAGE")))


def check_benign(tap, jd, runs, samples):
    # ---- sawtooths and warm-ups into cycles: one episode at most, in the first ramp, closed
    # at the first drop ("released"), nothing above notice after it.
    for key in ("saw-600", "saw-800", "saw-150", "warm-64", "warm-128"):
        r = runs[key]
        rels = [float(p[3]) for _, p in r.lines if p and p[0] == "release"]
        es = alerts_for(jd, r.pid)
        eps = episodes_of(es)
        if len(rels) < 2:
            tap.ok(False, "%s: released its batches" % key, r.lines[-3:])
            continue
        t_rel = rels[0]
        closes = [e for e in es if e.get("FDWATCH_TYPE") == "recovered"]
        ok = len(eps) <= 1 and all(e["_t"] < t_rel + 1.5 for e in es if e not in closes)
        # Closed by the daemon's first look after the drop: within a tick or two, or (when
        # the loaded machine held the daemon back) still as "released", before the next drop.
        if eps:
            ok = ok and closes and closes[0].get("FDWATCH_END") == "released" and \
                closes[0]["_t"] < rels[1]
        tap.diag("%s: %d episode(s), %d alert(s) above notice%s" % (
            key, len(eps), len(loud(es)), "; closed %.1fs after the first drop: %s" % (
                closes[0]["_t"] - t_rel, closes[0]["MESSAGE"]) if eps and closes else ""))
        tap.ok(ok and not loud(es, t_rel + 1.5),
               "%s: at most one episode, in the first ramp, closed at the first drop" % key,
               [(round(e["_t"] - t_rel, 1), e.get("MESSAGE")) for e in es])

    # ---- start-up ramps then flat: any episode closed within the cool-down after the ramp
    for key in ("start-400", "start-3000"):
        r = runs[key]
        _, hold = r.first("hold")
        es = alerts_for(jd, r.pid)
        closes = [e for e in es if e.get("FDWATCH_TYPE") == "recovered"]
        t_hold = float(hold[3]) if hold else 0
        last_close = closes[-1]["_t"] if closes else t_hold
        tap.diag("%s: %d alert(s)%s" % (key, len(es), ", closed %.1fs after the ramp stopped" %
                                        (last_close - t_hold) if closes else ""))
        tap.ok(hold and last_close - t_hold <= COOLDOWN + 10 and not loud(es, last_close),
               "%s: any episode closed within the cool-down after the ramp" % key,
               [(round(e["_t"] - t_hold, 1), e.get("MESSAGE")) for e in es])

    # ---- a churner with batches in flight: ok in every poll, never an alert
    states = [p.get("state") for _, p in samples.get("churner", []) if "error" not in p]
    tap.diag("churner: API states %s" % states)
    tap.ok(len(states) >= 10 and all(s == "ok" for s in states) and
           not alerts_for(jd, runs["churner"].pid),
           "flat churner (20k open/close a second, 32 in flight): ok in every poll", states)

    # ---- a forking parent, children inheriting 300 fds: no alert for any of them
    es = alerts_of_runs(jd, [runs["forker"]])
    tap.ok(not es, "forking parent: no alert for it or its children",
           [e.get("MESSAGE") for e in es])

    # ---- a parent flat near its limit and its children holding its fds: one warning for the
    # parent, one for the children saying they are inherited, none critical
    es = alerts_of_runs(jd, [runs["forker-near"]])
    parent = str(runs["forker-near"].pid)
    kids = [e for e in es if e.get("OBJECT_PID") != parent and
            int(e.get("PRIORITY", "6")) < LOG_NOTICE]
    own = [e for e in es if e.get("OBJECT_PID") == parent and
           int(e.get("PRIORITY", "6")) < LOG_NOTICE]
    tap.diag("forknear: %s" % [e.get("MESSAGE") for e in es if e.get("FDWATCH_TYPE") != "recovered"])
    tap.ok(len(own) <= 1 and len(kids) == 1 and int(kids[0].get("FDWATCH_INHERITED_FDS", "0")) >= 900
           and not [e for e in es if int(e.get("PRIORITY", "6")) <= LOG_CRIT],
           "children holding their parent's fds near the limit: reported once, as inherited",
           [e.get("MESSAGE") for e in es])

    # ---- six processes of one program flat 28 fds under their limit: one warning at most
    es = alerts_of_runs(jd, [runs["near-%d" % k] for k in range(6)])
    warn = loud(es)
    tap.ok(len(warn) <= 1 and not [e for e in es if int(e.get("PRIORITY", "6")) <= LOG_CRIT],
           "six flat processes near their limit: at most one warning, none critical", warn)
    tap.diag("pgback: %s" % [e.get("MESSAGE") for e in es])

    # ---- the daemon saw each flat one with its real count (and judged it)
    for key, slack in (("benign-plateau", 0), ("benign-pool", 0), ("benign-churn", 1),
                       ("benign-burst", 0), ("start-400", 0), ("start-3000", 0), ("forker", 0),
                       ("near-0", 0)):
        got = samples.get(key, [])
        seen = [(want, p.get("fds")) for want, p in got if "fds" in p]
        # The first polls may fall into a ramp: judge the latest half.
        late = seen[len(seen) // 2:]
        tap.ok(late and all(abs(api - want) <= slack for want, api in late),
               "%s: tracked with its real count" % key, seen)

    # ---- the benign workloads of benign.c: nothing above notice
    for name in sorted(k for k in runs if k.startswith("benign-")):
        r = runs[name]
        tap.ok(r.first("done")[0] is not None and not loud(alerts_for(jd, r.pid)),
               "%s: no alert above notice over its whole run" % name,
               loud(alerts_for(jd, r.pid)))


def check_episodes(tap, jd, runs):
    """Every alerted episode has exactly one closing line; an exit line says so."""
    bad = []
    episodes = 0
    by_pid = {}
    for e in alerts_of_runs(jd, runs.values()):
        by_pid.setdefault(e.get("OBJECT_PID"), []).append(e)
    for pid, es in by_pid.items():
        open_ = False
        for e in es:
            if e.get("FDWATCH_TYPE") == "recovered":
                if not open_:
                    bad.append("pid %s: a closing line without an open episode: %s" %
                               (pid, e.get("MESSAGE")))
                if e.get("FDWATCH_END") == "exited" and e.get("FDWATCH_STATE") != "exited":
                    bad.append("pid %s: exited with FDWATCH_STATE=%s" %
                               (pid, e.get("FDWATCH_STATE")))
                open_ = False
            elif not open_:
                open_ = True
                episodes += 1
        if open_:
            bad.append("pid %s: episode never closed: %s" % (pid, es[-1].get("MESSAGE")))
    tap.diag("%d alerted episodes" % episodes)
    tap.ok(episodes > 0 and not bad, "every alerted episode has exactly one closing line", bad)


def _f(e, key):
    try:
        return float(e[key])
    except (KeyError, TypeError, ValueError):
        return None


if __name__ == "__main__":
    main()
