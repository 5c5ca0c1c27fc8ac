#!/usr/bin/env python3
"""Configuration reload on SIGHUP against the real daemon: a good file and its
drop-ins apply in the same process, a rule starts to match, a bad file is
reported with file:line and the running configuration is kept; command-line
flags stay in force without false "needs a restart" warnings; what follows
from the config (where alerts go) is derived again; and the service manager
always hears READY=1 after RELOADING=1, even when the reload runs out of
memory."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402


# Not the default path: --socket must survive reloads without a restart warning.
SOCKET = "/run/fdwatch/reload.sock"


def status():
    return fdwlib.call("io.fdwatch.GetStatus", path=SOCKET)


def reload(d, text, dropin=None):
    path = os.path.join(d.tmp, "fdwatch.conf")
    with open(path, "w") as f:
        f.write(text)
    ddir = path + ".d"
    os.makedirs(ddir, exist_ok=True)
    for name in os.listdir(ddir):
        os.unlink(os.path.join(ddir, name))
    for name, body in (dropin or {}).items():
        with open(os.path.join(ddir, name), "w") as f:
            f.write(body)
    before = len(d.output())
    os.kill(d.pid, signal.SIGHUP)
    fdwlib.wait_for(lambda: "reload" in d.output()[before:].lower(), 5, "reload logged")
    time.sleep(0.3)
    return d.output()[before:]


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    d = fdwlib.Daemon(["--no-journal", "--rescan", "4s", "--probe-mode", "raw", "--socket", SOCKET],
                      config="[Probe]\nTickSec=1s\n").start()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid0 = d.pid
        tap.ok(status()["tick_sec"] == 1, "starts with TickSec=1s from its file")

        out = reload(d, "[Probe]\nTickSec=2s\n[Rule sleepers]\nComm=sleep\nIgnore=yes\n")
        tap.ok(status()["tick_sec"] == 2, "SIGHUP applies TickSec=2s", out)
        tap.ok(status()["rescan_sec"] == 4, "a command-line flag (--rescan) survives a reload",
               status())
        tap.ok(status()["probe_mode"] == "raw", "--probe-mode survives a reload", status())
        tap.ok("restart" not in out,
               "--socket and --probe-mode are not reported as changes that need a restart", out)
        p = fdwlib.wait_for(lambda: _proc(sleeper.pid), 10, "sleep in the table")
        p = fdwlib.wait_for(lambda: (lambda q: q if q and q["ignored"] else None)(_proc(sleeper.pid)),
                            12, "rule applied")
        tap.ok(p["ignored"], "a [Rule] added by reload ignores the matching process", p)

        out = reload(d, "[Probe]\nTickSec=2s\n", {"20-b.conf": "[Probe]\nTickSec=3s\n",
                                                   "10-a.conf": "[Probe]\nTickSec=500ms\n"})
        tap.ok(status()["tick_sec"] == 3, "drop-ins apply in lexical order (20-b.conf wins)", out)

        out = reload(d, "[Probe]\nTickSec=banana\nNoSuchKey=1\n")
        tap.ok(d.proc.poll() is None and d.pid == pid0, "a bad file does not stop the daemon")
        tap.ok(status()["tick_sec"] == 3, "a bad file keeps the running configuration", out)
        tap.ok("fdwatch.conf:2:" in out and "fdwatch.conf:3:" in out and "TickSec" in out and
               "NoSuchKey" in out, "each problem is reported with file:line and the key", out)
        tap.ok("keeping" in out, "the log says the running configuration is kept", out)

        out = reload(d, "[Probe]\nMaxProcesses=4096\n")
        tap.ok("restart" in out and "MaxProcesses" in out,
               "a setting that needs a restart says so", out)
    finally:
        sleeper.kill()
        sleeper.wait()
        rc = d.stop()
        tap.ok(rc == 0, "fdwatchd exits 0", d.output()[-2000:])
    journal_off_by_reload(tap)
    reload_out_of_memory(tap)
    tap.done()


def journal_off_by_reload(tap):
    """Journal=yes -> no on SIGHUP: alerts go to stderr from then on, not nowhere."""
    j = fdwlib.Journald().start()
    d = fdwlib.Daemon(["--socket", SOCKET], config="[Alert]\nJournal=yes\n").start()
    try:
        reload(d, "[Alert]\nJournal=no\n")
        before = len(d.output())
        subprocess.run([fdwlib.workload("leak"), "--kind", "file", "--rate", "500", "--limit", "64",
                        "--until-emfile", "--hold", "2"], capture_output=True, timeout=30)
        try:
            fdwlib.wait_for(lambda: "hit EMFILE" in d.output()[before:], 5, "alert on stderr")
        except TimeoutError:
            pass
        lines = [l for l in d.output()[before:].splitlines() if "hit EMFILE" in l]
        tap.ok(any("leak[" in l for l in lines),
               "after a reload to Journal=no the EMFILE alert is printed on stderr",
               d.output()[-1500:])
    finally:
        d.stop()
        j.stop()


def reload_out_of_memory(tap):
    """A reload that fails for lack of memory still ends in READY=1.

    The failure is made real in the running daemon: gdb makes the allocation of
    the reload's message buffer (open_memstream) return NULL, as it does when
    malloc fails."""
    if not shutil.which("gdb"):
        tap.skip("out of memory in a reload: RELOADING=1, then READY=1", "no gdb (make deps)")
        return
    d = fdwlib.Daemon(["--no-journal", "--socket", SOCKET]).start()
    gdb = None
    try:
        gdb = subprocess.Popen(["gdb", "-p", str(d.pid), "-batch", "-nx",
                                "-ex", "set confirm off",
                                "-ex", "handle SIGHUP nostop noprint pass",
                                "-ex", "break open_memstream",
                                "-ex", "continue",
                                "-ex", "return (void *) 0",
                                "-ex", "detach"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        fdwlib.wait_for(lambda: _tracer(d.pid), 30, "gdb attached")
        with d.lock:
            seen = len(d.notifications)
        os.kill(d.pid, signal.SIGHUP)
        out, _ = gdb.communicate(timeout=60)
        # "Breakpoint 1," or, in an ASan build (its interceptor too), "Breakpoint 1.2,"; with
        # more than one thread (the journal writer) "Thread 1 "fdwatchd" hit Breakpoint 1,".
        tap.ok(re.search(r'^(Thread \d+ "[^"]*" hit )?Breakpoint 1(\.\d+)?, .*open_memstream', out,
                         re.M),
               "gdb made the reload's allocation fail", out)
        try:
            fdwlib.wait_for(lambda: _after(d, seen, "READY=1"), 5, "READY=1")
        except TimeoutError:
            pass
        with d.lock:
            got = [m.replace("\n", " ") for m in d.notifications[seen:]]
        tap.ok(_after(d, seen, "RELOADING=1") and _after(d, seen, "READY=1"),
               "out of memory in a reload: RELOADING=1, then READY=1", got)
        tap.ok("keeping the running one" in d.output(), "the failed reload is logged",
               d.output()[-1500:])
        tap.ok(status()["tick_sec"] == 1, "the daemon still answers with its configuration")
    finally:
        if gdb and gdb.poll() is None:
            gdb.kill()
            gdb.wait()
        d.stop()


def _tracer(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    return False


def _after(d, seen, what):
    """Whether what is among the notifications since index seen (RELOADING=1 before READY=1)."""
    with d.lock:
        msgs = [m.split("\n") for m in d.notifications[seen:]]
    reloading = next((i for i, m in enumerate(msgs) if "RELOADING=1" in m), None)
    if what == "RELOADING=1":
        return reloading is not None
    return reloading is not None and any(what in m for m in msgs[reloading:])


def _proc(pid):
    try:
        return fdwlib.call("io.fdwatch.GetProcess", {"pid": pid}, path=SOCKET)["process"]
    except (fdwlib.VarlinkError, OSError):
        return None


if __name__ == "__main__":
    main()
