#!/usr/bin/env python3
"""What is leaking and where, end to end: real BPF probe, real fdwatchd, real journald, real
leaking processes, all at once (~40 s):
  - conn_leak (C, frame pointers): a socket per refused non-blocking connect() to a closed
    127.0.0.1 port. GetProcess's census names TCP, the state and the peer address and port;
    its top creation site names shipper_reconnect_collector_leaky(); the leak alert carries
    both (FDWATCH_TOP_TARGET=, FDWATCH_TOP_SITE=) and says the target in its message;
  - the origin story (Python): its pipe fds are pairs held only by itself, and the census's
    oldest age is within 2 s of the truth (the workload's start line);
  - a file leak names the file's path; an eventfd leak names eventfd;
  - `fdwatchctl show PID` prints the census and the sites; `--json show` has them;
  - nobody may not see root's processes: GetProcess is denied and no alert of them (with its
    target) reaches it; its own leaking process's census it gets.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402
from fdwlib import VarlinkError, as_nobody, as_nobody_child, wait_for  # noqa: E402

CONFIG = """
[Probe]
TickSec=500ms
RescanSec=2s
[Detect]
LeakMinSec=3
[Api]
SocketMode=0666
"""


class Run:
    """A workload whose stdout lines are collected with their arrival time."""

    def __init__(self, args, **kw):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, **kw)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.split())

    def first(self, word):
        for parts in self.lines:
            if parts and parts[0] == word:
                return parts
        return None

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def get(pid):
    return fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})


def state_of(pid):
    try:
        return get(pid)["process"]["state"]
    except VarlinkError:
        return None


def leaking(pid):
    return state_of(pid) in ("leaking", "critical", "exhausted")


def group(census, kind):
    for g in (census or {}).get("groups", []):
        if g["kind"] == kind:
            return g
    return None


def alerts_for(jd, pid):
    return [e for e in jd.entries(SYSLOG_IDENTIFIER="fdwatchd") if e.get("OBJECT_PID") == str(pid)]


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    jd = fdwlib.Journald().start()
    try:
        d = fdwlib.Daemon(config=CONFIG).start()
        try:
            run_all(tap, jd, d)
        finally:
            rc = d.stop()
            tap.ok(rc == 0, "fdwatchd exits 0", d.output()[-3000:])
    finally:
        jd.stop()
    tap.done()


def run_all(tap, jd, d):
    leak = fdwlib.workload("leak")
    runs = {
        "tcp": Run([fdwlib.workload("conn_leak"), "--period", "0.05", "--duration", "45",
                    "--limit", "4096"]),
        "origin": Run([sys.executable, os.path.join(fdwlib.WORKLOAD_SRC, "origin_story.py"),
                       "--limit", "1024", "--period", "0.1", "--duration", "45"]),
        "file": Run([leak, "--kind", "file", "--rate", "5", "--limit", "8192", "--duration", "45"]),
        "eventfd": Run([leak, "--kind", "eventfd", "--rate", "5", "--limit", "8192",
                        "--duration", "45"]),
        "nobody": Run(as_nobody() + [leak, "--kind", "pipe", "--rate", "4", "--limit", "4096",
                                     "--duration", "45"]),
    }
    census_progs = {"dump_sockets", "find_pipe_holders"}
    loaded_before = census_progs & set(fdwlib.bpf_program_names(d.pid))
    try:
        for name, r in runs.items():
            wait_for(lambda: r.first("start"), 10, "%s started" % name)
        nobody_pid = int(runs["nobody"].first("start")[1])
        for name, r in runs.items():
            pid = nobody_pid if name == "nobody" else r.pid
            try:
                wait_for(lambda: leaking(pid), 30, "%s leaking" % name, interval=0.25)
            except TimeoutError as e:
                tap.diag(str(e))
        # Two census refreshes later: sites recorded since growing, ages well measurable.
        time.sleep(6)
        check_tcp(tap, jd, runs["tcp"])
        loaded = set(fdwlib.bpf_program_names(d.pid))
        tap.ok(not loaded_before and census_progs <= loaded,
               "the census programs are loaded at the first census, not before",
               (loaded_before, loaded))
        check_origin(tap, jd, runs["origin"])
        check_file_eventfd(tap, runs, leak)
        check_show(tap, runs["tcp"].pid)
        check_nobody(tap, runs["tcp"].pid, nobody_pid)
    finally:
        for r in runs.values():
            r.stop()


def check_tcp(tap, jd, r):
    port = int(r.first("start")[2])
    rep = get(r.pid)
    census, sites = rep.get("census"), rep.get("sites")
    g = group(census, "socket")
    want = "TCP CLOSE to 127.0.0.1:%d" % port
    tap.ok(g is not None and g["target"] == want and census["groups"][0] is g
           and g["fds"] >= 20, "TCP leak: census's largest group is '%s'" % want,
           json.dumps(census)[:3000])
    tap.ok(g is not None and g["aged"] > 0 and g["oldest_age_sec"] is not None
           and g["oldest_age_sec"] >= g["newest_age_sec"],
           "TCP leak: socket ages from the probe's creation records", json.dumps(g))
    top = (sites or {}).get("sites") or [{}]
    frames = top[0].get("frames", [])
    tap.ok(sites is not None and sites["tracking"] and top[0].get("syscall") == "socket"
           and any(f.startswith("shipper_reconnect_collector_leaky+") for f in frames),
           "TCP leak: the top site is socket() from shipper_reconnect_collector_leaky()",
           json.dumps(sites)[:3000])
    time.sleep(1)
    es = [e for e in alerts_for(jd, r.pid) if e.get("FDWATCH_TYPE") in ("leak", "critical")]
    a = es[0] if es else {}
    tap.ok("TCP" in a.get("FDWATCH_TOP_TARGET", "") and
           ("127.0.0.1:%d" % port) in a.get("FDWATCH_TOP_TARGET", "")
           and "TCP sockets CLOSE to 127.0.0.1:%d" % port in a.get("MESSAGE", ""),
           "TCP leak alert: FDWATCH_TOP_TARGET= and the message name TCP, state, peer", a)
    tap.ok("shipper_reconnect_collector_leaky" in a.get("FDWATCH_TOP_SITE", "")
           and "socket()" in a.get("FDWATCH_TOP_SITE", ""),
           "TCP leak alert: FDWATCH_TOP_SITE= names the function", a)


def check_origin(tap, jd, r):
    start = r.first("start")
    pid, wall0 = int(start[1]), float(start[3])
    rep = get(pid)
    t_query = time.time()
    g = group(rep.get("census"), "pipe-orphaned")
    truth = t_query - wall0
    # Its stdout and stderr are pipes too, but shared: this test holds their read ends.
    shared = group(rep.get("census"), "pipe-shared")
    tap.ok(g is not None and g["target"] == "pipe pairs held only by itself"
           and g["objects"] * 2 == g["fds"] and g["fds"] >= 50
           and shared is not None and shared["fds"] == 2
           and shared["target"].endswith("[%d]" % os.getpid()),
           "origin story: its leaked pipe fds are pairs held only by itself, its stdout and "
           "stderr pipes shared with this test", json.dumps(rep["census"]))
    age = g["oldest_age_sec"] if g else None
    tap.ok(age is not None and abs(age - truth) <= 2,
           "origin story: oldest pipe pair's age %.1f s within 2 s of the truth %.1f s"
           % (age or -1, truth), json.dumps(g))
    es = [e for e in alerts_for(jd, pid) if e.get("FDWATCH_TYPE") in ("leak", "critical")]
    msg = es[0].get("MESSAGE", "") if es else ""
    tap.ok("pipe pairs held only by itself, oldest" in msg,
           "origin story alert says 'N pipe pairs held only by itself, oldest T'", es[:1])


def check_file_eventfd(tap, runs, leak):
    rep = get(runs["file"].pid)
    g = rep["census"]["groups"][0] if rep.get("census") else {}
    tap.ok(g.get("kind") == "file" and g.get("target") == os.path.realpath(leak)
           and g.get("fds", 0) >= 20, "file leak: census names the path %s" % leak,
           json.dumps(rep.get("census"))[:2000])
    rep = get(runs["eventfd"].pid)
    g = rep["census"]["groups"][0] if rep.get("census") else {}
    tap.ok(g.get("kind") == "anon" and g.get("target") == "eventfd" and g.get("fds", 0) >= 20,
           "eventfd leak: census names eventfd", json.dumps(rep.get("census"))[:2000])


def check_show(tap, pid):
    p = subprocess.run([fdwlib.FDWATCHCTL, "show", str(pid)], capture_output=True, text=True,
                       timeout=30)
    tap.ok(p.returncode == 0 and "Open fds by target" in p.stdout
           and "TCP sockets CLOSE to 127.0.0.1:" in p.stdout and "Made by" in p.stdout
           and "shipper_reconnect_collector_leaky+" in p.stdout,
           "fdwatchctl show: census and creation sites at a glance", p.stdout + p.stderr)
    p = subprocess.run([fdwlib.FDWATCHCTL, "--json", "show", str(pid)], capture_output=True,
                       text=True, timeout=30)
    try:
        o = json.loads(p.stdout)
    except ValueError:
        o = {}
    tap.ok(p.returncode == 0 and o.get("pid") == pid and o.get("census", {}).get("groups")
           and o.get("sites", {}).get("sites"), "fdwatchctl --json show: census and sites",
           p.stdout[:2000] + p.stderr)


def check_nobody(tap, root_pid, nobody_pid):
    def query():
        res = {}
        try:
            fdwlib.call("io.fdwatch.GetProcess", {"pid": root_pid})
            res["root"] = "served"
        except VarlinkError as e:
            res["root"] = e.error
        res["root_alerts"] = [a["message"] for a in
                              fdwlib.call("io.fdwatch.ListAlerts")["alerts"]
                              if a["pid"] == root_pid]
        own = fdwlib.call("io.fdwatch.GetProcess", {"pid": nobody_pid})
        res["own"] = group(own.get("census"), "pipe-orphaned")
        return res

    res = as_nobody_child(query)
    tap.ok(res.get("root") == "io.fdwatch.PermissionDenied" and res.get("root_alerts") == [],
           "nobody: no census, sites or alert of root's leaking process", res)
    tap.ok(res.get("own") is not None and res["own"]["fds"] >= 10,
           "nobody: the census of its own leaking process", res)
    p = subprocess.run(as_nobody() + [fdwlib.FDWATCHCTL, "show", str(root_pid)],
                       capture_output=True, text=True, timeout=30)
    tap.ok(p.returncode != 0 and "TCP" not in p.stdout and "shipper" not in p.stdout,
           "nobody: fdwatchctl show of root's process prints none of it", p.stdout + p.stderr)


if __name__ == "__main__":
    main()
