#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""fdwatch in a fleet, with the real engines from Debian's packages (TAP):

  - the scrape endpoint as fdwatch-metrics.socket/fdwatch-metrics@.service run it: the
    ExecStart= of the shipped service, as an unprivileged user (nobody, in the group the
    daemon's AdminGroup= names), one instance per connection from
    `systemd-socket-activate --accept --inetd` on a loopback port;
  - it answers GET and HEAD /metrics, 404 for other paths, 405 for other methods, 400 for
    a malformed request, 431 for a head too large, 408 for one too slow;
  - a real Prometheus scraping it returns, through its own query API,
    fdwatch_process_open_fds of a leaking workload with the right value and the labels
    pid, comm, unit; with 1,000 more idle processes the scrape's series count stays flat
    (Prometheus's own scrape_series_added / scrape_samples_scraped);
  - `fdwatchctl metrics --textfile` replaces the file atomically;
  - a real Alertmanager lists the leaker's alert with its labels (pid, comm, unit,
    state, kind) after the shipped config/hooks.d/alertmanager hook ran, and the
    leaker's exit (a recovered alert) resolves it.

The engines run on loopback ports of their own with their own temporary configuration
and storage; the packages' system services are neither used nor touched.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402
from fdwlib import wait_for  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
UNIT = os.path.join(fdwlib.ROOT, "systemd", "fdwatch-metrics@.service")
SOCKET_UNIT = os.path.join(fdwlib.ROOT, "systemd", "fdwatch-metrics.socket")
HOOK = os.path.join(fdwlib.ROOT, "config", "hooks.d", "alertmanager")
IDLE = 1000
# Our leaker's name. fdwatchd watches the whole machine, where other leaks come and go: a
# rule has it judge only processes of this name, so the scrape and Alertmanager hold ours.
COMM = "fleetleak"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unit_value(path, key):
    v = None
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                v = line.strip().split("=", 1)[1]
    return v


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def raw_http(port, data, read_timeout=10, pause=None):
    """Send data (bytes) to the endpoint, return (status code, headers text, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        if data:
            s.sendall(data)
        if pause:
            time.sleep(pause)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    try:
        code = int(lines[0].split()[1])
    except (IndexError, ValueError):
        code = None
    return code, "\n".join(lines[1:]), body.decode(errors="replace")


class Engine:
    """A server process of ours, its output in a log file."""

    def __init__(self, name, args, tmp):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self, tail=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-tail:])

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_endpoint(tmp, port):
    """The shipped unit's ExecStart=, per connection, as an unprivileged user in AdminGroup."""
    exec_start = unit_value(UNIT, "ExecStart").split()
    assert exec_start[0] == "/usr/bin/fdwatchctl", exec_start
    listen = unit_value(SOCKET_UNIT, "ListenStream")
    assert unit_value(SOCKET_UNIT, "Accept") == "yes"
    cmd = [fdwlib.FDWATCHCTL] + exec_start[1:]
    return Engine("endpoint", ["systemd-socket-activate", "--accept", "--inetd",
                               "-l", "127.0.0.1:%d" % port, "-E", "FDWATCH_SOCKET",
                               "setpriv", "--reuid=nobody", "--regid=nogroup",
                               "--clear-groups", "--"] + cmd, tmp), listen


def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
    r = http_get(url)
    if r.get("status") != "success":
        raise RuntimeError(r)
    return r["data"]["result"]


def am_alerts(port, pid=None, active=True):
    q = [("active", "true" if active else "false")]
    if pid is not None:
        q.append(("filter", 'pid="%d"' % pid))
    return http_get("http://127.0.0.1:%d/api/v2/alerts?%s" % (port, urllib.parse.urlencode(q)))


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    for tool in (PROMETHEUS, ALERTMANAGER, shutil.which("systemd-socket-activate")):
        if not tool or not os.access(tool, os.X_OK):
            tap.skip("fleet", "%s not installed (make deps)" % tool)
            tap.done()
    jd = fdwlib.Journald().start()
    tmp = tempfile.mkdtemp(prefix="fdwatch-fleet.")
    os.chmod(tmp, 0o755)
    engines, daemons = [], []
    try:
        run(tap, tmp, engines, daemons)
    finally:
        for e in engines:
            e.stop()
        for d in daemons:
            d.stop()
        jd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def run(tap, tmp, engines, daemons):
    ep_port, prom_port, am_port = free_port(), free_port(), free_port()
    hooks = os.path.join(tmp, "hooks.d")
    os.mkdir(hooks, 0o755)
    shutil.copy(HOOK, os.path.join(hooks, "alertmanager"))
    os.chmod(os.path.join(hooks, "alertmanager"), 0o755)
    os.environ["FDWATCH_ALERTMANAGER_URL"] = "http://127.0.0.1:%d" % am_port
    config = """
[Probe]
TickSec=500ms
RescanSec=2s
[Detect]
LeakMinSec=3
CooldownSec=2
[Alert]
HooksDirectory=%s
[Api]
SocketMode=0666
AdminGroup=nogroup
[Rule ours]
Comm=%s
[Rule others]
Comm=*
Ignore=yes
""" % (hooks, COMM)
    d = fdwlib.Daemon(config=config)
    daemons.append(d)
    d.start()

    # ---- Alertmanager and Prometheus, ours alone
    with open(os.path.join(tmp, "am.yml"), "w") as f:
        f.write("route:\n  receiver: sink\n  group_wait: 1s\n"
                "receivers:\n  - name: sink\n")
    engines.append(Engine("alertmanager", [
        ALERTMANAGER, "--config.file=" + os.path.join(tmp, "am.yml"),
        "--storage.path=" + os.path.join(tmp, "am-data"),
        "--web.listen-address=127.0.0.1:%d" % am_port, "--cluster.listen-address="], tmp))
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: fdwatch\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % ep_port)
    engines.append(Engine("prometheus", [
        PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
        "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
        "--web.listen-address=127.0.0.1:%d" % prom_port], tmp))
    endpoint, listen = start_endpoint(tmp, ep_port)
    engines.append(endpoint)
    tap.diag("shipped socket unit listens on %s; the test on 127.0.0.1:%d" % (listen, ep_port))
    tap.ok(listen.startswith("127.0.0.1:"), "fdwatch-metrics.socket listens on loopback (%s)"
           % listen)

    def ready(port, path):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2).read()
            return True
        except OSError:
            return False
    try:
        wait_for(lambda: ready(am_port, "/-/ready"), 60, "alertmanager ready")
        wait_for(lambda: ready(prom_port, "/-/ready"), 60, "prometheus ready")
    except TimeoutError as e:
        tap.ok(False, "Prometheus and Alertmanager start", "%s\n%s\n%s" % (
            e, engines[0].output(), engines[1].output()))
        return
    tap.ok(True, "Prometheus and Alertmanager start on their own loopback ports")

    check_http(tap, ep_port)
    check_hook_mapping(tap, am_port)

    leak = os.path.join(tmp, COMM)
    shutil.copy(fdwlib.workload("leak"), leak)
    leaker = subprocess.Popen([leak, "--kind", "pipe", "--rate", "10", "--limit", "4096",
                               "--duration", "300"], stdout=subprocess.DEVNULL)
    try:
        check_prometheus(tap, d, prom_port, ep_port, leaker)
        check_textfile(tap, tmp, leaker)
        check_min_use(tap)
        check_alertmanager(tap, d, am_port, leaker)
    finally:
        if leaker.poll() is None:
            leaker.kill()
        leaker.wait()
    check_resolved(tap, d, am_port, leaker)
    check_bounded(tap, prom_port)


def check_http(tap, port):
    code, head, body = raw_http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    tap.ok(code == 200 and "fdwatch_up 1" in body and "text/plain; version=0.0.4" in head
           and "Content-Length: %d" % len(body.encode()) in head,
           "GET /metrics: 200, text/plain version 0.0.4, exact Content-Length, fdwatch_up 1",
           (code, head, body[:300]))
    tap.ok("fdwatch_processes{state=\"ok\"}" in body,
           "the scrape runs unprivileged and still counts every process (AdminGroup)", body[:2000])
    code, head, body = raw_http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    tap.ok(code == 200 and body == "" and "Content-Length: " in head, "HEAD /metrics: 200, no body",
           (code, head, body[:200]))
    code, head, body = raw_http(port, b"GET / HTTP/1.1\r\n\r\n")
    tap.ok(code == 404, "GET /: 404", (code, body))
    code, head, body = raw_http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    tap.ok(code == 405 and "Allow: GET, HEAD" in head, "POST /metrics: 405 with Allow:",
           (code, head))
    code, head, body = raw_http(port, b"hello\r\n\r\n")
    tap.ok(code == 400, "a malformed request line: 400", (code, body))
    code, head, body = raw_http(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000)
    tap.ok(code == 431, "a request head over 8 KiB: 431", (code, body))
    t0 = time.monotonic()
    code, head, body = raw_http(port, b"GET /metrics HTTP/1.1\r\n", read_timeout=15)
    took = time.monotonic() - t0
    tap.ok(code == 408 and took < 10, "a request head never finished: 408 after %.1f s" % took,
           (code, body))


def check_prometheus(tap, d, prom_port, ep_port, leaker):
    q = 'fdwatch_process_open_fds{pid="%d"}' % leaker.pid

    def series():
        r = prom_query(prom_port, q)
        return r if r else None
    try:
        r = wait_for(series, 60, "the leaker's series in Prometheus", interval=0.5)
    except TimeoutError as e:
        tap.ok(False, "Prometheus returns fdwatch_process_open_fds of the leaker", e)
        return
    # Prometheus's value is from its latest scrape (at most 1 s old); the leaker grows 10/s.
    m = r[0]["metric"]
    t, v = r[0]["value"]
    truth = fdwlib.proc_fd_count(leaker.pid)
    age = time.time() - float(t)
    tap.ok(abs(float(v) - truth) <= 10 * (age + 2.5) + 4,
           "Prometheus: fdwatch_process_open_fds of the leaker %s, /proc says %d (sample %.1f s "
           "old)" % (v, truth, age), r)
    tap.ok(m.get("pid") == str(leaker.pid) and m.get("comm") == COMM and m.get("job") == "fdwatch",
           "Prometheus: labels pid, comm=%s" % COMM, m)
    code, head, body = raw_http(ep_port, b"GET /metrics HTTP/1.0\r\n\r\n")
    line = [x for x in body.splitlines()
            if x.startswith('fdwatch_process_open_fds{pid="%d",' % leaker.pid)]
    tap.ok(line and all(',%s="' % k in line[0] for k in ("comm", "unit", "user")),
           "the exposition's process series carry pid, comm, unit (empty here: no unit; "
           "Prometheus drops empty labels), user", line or body[-1500:])
    units = {x.split("{", 1)[0] for x in body.splitlines() if x.startswith("fdwatch_unit_")}
    tap.ok(units == {"fdwatch_unit_processes", "fdwatch_unit_open_fds",
                     "fdwatch_unit_processes_leaking"},
           "the exposition has the per-unit aggregates", units)
    def leaking_in_units():
        agg = prom_query(prom_port, 'fdwatch_unit_processes_leaking{job="fdwatch"}')
        return agg if agg and sum(float(x["value"][1]) for x in agg) >= 1 else None
    try:
        agg = wait_for(leaking_in_units, 30, "the leaker counted in its unit", 0.5)
    except TimeoutError:
        agg = prom_query(prom_port, 'fdwatch_unit_processes_leaking{job="fdwatch"}')
    tap.ok(agg and sum(float(x["value"][1]) for x in agg) == 1,
           "Prometheus: fdwatch_unit_processes_leaking counts the leaker (ours alone)", agg)
    st = prom_query(prom_port, 'fdwatch_process_state{pid="%d"}' % leaker.pid)
    tap.ok(st and float(st[0]["value"][1]) >= 1, "Prometheus: fdwatch_process_state >= growing",
           st)


def check_min_use(tap):
    """A quiet process near its limit: a series only with --min-use (usage, not state)."""
    code = ("import os, resource, time; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); "
            "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(44)]; "
            "print('ready', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()
        key = 'fdwatch_process_open_fds{pid="%d",' % p.pid

        def listed(*args):
            out = subprocess.run([fdwlib.FDWATCHCTL, "metrics"] + list(args),
                                 capture_output=True, text=True).stdout
            return any(x.startswith(key) for x in out.splitlines())
        try:
            wait_for(lambda: listed("--min-use", "50"), 15, "the near-limit process", 0.5)
        except TimeoutError:
            pass
        tap.ok(listed("--min-use", "50") and not listed() and not listed("--min-use", "90"),
               "metrics --min-use 50: a quiet process at 70% of its limit gets series, "
               "without it (or at 90) not")
    finally:
        p.kill()
        p.wait()


def check_textfile(tap, tmp, leaker):
    path = os.path.join(tmp, "textfile", "fdwatch.prom")
    os.makedirs(os.path.dirname(path))
    rc = subprocess.run([fdwlib.FDWATCHCTL, "metrics", "--textfile", path]).returncode
    try:
        with open(path) as f:
            text = f.read()
        mode = os.stat(path).st_mode & 0o777
    except OSError as e:
        text, mode = str(e), 0
    left = [n for n in os.listdir(os.path.dirname(path)) if n != "fdwatch.prom"]
    tap.ok(rc == 0 and 'pid="%d"' % leaker.pid in text and mode == 0o644 and not left,
           "metrics --textfile: the file (0644) has the leaker, no temporary file left",
           (rc, oct(mode), left, text[:200]))
    # Atomic: a reader never sees a partial file while it is rewritten.
    partial = 0
    writer = subprocess.Popen(["sh", "-c", 'for i in $(seq 30); do "$0" metrics --textfile "$1"; '
                               'done', fdwlib.FDWATCHCTL, path])
    while writer.poll() is None:
        with open(path) as f:
            t = f.read()
        # Complete: fdwatch_up first, the last family's header, a final newline.
        if not (t.startswith("# HELP fdwatch_up") and t.endswith("\n")
                and "# TYPE fdwatch_process_state gauge" in t):
            partial += 1
    tap.ok(writer.wait() == 0 and partial == 0,
           "metrics --textfile: 30 rewrites, a reader never saw a partial file", partial)
    code = subprocess.run([fdwlib.FDWATCHCTL, "metrics", "--textfile", "/nonexistent/x.prom"],
                          capture_output=True).returncode
    tap.ok(code == 73, "metrics --textfile into a missing directory: exit 73", code)


def check_alertmanager(tap, d, am_port, leaker):
    def listed():
        a = am_alerts(am_port, leaker.pid)
        return a if a else None
    try:
        a = wait_for(listed, 60, "the leaker's alert in Alertmanager", interval=0.5)
    except TimeoutError as e:
        tap.ok(False, "Alertmanager lists the leaker's alert after the hook ran",
               "%s\n%s" % (e, d.output()[-3000:]))
        return
    labels = a[0]["labels"]
    # No unit here (the test runs in the root cgroup): an empty label, which Alertmanager drops.
    tap.ok(labels.get("alertname") == "FdwatchFdLeak" and labels.get("pid") == str(leaker.pid)
           and labels.get("comm") == COMM and labels.get("unit", "") == ""
           and labels.get("state") in ("leaking", "critical") and labels.get("kind") == "pipe"
           and labels.get("severity") in ("warning", "critical"),
           "Alertmanager: the leaker's alert, labels pid, comm, state, kind, severity", a)
    ann = a[0].get("annotations", {})
    tap.ok(ann.get("summary", "").startswith("%s[%d]" % (COMM, leaker.pid)) and "fds" in ann,
           "Alertmanager: annotations carry fdwatchd's message and numbers", ann)


def run_hook(alert, am_port):
    return subprocess.run([HOOK], input=json.dumps(alert), text=True, capture_output=True,
                          env=dict(os.environ,
                                   FDWATCH_ALERTMANAGER_URL="http://127.0.0.1:%d" % am_port),
                          timeout=30)


def check_hook_mapping(tap, am_port):
    """The shipped hook alone, on alerts of a service in a container, as fdwatchd writes them."""
    pid = 4000000 + os.getpid() % 100000  # no such process: only Alertmanager sees it
    cid = "ab" * 32
    leak = {"seq": 7, "realtime_usec": int(time.time() * 1e6), "type": "leak", "priority": 4,
            "message": "java[%d] leaks socket fds" % pid, "pid": pid, "start_ticks": 5,
            "uid": 0, "comm": "java", "unit": "shop.service", "fds": 900, "limit": 1024,
            "rate": 3.5, "eta_sec": 35.0, "state": "leaking", "pattern": "linear",
            "kind": "socket", "container_runtime": "docker", "container_id": cid,
            "pod_uid": "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", "pod_qos": "burstable"}
    r = run_hook(leak, am_port)
    got = am_alerts(am_port, pid)
    labels = got[0]["labels"] if got else {}
    want = {"pid": str(pid), "comm": "java", "unit": "shop.service", "state": "leaking",
            "kind": "socket", "severity": "warning", "container_runtime": "docker",
            "container_id": cid, "pod_uid": leak["pod_uid"]}
    tap.ok(r.returncode == 0 and len(got) == 1
           and all(labels.get(k) == v for k, v in want.items()),
           "the shipped hook: labels pid, comm, unit, state, kind, severity, container, pod",
           (r.returncode, r.stderr, got))
    crit = dict(leak, seq=8, type="critical", state="critical")
    r = run_hook(crit, am_port)
    got = am_alerts(am_port, pid)
    tap.ok(r.returncode == 0 and [a["labels"]["state"] for a in got] == ["critical"],
           "the shipped hook: leaking -> critical is one active alert, not two", got)
    rec = dict(leak, seq=9, type="recovered", state="ok", kind=None)
    r = run_hook(rec, am_port)
    tap.ok(r.returncode == 0 and am_alerts(am_port, pid) == [],
           "the shipped hook: recovered resolves the process's alerts", am_alerts(am_port, pid))
    r = run_hook(leak, 1)  # nothing listens on port 1
    tap.ok(r.returncode == 1 and "alertmanager hook" in r.stderr,
           "the shipped hook: Alertmanager unreachable -> exit 1 with a message", r.stderr)
    r = subprocess.run([HOOK], input="not json", text=True, capture_output=True, timeout=30)
    tap.ok(r.returncode == 2, "the shipped hook: input that is not an alert -> exit 2",
           r.returncode)


def check_resolved(tap, d, am_port, leaker):
    """The leaker exited: fdwatchd's recovered alert makes the hook resolve it."""
    def resolved():
        return not am_alerts(am_port, leaker.pid)
    try:
        wait_for(resolved, 30, "the alert resolved", interval=0.5)
        ok = True
    except TimeoutError:
        ok = False
    alerts = fdwlib.call("io.fdwatch.ListAlerts", {})["alerts"]
    rec = [a for a in alerts if a["pid"] == leaker.pid and a["type"] == "recovered"]
    tap.ok(ok and rec, "the leaker's exit (recovered alert) resolves it in Alertmanager",
           (am_alerts(am_port, leaker.pid), rec, d.output()[-2000:]))


def check_bounded(tap, prom_port):
    def samples():
        r = prom_query(prom_port, 'scrape_samples_scraped{job="fdwatch"}')
        return float(r[0]["value"][1]) if r else None

    def tracked():
        r = prom_query(prom_port, "fdwatch_processes_tracked")
        return float(r[0]["value"][1]) if r else 0
    time.sleep(3)
    before, n_before = samples(), tracked()
    idle = []
    r, w = os.pipe()
    for _ in range(IDLE):
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # wait, idle, until the pipe closes
            os._exit(0)
        idle.append(pid)
    os.close(r)
    try:
        wait_for(lambda: tracked() >= n_before + IDLE * 0.95, 60,
                 "the idle processes tracked", interval=1)
        time.sleep(3)
        after, n_after = samples(), tracked()
    except TimeoutError:
        after, n_after = samples(), tracked()
    finally:
        os.close(w)
        for pid in idle:
            os.waitpid(pid, 0)
    dur = prom_query(prom_port, 'scrape_duration_seconds{job="fdwatch"}')
    tap.diag("scrape: %s samples with %d processes tracked, %s with %d (took %s s)" %
             (before, n_before, after, n_after, dur[0]["value"][1] if dur else "?"))
    tap.ok(n_after >= n_before + IDLE * 0.95,
           "fdwatchd tracks the %d idle processes (%d -> %d)" % (IDLE, n_before, n_after))
    # Only units may come and go (other workloads on this machine): a few series.
    tap.ok(before is not None and after is not None and after <= before + 12,
           "the scrape stays flat with %d more idle processes: %s -> %s samples"
           % (IDLE, before, after))


if __name__ == "__main__":
    main()
