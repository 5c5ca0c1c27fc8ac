#!/usr/bin/env python3
"""Configuration reload on SIGHUP against the real daemon: a good file and its
drop-ins apply in the same process, a rule starts to match, a bad file is
reported with file:line and the running configuration is kept."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402


def status():
    return fdwlib.call("io.fdwatch.GetStatus")


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
    d = fdwlib.Daemon(["--no-journal", "--rescan", "4s"], config="[Probe]\nTickSec=1s\n").start()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid0 = d.pid
        tap.ok(status()["tick_sec"] == 1, "starts with TickSec=1s from its file")

        out = reload(d, "[Probe]\nTickSec=2s\n[Rule sleepers]\nComm=sleep\nIgnore=yes\n")
        tap.ok(status()["tick_sec"] == 2, "SIGHUP applies TickSec=2s", out)
        tap.ok(status()["rescan_sec"] == 4, "a command-line flag (--rescan) survives a reload",
               status())
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
    tap.done()


def _proc(pid):
    try:
        return fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})["process"]
    except (fdwlib.VarlinkError, OSError):
        return None


if __name__ == "__main__":
    main()
