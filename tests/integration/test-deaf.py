#!/usr/bin/env python3
"""Never deaf: a stopped journald must not stop fdwatchd.

journald is stopped (SIGSTOP: what a journald stuck on a slow disk looks like)
and its socket's datagram queue filled, so any blocking send to it would wait
for as long as it stays stopped. Meanwhile a real process leaks to EMFILE:
  - `fdwatchctl status` answers in well under a second, every time;
  - the leaker's alerts are in `fdwatchctl alerts` (the history never waits);
  - GetStatus counts them as queued for the journal, none sent;
  - after SIGCONT they are all in the journal, in order (FDWATCH_SEQ= is the
    history's seq), and counted as sent.
With a queue bound smaller than the alerts raised, the first ones are
delivered and the rest counted as dropped: raised == sent + dropped.
SIGTERM with alerts queued flushes them if journald comes back within ~2 s,
and otherwise exits anyway, saying how many were lost.
Without a journal, alerts on stderr carry their own priority prefix.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402

JOURNAL_SOCKET = "/run/systemd/journal/socket"
STATUS_DEADLINE = 1.0  # seconds: what "answers at once" means here, on a loaded 2-vCPU machine


def fill_journal_socket():
    """Send filler datagrams to journald until its queue takes no more; how many it took."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    n = 0
    try:
        for i in range(100000):
            try:
                s.sendto(b"MESSAGE=fdwatch test filler %d\nSYSLOG_IDENTIFIER=filler\n" % i,
                         JOURNAL_SOCKET)
                n += 1
            except BlockingIOError:
                return n
    finally:
        s.close()
    raise RuntimeError("journald's socket never filled up (%d datagrams taken)" % n)


class StatusPoller:
    """`fdwatchctl status` over and over in a thread; the time of each reply."""

    def __init__(self):
        self.times = []
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                p = subprocess.run([fdwlib.FDWATCHCTL, "status"], capture_output=True,
                                   text=True, timeout=10)
                if p.returncode != 0:
                    self.failures.append("exit %d: %s" % (p.returncode, p.stderr.strip()))
            except subprocess.TimeoutExpired:
                self.failures.append("timed out after 10 s")
            self.times.append(time.monotonic() - t0)
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def history(pid=None):
    """Alerts in fdwatchd's history (oldest first), of process pid if given."""
    alerts = fdwlib.call("io.fdwatch.ListAlerts", {}).get("alerts", [])
    return [a for a in alerts if pid is None or a.get("pid") == pid]


def journal_stats():
    return fdwlib.call("io.fdwatch.GetStatus", {}).get("journal", {})


def snapshot():
    """(journal stats, seqs of every alert raised) from one moment: fdwatchd watches the whole
    host, so other processes' alerts may come in between two calls; retried until stable."""
    for _ in range(50):
        st = journal_stats()
        seqs = [a["seq"] for a in history()]
        if journal_stats() == st:
            return st, seqs
        time.sleep(0.1)
    raise RuntimeError("the counters never held still")


def journal_seqs(journald, daemon):
    """FDWATCH_SEQ of this daemon's entries, in the journal's order."""
    return [int(e["FDWATCH_SEQ"]) for e in journald.entries(_PID=daemon.pid)
            if "FDWATCH_SEQ" in e]


# The syscall probe attached throughout: these leaks hit EMFILE once, in their first
# quarter of a second, before auto mode could arm for them.
ALWAYS = ["--probe-mode", "always"]


def leak_to_emfile(limit):
    """A leaker that hits EMFILE at limit fds, holds them 2 s and exits."""
    return subprocess.Popen([fdwlib.workload("leak"), "--kind", "pipe", "--rate", "400",
                             "--limit", str(limit), "--until-emfile", "--hold", "2",
                             "--duration", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def wait_alert(pid, type_, timeout):
    return fdwlib.wait_for(lambda: any(a.get("type") == type_ for a in history(pid)), timeout,
                           "%s alert of %d" % (type_, pid), interval=0.2)


def leak_through_emfile(limit):
    """leak_to_emfile(limit) to its exit: its exhausted alert, then its recovered one; its pid."""
    leak = leak_to_emfile(limit)
    try:
        wait_alert(leak.pid, "exhausted", 30)
        leak.wait(30)
        wait_alert(leak.pid, "recovered", 15)
    finally:
        if leak.poll() is None:
            leak.kill()
        leak.wait()
    return leak.pid


def test_stalled_journal(tap, journald):
    config = "[Alert]\nJournalQueue=64\n"
    d = fdwlib.Daemon(ALWAYS, config=config).start()
    stopped = False
    try:
        # An alert before the stall goes through: the writer really reaches journald.
        os.kill(journald.proc.pid, signal.SIGSTOP)
        stopped = True
        took = fill_journal_socket()
        tap.diag("journald stopped; its socket took %d filler datagrams, then EAGAIN" % took)
        sent0 = journal_stats().get("sent")
        with StatusPoller() as poller:
            leak_pid = leak_through_emfile(200)
            time.sleep(1)
        slow = [t for t in poller.times if t >= STATUS_DEADLINE]
        tap.ok(len(poller.times) >= 10 and not slow and not poller.failures,
               "journald stopped: every `fdwatchctl status` answered in < %.0f s" %
               STATUS_DEADLINE,
               "%d replies, max %.3f s, slow %s, failures %s" %
               (len(poller.times), max(poller.times or [0]), slow, poller.failures[:3]))
        tap.diag("%d status replies while journald was stopped, slowest %.3f s" %
                 (len(poller.times), max(poller.times or [0])))
        mine = history(leak_pid)
        types = [a["type"] for a in mine]
        tap.ok("exhausted" in types and "recovered" in types,
               "journald stopped: the leaker's alerts are in the history", types)
        st, seqs = snapshot()
        tap.ok(st.get("sent") == sent0 and st.get("queued") == len(seqs) - sent0 and
               st.get("dropped") == 0,
               "journald stopped: GetStatus counts them queued, none sent or dropped",
               "journal %s, %d alerts raised, %d sent before the stall" %
               (st, len(seqs), sent0))
        text = subprocess.run([fdwlib.FDWATCHCTL, "status"], capture_output=True,
                              text=True).stdout
        tap.ok("%d queued" % st.get("queued") in text, "fdwatchctl status shows the queue",
               text)

        os.kill(journald.proc.pid, signal.SIGCONT)
        stopped = False
        got = fdwlib.wait_for(lambda: (lambda s: s if len(s) >= len(seqs) else None)(
            journal_seqs(journald, d)), 20, "alerts in the journal")
        tap.ok(got == seqs, "journald back: every alert is in the journal, in order",
               "journal %s, history %s" % (got, seqs))
        st = journal_stats()
        tap.ok(st.get("sent") >= len(seqs) and st.get("dropped") == 0,
               "journald back: all counted as sent", st)
    finally:
        if stopped:
            os.kill(journald.proc.pid, signal.SIGCONT)
        d.stop()


def test_queue_bound(tap, journald):
    bound = 2
    d = fdwlib.Daemon(ALWAYS, config="[Alert]\nJournalQueue=%d\n" % bound).start()
    stopped = False
    try:
        os.kill(journald.proc.pid, signal.SIGSTOP)
        stopped = True
        fill_journal_socket()
        leaks = [leak_to_emfile(150 + 20 * i) for i in range(3)]
        try:
            for p in leaks:
                wait_alert(p.pid, "exhausted", 30)
        finally:
            for p in leaks:
                if p.poll() is None:
                    p.kill()
                p.wait()
        for p in leaks:
            wait_alert(p.pid, "recovered", 15)
        st, seqs = snapshot()
        tap.ok(st.get("queued") == bound and st.get("dropped") > 0 and
               st.get("sent") + st.get("queued") + st.get("dropped") == len(seqs),
               "queue bound %d exceeded: the rest are counted as dropped" % bound,
               "journal %s, %d alerts raised" % (st, len(seqs)))
        os.kill(journald.proc.pid, signal.SIGCONT)
        stopped = False
        fdwlib.wait_for(lambda: journal_stats().get("queued") == 0, 20, "the queue to drain")
        st, seqs = snapshot()
        got = journal_seqs(journald, d)
        tap.ok(got == seqs[:len(got)] and len(got) == st.get("sent") and
               st.get("sent") + st.get("dropped") == len(seqs),
               "journald back: the oldest ones are in the journal, in order; "
               "raised == sent + dropped", "journal %s, history %s, stats %s" % (got, seqs, st))
    finally:
        if stopped:
            os.kill(journald.proc.pid, signal.SIGCONT)
        d.stop()


def test_shutdown(tap, journald, back_after):
    """SIGTERM with alerts queued and journald stopped: it waits at most ~2 s for journald.
    back_after: seconds after SIGTERM that journald continues (None: not before the exit)."""
    d = fdwlib.Daemon(ALWAYS).start()
    stopped = False
    try:
        os.kill(journald.proc.pid, signal.SIGSTOP)
        stopped = True
        fill_journal_socket()
        leak = leak_to_emfile(150)
        try:
            wait_alert(leak.pid, "exhausted", 30)
        finally:
            leak.kill()
            leak.wait()
        st, seqs = snapshot()
        pid = d.pid
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        if back_after is not None:
            time.sleep(back_after)
            os.kill(journald.proc.pid, signal.SIGCONT)
            stopped = False
        rc = d.proc.wait(15)
        took = time.monotonic() - t0
        if stopped:
            os.kill(journald.proc.pid, signal.SIGCONT)
            stopped = False
        out = d.output()
        if back_after is not None:
            got = fdwlib.wait_for(lambda: (lambda v: v if len(v) >= len(seqs) else None)(
                [int(e["FDWATCH_SEQ"]) for e in journald.entries(_PID=pid)
                 if "FDWATCH_SEQ" in e]), 10, "the flushed alerts in the journal")
            tap.ok(rc == 0 and got[:len(seqs)] == seqs and "did not take" not in out,
                   "SIGTERM, journald back %.1f s later: the %d queued alerts are flushed "
                   "before the exit (%.1f s)" % (back_after, st["queued"], took),
                   "rc %s, journal %s, history %s\n%s" % (rc, got, seqs, out[-500:]))
        else:
            tap.ok(rc == 0 and took < 5 and "journald did not take %d alerts" %
                   st["queued"] in out,
                   "SIGTERM, journald stuck: exits in %.1f s (bounded), saying %d alerts are "
                   "lost" % (took, st["queued"]), "rc %s, journal %s\n%s" % (rc, st,
                                                                              out[-500:]))
    finally:
        if stopped:
            os.kill(journald.proc.pid, signal.SIGCONT)
        d.stop()


def test_stderr_priorities(tap):
    d = fdwlib.Daemon(ALWAYS + ["--no-journal"]).start()
    try:
        mine = history(leak_through_emfile(120))
    finally:
        d.stop()
    out = d.output().splitlines()
    want = {"leak": 4, "critical": 2, "exhausted": 1, "recovered": 5}
    bad = []
    for a in mine:
        line = [l for l in out if l.endswith(a["message"])]
        if not line or not line[0].startswith("<%d>" % want[a["type"]]):
            bad.append((a["type"], line[:1]))
    tap.ok(mine and not bad, "stderr alerts carry their own priority (<1> exhausted, <5> "
           "recovered, ...)", "mismatches %s\n%s" % (bad, "\n".join(out[-20:])))


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    journald = fdwlib.Journald().start()
    try:
        tap.check("stalled journal", lambda: test_stalled_journal(tap, journald))
        tap.check("queue bound", lambda: test_queue_bound(tap, journald))
        tap.check("shutdown, journald back", lambda: test_shutdown(tap, journald, 0.5))
        tap.check("shutdown, journald stuck", lambda: test_shutdown(tap, journald, None))
    finally:
        journald.stop()
    tap.check("stderr priorities", lambda: test_stderr_priorities(tap))
    tap.done()


if __name__ == "__main__":
    main()
