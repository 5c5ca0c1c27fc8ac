#!/usr/bin/env python3
"""fdwatch soak (`make bench`, or `make soak`): SOAK_SEC (default 1800) of a
life like a real host's, then the daemon's books are checked.

What runs meanwhile, all real processes and sockets (tests/integration/fdwlib.py:
a private mount namespace, a real journald, the real fdwatchd and BPF probe):
  - churn: processes opening and closing fds fast (benign churn, sawtooth,
    burst, pool), started and ended at random;
  - leaks that start and stop: leakers of every kind at varied rates, some run
    into EMFILE, some stop (exit) before their limit;
  - clients that come and go: short calls (GetStatus, ListProcesses,
    ListAlerts, GetProcess), clients that hang up mid-request or right after
    connecting, subscribers that stay a while and leave;
  - journald stopped now and then (SIGSTOP for a few seconds) with its socket
    queue full, so alerts wait in the daemon's journal queue.
One subscriber stays for the whole run and records every alert it is sent.

Checked at the end (each a PASS/FAIL line; exit status 1 on any FAIL):
  - RSS flat: the median VmRSS of the last tenth of the samples is within
    SOAK_RSS_SLACK_KIB (default 2048) of the median at mid-run (50-60 %). A
    leak grows with time; what the heap keeps after a burst (the host may fork
    thousands of processes meanwhile: fdwatchd watches them all) is a step that
    the first half absorbs. Peak RSS and processes are reported.
  - no fd of the daemon's own leaked: with every client gone and every
    workload ended, it holds the same fds (by kind) as after start-up, but
    for the ELF files attribution keeps open for symbols, a cache of at most
    ELF_CACHE_MAX;
  - every alert accounted for: alerts raised (GetStatus alerts_sent) ==
    the newest seq in the history, which holds the newest HistorySize (256:
    full within the warm-up, so it does not grow RSS later) without a gap; the
    lifelong subscriber got every alert raised while it was subscribed; the
    journal holds exactly the seqs the daemon counts as sent, in order, with
    sent + dropped == raised and none failed. fdwatchd watches the whole host,
    so other programs' alerts count too.
Environment: SOAK_SEC, SOAK_SEED (random seed, default the time),
SOAK_RSS_SLACK_KIB, OUTPUT (build dir).
"""
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import fdwlib  # noqa: E402

SOAK_SEC = float(os.environ.get("SOAK_SEC", "1800"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
RSS_SLACK_KIB = int(os.environ.get("SOAK_RSS_SLACK_KIB", "2048"))
SAMPLE_SEC = 5
CONFIG = """[Detect]
LeakMinSec=5s
CooldownSec=10s
[Alert]
MinInterval=10s
HistorySize=256
"""

rng = random.Random(SEED)
stop = threading.Event()
errors = []


def log(msg):
    print("  %7.1fs  %s" % (time.monotonic() - T0, msg), flush=True)


# Attribution keeps the ELF files it symbolized open (for libdw), at most this many at once
# (SYMBOL_FILES in daemon/attribution.c): a bounded cache, judged apart.
ELF_CACHE_MAX = 16


def fd_kinds(pid):
    """The daemon's fds by what they point at (anon_inode:bpf-map, socket, pipe, /path...);
    files other than /dev/null and its log count as "elf-cache". The syscall probe's
    tracepoints, attached only while it is armed, are a perf event and a BPF link each:
    counted apart as "syscall-links" (not a leak: their number follows arming)."""
    kinds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        k = t if t == "anon_inode:[perf_event]" else t.split(":[")[0] if ":[" in t else t
        if k.startswith("/") and k != "/dev/null" and not k.endswith("/fdwatchd.log"):
            k = "elf-cache"
        kinds[k] = kinds.get(k, 0) + 1
    links = kinds.pop("anon_inode:[perf_event]", 0)
    if links:
        kinds["anon_inode:bpf_link"] = kinds.get("anon_inode:bpf_link", 0) - links
    return kinds, links


def same_fds(a, b):
    """Equal but for the ELF cache, which only has to stay within its bound, and the syscall
    links, which follow arming."""
    return ({k: v for k, v in a[0].items() if k != "elf-cache"} ==
            {k: v for k, v in b[0].items() if k != "elf-cache"} and
            b[0].get("elf-cache", 0) <= ELF_CACHE_MAX)


def rss_kib(pid, field="VmRSS"):
    """A memory line of /proc/PID/status in KiB: VmRSS, RssAnon (heap), RssFile (mapped
    files: the ELF files symbolized, mapped by libdw)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- workloads

class Workloads:
    """Leakers and benign programs, started and ended at random; never more than a few."""

    def __init__(self):
        self.procs = []
        self.started = 0

    def spawn(self):
        if rng.random() < 0.5:
            kind = rng.choice(["file", "pipe", "socket", "eventfd", "epoll", "dup"])
            args = [fdwlib.workload("leak"), "--kind", kind]
            if rng.random() < 0.3:
                args += ["--period", "%.2f" % rng.uniform(0.2, 1.5), "--burst",
                         str(rng.randint(1, 4))]
            else:
                args += ["--rate", "%.1f" % rng.choice([2, 5, 20, 100, 400])]
            args += ["--limit", str(rng.choice([256, 512, 1024, 4096]))]
            if rng.random() < 0.5:
                args += ["--until-emfile", "--hold", "%.1f" % rng.uniform(0.5, 5)]
            args += ["--duration", "%.0f" % rng.uniform(5, 60)]
        else:
            mode = rng.choice(["churn", "plateau", "pool", "sawtooth", "burst"])
            args = [fdwlib.workload("benign"), "--mode", mode, "--duration",
                    "%.0f" % rng.uniform(5, 60)]
            if mode == "churn":
                args += ["--rate", str(rng.choice([200, 2000, 20000]))]
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        self.started += 1

    def step(self):
        self.procs = [p for p in self.procs if p.poll() is None]
        if len(self.procs) < 6 and rng.random() < 0.6:
            self.spawn()
        if self.procs and rng.random() < 0.05:
            p = rng.choice(self.procs)
            p.kill()

    def end(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []


# ---------------------------------------------------------------- clients

class Subscriber(threading.Thread):
    """Subscribe and record the seq of every alert, until told to stop."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seqs = []
        self.client = fdwlib.Client(timeout=1)
        # since 0: the history first, so the alerts of start-up are in it too.
        self.client.call("io.fdwatch.Subscribe", {"since": 0}, more=True)
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                m = self.client.recv_msg()
            except socket.timeout:
                continue
            except Exception as e:  # noqa: BLE001 - any loss of the stream is a finding
                errors.append("the lifelong subscriber lost its stream: %r" % e)
                return
            self.seqs.append(m["parameters"]["alert"]["seq"])

    def close(self):
        self.done.set()
        self.join()
        self.client.close()


def client_round():
    """One client doing one of the things clients do."""
    what = rng.random()
    try:
        if what < 0.5:
            c = fdwlib.Client(timeout=5)
            for _ in range(rng.randint(1, 5)):
                m = rng.choice(["GetStatus", "ListProcesses", "ListAlerts"])
                c.call("io.fdwatch." + m, {})
            procs = c.call("io.fdwatch.ListProcesses", {"limit": 3}).get("processes", [])
            for p in procs:
                try:
                    c.call("io.fdwatch.GetProcess", {"pid": p["pid"]})
                except fdwlib.VarlinkError:
                    pass  # it exited meanwhile
            c.close()
        elif what < 0.7:
            # Hang up halfway through a request, or right after connecting.
            c = fdwlib.Client(timeout=5)
            if rng.random() < 0.5:
                c.send_raw(b'{"method":"io.fdwatch.ListProc')
            c.close()
        elif what < 0.85:
            # A subscriber that leaves after a while (its unread replies are dropped).
            c = fdwlib.Client(timeout=5)
            c.call("io.fdwatch.Subscribe", {}, more=True)
            time.sleep(rng.uniform(0.1, 3))
            c.close()
        else:
            p = subprocess.run([fdwlib.FDWATCHCTL, rng.choice(["status", "top", "alerts",
                                                               "check", "metrics"])],
                               capture_output=True, timeout=10)
            if p.returncode not in (0, 1, 2):
                errors.append("fdwatchctl exited %d: %s" % (p.returncode, p.stderr[:200]))
    except (fdwlib.VarlinkError, OSError, ConnectionError) as e:
        # A refusal at MaxClientsPerUid is the daemon protecting itself, not a failure.
        if "Busy" not in str(e) and "TooMany" not in str(e):
            errors.append("client: %r" % e)


def clients_loop():
    while not stop.is_set():
        client_round()
        time.sleep(rng.uniform(0.05, 0.5))


# ---------------------------------------------------------------- the run

def journal_seqs(jd, pid):
    return [int(e["FDWATCH_SEQ"]) for e in jd.entries(_PID=pid) if "FDWATCH_SEQ" in e]


def fill_journal_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        for _ in range(100000):
            s.sendto(b"MESSAGE=fdwatch soak filler\n", "/run/systemd/journal/socket")
    except BlockingIOError:
        pass
    finally:
        s.close()


def main():
    global T0
    fdwlib.isolate()
    T0 = time.monotonic()
    print("soak: %.0f s, seed %d" % (SOAK_SEC, SEED), flush=True)
    jd = fdwlib.Journald().start()
    d = fdwlib.Daemon(config=CONFIG).start()
    results = []
    work = Workloads()
    sub = None
    try:
        sub = Subscriber()
        sub.start()
        # One alert through to journald first: the journal's socket is opened at the first
        # send, and is the daemon's for good (not a leak).
        warm = subprocess.Popen([fdwlib.workload("leak"), "--kind", "pipe", "--rate", "200",
                                 "--limit", "64", "--until-emfile", "--hold", "3"],
                                stdout=subprocess.DEVNULL)
        fdwlib.wait_for(lambda: fdwlib.call("io.fdwatch.GetStatus")["journal"]["sent"] >= 1, 30,
                        "a first alert in the journal")
        warm.wait(30)
        time.sleep(2)
        fds0 = fd_kinds(d.pid)
        parts0 = (rss_kib(d.pid, "RssAnon"), rss_kib(d.pid, "RssFile"))
        log("daemon pid %d: %d fds after start-up %s, %d syscall links" %
            (d.pid, sum(fds0[0].values()), fds0[0], fds0[1]))
        threads = [threading.Thread(target=clients_loop, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        samples = []
        stalls = 0
        next_stall = time.monotonic() + rng.uniform(30, 120)
        end = T0 + SOAK_SEC
        last_sample = 0
        while time.monotonic() < end and d.proc.poll() is None:
            work.step()
            now = time.monotonic()
            if now >= next_stall:
                stall = rng.uniform(2, 8)
                os.kill(jd.proc.pid, signal.SIGSTOP)
                try:
                    fill_journal_socket()
                    time.sleep(stall)
                finally:
                    os.kill(jd.proc.pid, signal.SIGCONT)
                stalls += 1
                next_stall = time.monotonic() + rng.uniform(30, 120)
            if now - last_sample >= SAMPLE_SEC:
                last_sample = now
                st = fdwlib.call("io.fdwatch.GetStatus")
                samples.append((now - T0, rss_kib(d.pid), sum(fd_kinds(d.pid)[0].values()),
                                st["processes"]))
                jump = len(samples) > 1 and abs(samples[-1][1] - samples[-2][1]) > 512
                if len(samples) % 12 == 1 or jump:
                    log("rss %d KiB%s, %d fds, %d processes, %d alerts, %d clients, journal %s, "
                        "%d workloads so far" % (samples[-1][1], " (jump)" if jump else "",
                                                 samples[-1][2], st["processes"],
                                                 st["alerts_sent"], st["clients"],
                                                 st.get("journal"), work.started))
            time.sleep(rng.uniform(0.2, 1.0))
        alive = d.proc.poll() is None
        results.append((alive, "fdwatchd ran the whole %.0f s" % SOAK_SEC))
        stop.set()
        for t in threads:
            t.join()
        work.end()
        if not alive:
            raise RuntimeError("fdwatchd died:\n" + d.output()[-2000:])

        # Quiet: no workload, only the lifelong subscriber. Other programs on the host may
        # still raise alerts: take the books when two readings a second apart agree.
        for _ in range(30):
            st = fdwlib.call("io.fdwatch.GetStatus")
            time.sleep(1)
            if st == dict(fdwlib.call("io.fdwatch.GetStatus"), uptime_sec=st["uptime_sec"],
                          clients=st["clients"]) and st["journal"]["queued"] == 0:
                break
        raised = st["alerts_sent"]
        jr = st["journal"]
        # The host may raise more meanwhile: the history may run ahead of `raised`.
        hist = [a["seq"] for a in fdwlib.call("io.fdwatch.ListAlerts").get("alerts", [])]
        # The lifelong subscriber's connection is in fds0 too. A client that just hung up
        # (the calls above) may take the daemon a moment to close: a few readings.
        for _ in range(25):
            fds1 = fd_kinds(d.pid)
            if same_fds(fds0, fds1):
                break
            time.sleep(0.2)
        sub.close()
        sub_seqs = [x for x in sub.seqs if x <= raised]
        sub = None
        got = [x for x in fdwlib.wait_for(
            lambda: (lambda v: v if len([x for x in v if x <= raised]) >= jr["sent"] else None)(
                journal_seqs(jd, d.pid)), 20, "the journal to have what was sent") if x <= raised]

        n = len(samples)
        if n >= 10:
            def median(part):
                v = sorted(x[1] for x in part)
                return v[len(v) // 2]
            mid, last = median(samples[n // 2:6 * n // 10 + 1]), median(samples[9 * n // 10:])
            peak = max(samples, key=lambda x: x[1])
            results.append((last - mid <= RSS_SLACK_KIB,
                            "RSS flat: median %d KiB at mid-run, %d KiB at the end (slack %d KiB; "
                            "%d KiB after start-up, peak %d KiB at %.0f s; %d samples; up to %d "
                            "processes tracked; anon %d -> %d KiB, mapped files %d -> %d KiB)" %
                            (mid, last, RSS_SLACK_KIB, samples[0][1], peak[1], peak[0], n,
                             max(x[3] for x in samples), parts0[0],
                             rss_kib(d.pid, "RssAnon"), parts0[1], rss_kib(d.pid, "RssFile"))))
        else:
            results.append((False, "RSS flat: only %d samples (SOAK_SEC too short)" % n))
        results.append((same_fds(fds0, fds1),
                        "no fd of its own leaked: %d fds at start, %d at the end, besides %d "
                        "and %d syscall links (ELF cache %d, at most %d)%s" %
                        (sum(fds0[0].values()), sum(fds1[0].values()), fds0[1], fds1[1],
                         fds1[0].get("elf-cache", 0), ELF_CACHE_MAX,
                         "" if same_fds(fds0, fds1) else " (%s -> %s)" % (fds0[0], fds1[0]))))
        newest = hist[-1] if hist else 0
        results.append((newest >= raised and hist == list(range(newest - len(hist) + 1,
                                                                newest + 1)) and
                        len(hist) == min(newest, 256),
                        "history: the newest %d of %d alerts raised, no gap" % (len(hist), newest)))
        results.append((sub_seqs == list(range(1, raised + 1)),
                        "the lifelong subscriber got every alert raised (%d of %d)%s" %
                        (len(sub_seqs), raised, "" if sub_seqs == list(range(1, raised + 1))
                         else ": missing %s, extra %s" % (
                             sorted(set(range(1, raised + 1)) - set(sub_seqs))[:10],
                             [x for x in sub_seqs if sub_seqs.count(x) > 1][:10]))))
        ok_journal = (got == sorted(set(got)) and len(got) == jr["sent"] and
                      jr["sent"] + jr["dropped"] == raised and jr["failed"] == 0)
        results.append((ok_journal,
                        "journal: %d sent (all in the journal, in order) + %d dropped == %d "
                        "raised, %d failed; %d journald stalls%s" %
                        (jr["sent"], jr["dropped"], raised, jr["failed"], stalls,
                         "" if ok_journal else ": journal has %d, missing %s" % (
                             len(got), sorted(set(range(1, raised + 1)) - set(got))[:10]))))
        results.append((not errors, "no client or stream error (%d)" % len(errors)))
        for e in errors[:10]:
            print("    " + e)
    finally:
        stop.set()
        work.end()
        if sub:
            sub.close()
        d.stop()
        jd.stop()
    for ok, what in results:
        print("%s %s" % ("PASS" if ok else "FAIL", what), flush=True)
    sys.exit(0 if all(ok for ok, _ in results) else 1)


if __name__ == "__main__":
    main()
