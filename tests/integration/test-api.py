#!/usr/bin/env python3
"""The API socket and fdwatchctl against a running real fdwatchd.

Every method and every fdwatchctl command, with real leaking workloads: a
leaking process comes first in `top`/ListProcesses with its state and kind,
`watch` receives its alert, `check` exits 2 for a critical process and 0
when all is well, `metrics` parses as Prometheus text (a strict parser
below). Then abuse: malformed JSON, oversized and unterminated requests,
wrong parameter types, unknown methods, deep nesting, invalid UTF-8, a
client sending one byte a second, 100 clients at once, a subscriber that
never reads, clients that hang up mid-reply: each gets an error or is cut off
at its limit, the daemon keeps serving everyone else (a GetStatus after each)
and its RSS stays bounded. Finally a non-root client sees only its own
processes.

Workloads run as a copy of build/workloads/leak named "apileak", so the
filters (--comm apileak) keep other processes on the machine out of the
verdicts this test asserts.
"""
import json
import math
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402
from fdwlib import NOBODY, Client, VarlinkError, as_nobody, as_nobody_child, wait_for  # noqa: E402

MAX_REQUEST = 65536
REQUEST_TIMEOUT = 2
IDLE_TIMEOUT = 4
PER_UID = 16
MAX_CLIENTS = 64

CONFIG = """
[Probe]
TickSec=500ms
RescanSec=2s
[Detect]
LeakMinSec=3
CooldownSec=2
[Alert]
HistorySize=4096
[Api]
SocketMode=0666
MaxRequestBytes=%d
MaxClients=%d
MaxClientsPerUid=%d
RequestTimeoutSec=%ds
IdleTimeoutSec=%ds
MaxOutputBytes=4096
""" % (MAX_REQUEST, MAX_CLIENTS, PER_UID, REQUEST_TIMEOUT, IDLE_TIMEOUT)

STATES = ["ok", "growing", "leaking", "critical", "exhausted"]
SANITIZER_REPORTS = []  # from fdwatchctl runs (a SANITIZE=1 build reports on stderr)


# ---------------------------------------------------------------- helpers

def ctl(*args, env=None, prefix=(), timeout=30):
    """Run fdwatchctl; (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    p = subprocess.run(list(prefix) + [fdwlib.FDWATCHCTL] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=e)
    if "runtime error:" in p.stderr or "Sanitizer" in p.stderr:
        SANITIZER_REPORTS.append("fdwatchctl %s:\n%s" % (" ".join(args), p.stderr))
    return p.returncode, p.stdout, p.stderr


def status():
    return fdwlib.call("io.fdwatch.GetStatus")


def clients_now():
    """Connected clients, or None while the daemon refuses us (the crowd is still leaving)."""
    try:
        return status()["clients"]
    except VarlinkError:
        return None


def alive():
    """The daemon answers a fresh client."""
    try:
        return status()["version"] != ""
    except Exception:
        return False


def raw_exchange(data, shutdown=False, timeout=5.0, chunks=None):
    """Send bytes on a fresh connection; collect replies until the daemon closes or timeout.
    Returns (list of replies as dicts or raw bytes when not JSON, closed?)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(fdwlib.SOCKET)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return read_replies(s, timeout)
    finally:
        s.close()


def read_replies(s, timeout, want=None):
    buf, out, closed = b"", [], False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            try:
                out.append(json.loads(msg))
            except ValueError:
                out.append(msg)
        if want is not None and len(out) >= want:
            break
    return out, closed


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def err_of(replies):
    return [r.get("error") for r in replies if isinstance(r, dict)]


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call_err(method, params):
    """The error name of a call, or None when it succeeded."""
    try:
        fdwlib.call(method, params)
        return None, {}
    except VarlinkError as e:
        return e.error, e.parameters


def risk_key(p):
    eta = p["eta_sec"]
    return (-STATES.index(p["state"]), 0 if eta is not None else 1, eta or 0, -p["fds"], p["pid"])


class Leaker:
    """The leak workload under our own name, so filters and verdicts see only ours."""

    def __init__(self, exe, *args):
        self.p = subprocess.Popen([exe] + list(args), stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.pid = self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stdout.close()


def wait_state(pid, states, timeout):
    def ok():
        try:
            p = fdwlib.call("io.fdwatch.GetProcess", {"pid": pid})["process"]
        except VarlinkError:
            return None
        return p if p["state"] in states else None
    return wait_for(ok, timeout, "pid %d in state %s" % (pid, "/".join(states)), 0.2)


# ---------------------------------------------------------------- Prometheus text format

PROM_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PROM_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
PROM_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prom_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", s):
        raise ValueError("bad value %r" % s)
    return float(s)


def parse_prom(text):
    """Strict parser of the Prometheus text exposition format (0.0.4). Returns
    {family: {"type": t, "help": h, "samples": [(name, labels, value)]}}; raises on
    anything malformed: bad names, label syntax or escapes, values, a TYPE after
    its samples or twice, a family split in two, a sample without TYPE, duplicates."""
    fams, done, current, series = {}, set(), None, set()
    if not text.endswith("\n"):
        raise ValueError("no final newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not PROM_NAME.fullmatch(name):
                    raise ValueError("bad metric name, " + where)
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if name in done:
                    raise ValueError("family continues after another, " + where)
                if parts[1] == "TYPE":
                    if f["type"] is not None or f["samples"]:
                        raise ValueError("TYPE twice or after samples, " + where)
                    if len(parts) != 4 or parts[3] not in PROM_TYPES:
                        raise ValueError("bad TYPE, " + where)
                    f["type"] = parts[3]
                else:
                    if f["help"] is not None:
                        raise ValueError("HELP twice, " + where)
                    h = parts[3] if len(parts) == 4 else ""
                    if "\\" in re.sub(r"\\[\\n]", "", h):
                        raise ValueError("bad escape in HELP, " + where)
                    f["help"] = h
                if current is not None and current != name:
                    done.add(current)
                current = name
            continue
        m = PROM_NAME.match(line)
        if not m:
            raise ValueError("bad sample name, " + where)
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                if line[i] == "}":
                    i += 1
                    break
                lm = PROM_LABEL.match(line, i)
                if not lm or line[lm.end():lm.end() + 2] != '="':
                    raise ValueError("bad label, " + where)
                lname, i, val = lm.group(0), lm.end() + 2, ""
                while True:
                    c = line[i]
                    if c == "\\":
                        esc = line[i + 1]
                        if esc not in '\\"n':
                            raise ValueError("bad escape in label value, " + where)
                        val += {"\\": "\\", '"': '"', "n": "\n"}[esc]
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        val += c
                        i += 1
                if lname in labels:
                    raise ValueError("label twice, " + where)
                labels[lname] = val
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ValueError("expected , or }, " + where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ValueError("no space before value, " + where)
        fields = rest[1:].split(" ")
        if len(fields) not in (1, 2) or (len(fields) == 2 and not re.fullmatch(r"-?[0-9]+", fields[1])):
            raise ValueError("bad value/timestamp, " + where)
        value = parse_prom_value(fields[0])
        fam = name
        if fam not in fams:
            for suffix in ("_total", "_bucket", "_sum", "_count", "_created"):
                if name.endswith(suffix) and name[:-len(suffix)] in fams:
                    fam = name[:-len(suffix)]
        if fam not in fams or fams[fam]["type"] is None:
            raise ValueError("sample without TYPE, " + where)
        if fam in done or (current is not None and current != fam):
            raise ValueError("sample outside its family's block, " + where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise ValueError("duplicate series, " + where)
        series.add(key)
        fams[fam]["samples"].append((name, labels, value))
    return fams


def selftest_prom_parser(tap):
    good = ('# HELP a_b Help with \\\\ and \\n.\n# TYPE a_b gauge\na_b{x="q\\"\\\\\\n",y="2"} 1.5\n'
            'a_b{x="z"} +Inf\n# TYPE c counter\nc_total 3 1700000000000\n')
    bad = ["# TYPE a gauge\na{x=\"\\q\"} 1\n", "a 1\n", "# TYPE a gauge\na{x=\"1\"} one\n",
           "# TYPE a gauge\na 1\na 2\n", "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n",
           "# TYPE a gauge\na{x=1} 1\n", "# TYPE a gauge\na 1", "# TYPE a gauge\na  1\n"]
    ok = True
    try:
        f = parse_prom(good)
        ok = f["a_b"]["samples"][0][1]["x"] == 'q"\\\n' and len(f["c"]["samples"]) == 1
    except ValueError:
        ok = False
    for b in bad:
        try:
            parse_prom(b)
            ok = False
        except (ValueError, IndexError):
            pass
    tap.ok(ok, "the strict Prometheus parser accepts good text and refuses 8 malformed ones")


# ---------------------------------------------------------------- tests

def test_service_interface(tap):
    info = fdwlib.call("org.varlink.service.GetInfo")
    tap.ok(info.get("vendor") and info.get("product") == "fdwatchd" and info.get("version")
           and "url" in info and info.get("interfaces") == ["org.varlink.service", "io.fdwatch"],
           "org.varlink.service.GetInfo: vendor, product, version, url, interfaces", info)
    d = fdwlib.call("org.varlink.service.GetInterfaceDescription", {"interface": "io.fdwatch"})
    desc = d.get("description", "")
    tap.ok("interface io.fdwatch" in desc and all(
        "method %s(" % m in desc for m in
        ("GetStatus", "ListProcesses", "GetProcess", "ListAlerts", "Subscribe")),
        "GetInterfaceDescription(io.fdwatch): the IDL with every method")
    svc = fdwlib.call("org.varlink.service.GetInterfaceDescription",
                      {"interface": "org.varlink.service"})
    tap.ok("interface org.varlink.service" in svc.get("description", ""),
           "GetInterfaceDescription(org.varlink.service)")
    e, p = call_err("org.varlink.service.GetInterfaceDescription", {"interface": "com.example.x"})
    tap.ok(e == "org.varlink.service.InterfaceNotFound" and p.get("interface") == "com.example.x",
           "unknown interface: org.varlink.service.InterfaceNotFound", (e, p))
    gen = shutil.which("varlink-go-interface-generator")
    if not gen:
        tap.skip("the IDL parses with varlink-go's IDL parser", "varlink-go not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "io.fdwatch.varlink")
        with open(path, "w") as f:
            f.write(desc)
        r = subprocess.run([gen, path], capture_output=True, text=True, cwd=tmp)
        tap.ok(r.returncode == 0, "the IDL served parses with varlink-go's IDL parser",
               r.stdout + r.stderr)


def test_status(tap, d):
    st = status()
    want = {"version", "uptime_sec", "probe_mode", "tick_sec", "processes", "ringbuf_dropped",
            "map_full", "alerts_sent", "alerts_suppressed", "reconciliations", "unseen_opens",
            "unseen_closes", "clients", "client_uid", "client_admin"}
    tap.ok(want <= set(st) and st["processes"] > 0 and st["client_admin"] is True
           and st["client_uid"] == 0 and st["tick_sec"] == 0.5 and st["probe_mode"] in
           ("auto", "always", "poll") and st["probe_backend"] in ("tracepoint", "raw"),
           "GetStatus: counters, config in force, who the caller is", st)
    rc, out, err = ctl("status")
    tap.ok(rc == 0 and "fdwatchd" in out and "tracked" in out and "\033" not in out,
           "fdwatchctl status (no colour off a terminal)", out + err)
    rc, out, err = ctl("--json", "status")
    tap.ok(rc == 0 and json.loads(out).get("version") == st["version"], "fdwatchctl --json status",
           out + err)


def test_leaks(tap, d, exe, jd):
    """A leaking and a critical process: ordering, details, alerts, watch, check."""
    # `watch` first, so the alert of the critical leaker reaches it live.
    watch = subprocess.Popen([fdwlib.FDWATCHCTL, "--json", "watch"], stdout=subprocess.PIPE)
    sub = Client()
    sub.call("io.fdwatch.Subscribe", {}, more=True)
    wait_for(lambda: status()["subscribers"] >= 2, 5, "two subscribers")
    seq0 = status()["alerts_sent"]
    slow = Leaker(exe, "--kind", "pipe", "--rate", "6", "--limit", "16000", "--duration", "120")
    fast = Leaker(exe, "--kind", "socket", "--rate", "25", "--limit", "1024", "--duration", "120")
    try:
        ps = wait_state(slow.pid, ["leaking"], 30)
        pf = wait_state(fast.pid, ["critical"], 30)
        lp = fdwlib.call("io.fdwatch.ListProcesses", {"comm": "apileak"})
        procs = lp["processes"]
        tap.ok(len(procs) == 2 and procs[0]["pid"] == fast.pid and procs[0]["state"] == "critical"
               and procs[0]["kind"] == "socket" and procs[1]["pid"] == slow.pid
               and procs[1]["state"] == "leaking" and procs[1]["kind"] == "pipe",
               "ListProcesses: the critical socket leaker first, then the leaking pipe leaker",
               json.dumps(procs, indent=1))
        allp = fdwlib.call("io.fdwatch.ListProcesses")["processes"]
        tap.ok(allp == sorted(allp, key=risk_key) and allp[0]["state"] in
               ("critical", "exhausted"),
               "ListProcesses of all %d processes is in risk order (state, ETA, fds)" % len(allp),
               [(p["pid"], p["state"], p["eta_sec"], p["fds"]) for p in allp[:10]])
        lim = fdwlib.call("io.fdwatch.ListProcesses", {"state": "critical", "limit": 1,
                                                         "comm": "api*"})
        tap.ok(lim["matched"] == 1 and [p["pid"] for p in lim["processes"]] == [fast.pid],
               "ListProcesses filters: state is a minimum, comm a glob, limit cuts", lim)
        mine = fdwlib.call("io.fdwatch.ListProcesses", {"uid": 0, "comm": "apileak"})
        none = fdwlib.call("io.fdwatch.ListProcesses", {"uid": NOBODY, "comm": "apileak"})
        tap.ok(len(mine["processes"]) == 2 and none["processes"] == [] and none["matched"] == 0,
               "ListProcesses uid filter", (mine["matched"], none))

        rc, out, err = ctl("top", "--comm", "apileak")
        rows = [line.split() for line in out.splitlines()[2:]]
        tap.ok(rc == 0 and out.splitlines()[1].split() ==
               ["PID", "USER", "COMM", "UNIT", "FDS", "LIMIT", "USE%", "RATE/s", "ETA", "STATE",
                "KIND"] and rows and rows[0][0] == str(fast.pid) and rows[0][9] == "critical"
               and rows[0][10] == "socket" and rows[1][0] == str(slow.pid)
               and rows[1][9] == "leaking" and rows[1][10] == "pipe",
               "fdwatchctl top: the critical leaker on the first row, STATE and KIND right",
               out + err)
        rc, out, err = ctl("--json", "top", "--state", "leaking", "--comm", "apileak")
        tap.ok(rc == 0 and [p["pid"] for p in json.loads(out)["processes"]] == [fast.pid, slow.pid],
               "fdwatchctl --json top --state leaking", out + err)
        rc, out, err = ctl("top", "--watch", "--iterations", "2", "-d", "0.2", "-n", "3")
        tap.ok(rc == 0 and out.count("PID USER") + out.count("    PID") >= 2,
               "fdwatchctl top --watch refreshes (2 iterations)", out + err)

        gp = fdwlib.call("io.fdwatch.GetProcess", {"pid": fast.pid})["process"]
        tap.ok(gp["pid"] == fast.pid and gp["comm"] == "apileak" and gp["limit"] == 1024
               and gp["created"]["socket"] > 0 and gp["rate"] > 5 and gp["eta_sec"] is not None
               and len(gp["history"]) >= 3 and "apileak" in gp["cmdline"]
               and gp["history"][-1]["fds"] >= gp["history"][0]["fds"]
               and gp["first_seen_usec"] > 1.6e15,
               "GetProcess: counts by kind, rate, ETA, limits, cmdline, history",
               json.dumps({k: v for k, v in gp.items() if k != "history"}))
        rc, out, err = ctl("show", str(fast.pid))
        tap.ok(rc == 0 and "apileak[%d]" % fast.pid in out and "critical" in out
               and "socket" in out and "History:" in out, "fdwatchctl show PID", out + err)
        rc, out, err = ctl("--json", "show", str(slow.pid))
        tap.ok(rc == 0 and json.loads(out)["state"] == "leaking", "fdwatchctl --json show",
               out + err)
        # On a terminal: colour and the sparkline; NO_COLOR turns colour off.
        out = run_on_pty([fdwlib.FDWATCHCTL, "show", str(fast.pid)])
        tap.ok("\033[" in out and any(c in out for c in "▁▂▃▄▅▆▇█"),
               "show on a terminal: colour and a ▁▂▃▄▅▆▇█ sparkline", out)
        out = run_on_pty([fdwlib.FDWATCHCTL, "top", "-n", "3"], {"NO_COLOR": "1"})
        tap.ok("\033[" not in out and "PID" in out, "NO_COLOR=1 on a terminal: no colour", out)

        # Alerts: history, since, the live stream, fdwatchctl alerts/watch.
        def our_alert():
            al = fdwlib.call("io.fdwatch.ListAlerts", {"since": seq0})["alerts"]
            return [a for a in al if a["pid"] == fast.pid] and al
        al = wait_for(our_alert, 20, "an alert about the critical leaker")
        a = [x for x in al if x["pid"] == fast.pid][0]
        tap.ok(a["seq"] > seq0 and a["comm"] == "apileak" and a["type"] in
               ("leak", "critical") and a["message"] and a["kind"] == "socket"
               and len(a["message_id"]) == 32, "ListAlerts(since): the alert, with its fields", a)
        later = fdwlib.call("io.fdwatch.ListAlerts", {"since": a["seq"]})["alerts"]
        tap.ok(all(x["seq"] > a["seq"] for x in later), "ListAlerts since filters by seq")
        last1 = fdwlib.call("io.fdwatch.ListAlerts", {"limit": 1})["alerts"]
        tap.ok(len(last1) == 1 and last1[0]["seq"] >= a["seq"], "ListAlerts limit: the latest",
               last1)
        rc, out, err = ctl("alerts", "--since", str(a["seq"] - 1))
        tap.ok(rc == 0 and "apileak[%d]" % fast.pid in out.splitlines()[0]
               and "#%d" % a["seq"] in out, "fdwatchctl alerts --since SEQ", out + err)
        rc, out, err = ctl("--json", "alerts", "-n", "2")
        tap.ok(rc == 0 and len(json.loads(out)["alerts"]) <= 2, "fdwatchctl --json alerts -n 2")

        got, buf = None, b""
        deadline = time.monotonic() + 10
        fd = watch.stdout.fileno()
        while time.monotonic() < deadline and got is None:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if json.loads(line)["pid"] == fast.pid:
                    got = json.loads(line)
        tap.ok(got is not None and got["seq"] == a["seq"],
               "fdwatchctl watch received the alert live", got)
        msgs = []
        while True:
            m = sub.recv_msg()
            msgs.append(m)
            if m["parameters"]["alert"]["pid"] == fast.pid:
                break
        tap.ok(all(m.get("continues") is True for m in msgs)
               and msgs[-1]["parameters"]["alert"]["seq"] == a["seq"],
               "Subscribe(more): replies with continues=true, the alert inside", msgs[-1])
        rc, out, err = ctl("--json", "watch", "--since", str(a["seq"] - 1), "-n", "1")
        tap.ok(rc == 0 and json.loads(out)["seq"] == a["seq"],
               "fdwatchctl watch --since replays history, -n stops", out + err)
        if jd:
            check_journal_fields(tap, jd, a)

        rc, out, err = ctl("check", "--comm", "apileak")
        first = out.splitlines()[0] if out else ""
        tap.ok(rc == 2 and first.startswith("FDWATCH CRITICAL - apileak[%d]" % fast.pid)
               and " | procs=" in first and "critical=1" in first and "leaking=1" in first,
               "fdwatchctl check: exit 2, CRITICAL line with perfdata", (rc, out, err))
        rc, out, err = ctl("--json", "check", "--comm", "apileak")
        tap.ok(rc == 2 and json.loads(out)["status"] == "CRITICAL", "fdwatchctl --json check")
        fast.stop()
        rc, out, err = wait_for(lambda: (lambda r: r if r[0] == 1 else None)(
            ctl("check", "--comm", "apileak")), 20, "check WARNING after the critical one exits")
        tap.ok(out.startswith("FDWATCH WARNING - apileak[%d]" % slow.pid),
               "fdwatchctl check: exit 1 WARNING with only a leaking process", out)

        test_metrics(tap, slow, ps)
    finally:
        fast.stop()
        slow.stop()
        sub.close()
        watch.kill()
        watch.wait()
    rc, out, err = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(
        ctl("check", "--comm", "apileak")), 30, "check OK once the leakers are gone")
    tap.ok(out.startswith("FDWATCH OK - ") and " | procs=" in out,
           "fdwatchctl check: exit 0 OK when all is well", out)
    rc, out, err = ctl("check")
    tap.ok(rc in (0, 1, 2) and re.match(r"FDWATCH (OK|WARNING|CRITICAL) - .* \| procs=\d+", out),
           "fdwatchctl check of the whole machine: a valid plugin line", out)


def check_journal_fields(tap, jd, a):
    """The alert's journald FDWATCH_* fields have their JSON twins (lowercased, no prefix)."""
    def entry():
        for e in jd.entries(OBJECT_PID=a["pid"]):
            if any(k.startswith("FDWATCH_") for k in e):
                return e
        return None
    try:
        e = wait_for(entry, 5, "the alert in the journal")
    except TimeoutError:
        tap.ok(False, "the alert reached journald")
        return
    keys = {k[len("FDWATCH_"):].lower() for k in e if k.startswith("FDWATCH_")}
    missing = sorted(k for k in keys if k not in a)
    tap.ok(not missing, "every journald FDWATCH_* field of the alert is in the API's alert",
           missing)


def test_metrics(tap, slow, ps):
    # A process whose name needs escaping in a label value.
    weird = subprocess.Popen([sys.executable, "-c",
                              "import ctypes,time; ctypes.CDLL(None).prctl(15, b'we\"ird\\\\x', 0, 0, 0);"
                              "print('ready', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        weird.stdout.readline()
        wait_for(lambda: fdwlib.call("io.fdwatch.ListProcesses", {"comm": "we*"})["matched"], 10,
                 "the oddly named process")
        rc, out, err = ctl("metrics", "--state", "ok")
        try:
            fams = parse_prom(out)
            perr = None
        except (ValueError, IndexError) as e:
            fams, perr = {}, str(e)
        tap.ok(rc == 0 and perr is None, "fdwatchctl metrics parses as Prometheus text",
               perr or err)
        need = ["fdwatch_up", "fdwatch_process_open_fds", "fdwatch_process_fd_limit",
                "fdwatch_process_fd_rate_per_second", "fdwatch_process_eta_seconds", "fdwatch_process_state",
                "fdwatch_alerts_sent_total", "fdwatch_ringbuf_dropped_total", "fdwatch_processes"]
        tap.ok(all(n in fams and fams[n]["help"] for n in need),
               "metrics: per-process gauges and daemon counters, each with HELP and TYPE",
               [n for n in need if n not in fams])
        ours = [s for s in fams.get("fdwatch_process_open_fds", {"samples": []})["samples"]
                if s[1].get("pid") == str(slow.pid)]
        truth = fdwlib.proc_fd_count(slow.pid)
        tap.ok(len(ours) == 1 and ours[0][1]["comm"] == "apileak"
               and abs(ours[0][2] - truth) <= 30,
               "metrics: the leaker's open fds (%d in /proc)" % truth, ours)
        st = [s for s in fams.get("fdwatch_process_state", {"samples": []})["samples"]
              if s[1].get("pid") == str(slow.pid)]
        tap.ok(st and st[0][2] == STATES.index("leaking"), "metrics: state gauge 2 = leaking", st)
        w = [s for s in fams.get("fdwatch_process_open_fds", {"samples": []})["samples"]
             if s[1].get("pid") == str(weird.pid)]
        tap.ok(w and w[0][1]["comm"] == 'we"ird\\x',
               'metrics: label values escaped (comm we"ird\\x round-trips)', w)
        counters = [f for f, v in fams.items() if v["type"] == "counter"]
        tap.ok(counters and all(f.endswith("_total") for f in counters),
               "metrics: counters end in _total", counters)
        rc, out, err = ctl("metrics")
        fams = parse_prom(out)
        states = {s[2] for s in fams["fdwatch_process_state"]["samples"]}
        counts = {s[1]["state"]: s[2] for s in fams["fdwatch_processes"]["samples"]}
        tap.ok(rc == 0 and states and min(states) >= 1 and counts["ok"] > 0,
               "metrics by default: series only for processes at risk, counts for all", counts)
        rc, out, err = ctl("--json", "metrics")
        tap.ok(rc == 0 and "processes" in json.loads(out), "fdwatchctl --json metrics")
    finally:
        weird.kill()
        weird.wait()


def run_on_pty(argv, env=None):
    """Output of argv run on a pseudo-terminal (80x24)."""
    e = dict(os.environ, TERM="xterm")
    e.pop("NO_COLOR", None)
    e.update(env or {})
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, e)
        finally:
            os._exit(127)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace")


def test_bad_input(tap, d):
    rss0 = vmrss_kib(d.pid)

    # Malformed JSON: an error, and the same connection keeps working.
    c = Client()
    c.send_raw(b"{not json\0")
    r1 = c.recv_msg()
    c.send_raw(b'{"method":"io.fdwatch.GetStatus"}\0')
    r2 = c.recv_msg()
    c.close()
    tap.ok(r1.get("error") == "io.fdwatch.ProtocolError" and "version" in r2["parameters"],
           "malformed JSON: ProtocolError, the connection stays usable", (r1, r2))

    cases = [
        ("a JSON array", b"[1,2,3]\0", "io.fdwatch.ProtocolError"),
        ("no method", b'{"parameters":{}}\0', "io.fdwatch.ProtocolError"),
        ("deep nesting", b'{"method":"io.fdwatch.GetStatus","parameters":{"a":' + b"[" * 5000 +
         b"]" * 5000 + b"}}\0", "io.fdwatch.ProtocolError"),
        ("invalid UTF-8", b'{"method":"io.fdwatch.GetProcess","parameters":{"pid":1,"x":"\xff\xfe"}}\0',
         "io.fdwatch.ProtocolError"),
        ("a lone surrogate escape", b'{"method":"io.fdwatch.GetStatus","parameters":{"x":"\\udc00"}}\0',
         "io.fdwatch.ProtocolError"),
        ("an empty message", b"\0", "io.fdwatch.ProtocolError"),
        ("unknown method", b'{"method":"io.fdwatch.Explode"}\0',
         "org.varlink.service.MethodNotFound"),
        ("unknown interface", b'{"method":"com.example.Foo"}\0',
         "org.varlink.service.MethodNotFound"),
        ("Subscribe without more", b'{"method":"io.fdwatch.Subscribe"}\0',
         "org.varlink.service.ExpectedMore"),
        ("parameters not an object", b'{"method":"io.fdwatch.GetStatus","parameters":[1]}\0',
         "org.varlink.service.InvalidParameter"),
        ("more not a boolean", b'{"method":"io.fdwatch.GetStatus","more":"yes"}\0',
         "org.varlink.service.InvalidParameter"),
    ]
    for name, data, want in cases:
        rep, closed = raw_exchange(data, timeout=3, shutdown=True)
        tap.ok(err_of(rep)[:1] == [want] and alive(),
               "%s: %s, daemon still serving" % (name, want), rep)

    for method, params, bad in [
            ("io.fdwatch.GetProcess", {"pid": "1"}, "pid"),
            ("io.fdwatch.GetProcess", {"pid": -5}, "pid"),
            ("io.fdwatch.GetProcess", {"pid": 1.5}, "pid"),
            ("io.fdwatch.GetProcess", {}, "pid"),
            ("io.fdwatch.GetProcess", {"pid": 1, "extra": True}, "extra"),
            ("io.fdwatch.ListProcesses", {"limit": -1}, "limit"),
            ("io.fdwatch.ListProcesses", {"state": "sad"}, "state"),
            ("io.fdwatch.ListProcesses", {"state": 3}, "state"),
            ("io.fdwatch.ListProcesses", {"uid": "root"}, "uid"),
            ("io.fdwatch.ListProcesses", {"comm": ["x"]}, "comm"),
            ("io.fdwatch.ListAlerts", {"since": "x"}, "since"),
            ("io.fdwatch.GetStatus", {"verbose": True}, "verbose")]:
        e, p = call_err(method, params)
        tap.ok(e == "io.fdwatch.InvalidParameter" and p.get("parameter") == bad,
               "%s(%s): InvalidParameter %s" % (method.split(".")[-1], json.dumps(params), bad),
               (e, p))
    e, p = call_err("org.varlink.service.GetInterfaceDescription", {"interface": 5})
    tap.ok(e == "org.varlink.service.InvalidParameter" and p.get("parameter") == "interface",
           "GetInterfaceDescription(interface: 5): org.varlink.service.InvalidParameter", (e, p))
    e, p = call_err("io.fdwatch.GetProcess", {"pid": 2 ** 31 - 2})
    tap.ok(e == "io.fdwatch.NoSuchProcess" and p.get("pid") == 2 ** 31 - 2,
           "GetProcess of a PID that does not exist: NoSuchProcess", (e, p))

    # Over the size limit: an error, then the connection is closed.
    rep, closed = raw_exchange(b'{"method":"io.fdwatch.GetStatus","parameters":{"x":"' +
                               b"a" * (MAX_REQUEST + 100) + b'"}}\0', timeout=5)
    tap.ok(err_of(rep) == ["io.fdwatch.RequestTooLarge"] and rep[0]["parameters"]["max_bytes"]
           == MAX_REQUEST and closed and alive(),
           "request over %d bytes: RequestTooLarge, disconnected" % MAX_REQUEST, rep)
    rep, closed = raw_exchange(b"x" * (MAX_REQUEST * 3), timeout=5)
    tap.ok(err_of(rep) == ["io.fdwatch.RequestTooLarge"] and closed and alive(),
           "endless bytes without a NUL: RequestTooLarge at the limit, disconnected", rep)
    # Exactly at the limit is fine.
    pad = MAX_REQUEST - len(b'{"method":"io.fdwatch.GetStatus","oneway":false,"x":""}')
    rep, closed = raw_exchange(b'{"method":"io.fdwatch.GetStatus","oneway":false,"x":"' +
                               b" " * pad + b'"}\0', timeout=5, shutdown=True)
    tap.ok(rep and isinstance(rep[0], dict) and "version" in rep[0].get("parameters", {}),
           "a request of exactly MaxRequestBytes is served", rep[:1])

    # No terminator: half-close gives an error; silence is cut at the request timeout.
    rep, closed = raw_exchange(b'{"method":"io.fdwatch.GetStatus"}', shutdown=True, timeout=5)
    tap.ok(err_of(rep) == ["io.fdwatch.ProtocolError"] and closed,
           "no NUL terminator, then EOF: ProtocolError, closed", rep)
    t0 = time.monotonic()
    rep, closed = raw_exchange(b'{"method":"io.fdwatch.GetStatus"}', timeout=REQUEST_TIMEOUT + 5)
    dt = time.monotonic() - t0
    tap.ok(err_of(rep) == ["io.fdwatch.Timeout"] and closed and
           REQUEST_TIMEOUT - 0.2 <= dt <= REQUEST_TIMEOUT + 3,
           "no NUL terminator: cut off after RequestTimeoutSec (%.1fs)" % dt, rep)

    # Slowloris: one byte a second is cut off at the request timeout while others are served.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(fdwlib.SOCKET)
    t0, sent, served, cut = time.monotonic(), 0, 0, False
    req = b'{"method":"io.fdwatch.GetStatus"}\0'
    while time.monotonic() - t0 < REQUEST_TIMEOUT + 4:
        try:
            s.send(req[sent:sent + 1], socket.MSG_NOSIGNAL)
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            cut = True
            break
        served += alive()
        time.sleep(1)
    dt = time.monotonic() - t0
    s.close()
    tap.ok(cut and sent <= REQUEST_TIMEOUT + 2 and served >= 2,
           "one byte a second: cut off after %d bytes (%.1fs), others served meanwhile"
           % (sent, dt))

    # Idle: a silent client is told and closed after IdleTimeoutSec.
    t0 = time.monotonic()
    rep, closed = raw_exchange(b"", timeout=IDLE_TIMEOUT + 5)
    dt = time.monotonic() - t0
    tap.ok(err_of(rep) == ["io.fdwatch.Timeout"] and closed and
           IDLE_TIMEOUT - 0.2 <= dt <= IDLE_TIMEOUT + 3,
           "idle client closed after IdleTimeoutSec (%.1fs)" % dt, rep)

    # Pipelined calls in one write: replies in order; a oneway call gets none.
    rep, closed = raw_exchange(
        b'{"method":"org.varlink.service.GetInfo"}\0'
        b'{"method":"io.fdwatch.GetStatus","oneway":true}\0'
        b'{"method":"io.fdwatch.GetProcess","parameters":{"pid":2147483646}}\0'
        b'{"method":"io.fdwatch.ListAlerts","parameters":{"limit":1}}\0', shutdown=True)
    tap.ok(len(rep) == 3 and "interfaces" in rep[0]["parameters"]
           and rep[1].get("error") == "io.fdwatch.NoSuchProcess" and "alerts" in rep[2]["parameters"]
           and closed, "pipelined calls answered in order; oneway gets no reply", rep)

    rss = [("requests", vmrss_kib(d.pid))]
    test_many_clients(tap)
    rss.append(("many clients", vmrss_kib(d.pid)))
    test_hangups(tap, d)
    rss.append(("hang-ups", vmrss_kib(d.pid)))
    test_slow_subscriber(tap, d)
    rss.append(("slow subscriber", vmrss_kib(d.pid)))

    # Bounded memory: the abuse again, three rounds; a leak or an unbounded buffer would grow
    # RSS every round. malloc keeps what it got, so the first round may raise RSS once
    # (measured: 5 -> 16-19 MiB over the whole test, then flat within 0.3 MiB a round).
    rounds = [vmrss_kib(d.pid)]
    for _ in range(3):
        abuse_round()
        rounds.append(vmrss_kib(d.pid))
    tap.diag("fdwatchd VmRSS KiB: %d before the bad clients, then after each phase: %s; "
             "after 3 more rounds of abuse: %s" % (rss0, ", ".join("%s %d" % x for x in rss),
                                                    rounds))
    if under_asan(d.pid):
        # ASan holds freed memory in a quarantine (256 MiB by default): only leaks count,
        # and LeakSanitizer reports them when fdwatchd exits (exit status checked below).
        tap.ok(alive() and rounds[-1] < 512 * 1024, "RSS bounded (ASan build): %d KiB"
               % rounds[-1])
    else:
        growth = rounds[-1] - rounds[1]
        tap.ok(alive() and growth < 2048 and rounds[-1] < 64 * 1024,
               "RSS bounded: +%d KiB over the last 2 rounds of abuse, %d KiB in all"
               % (growth, rounds[-1]))


def abuse_round():
    """Bad requests, oversized ones, a crowd, and hang-ups, without reporting: for RSS."""
    for data in (b"{not json\0", b"[" * 20000 + b"\0", b'{"method":"io.fdwatch.GetProcess",'
                 b'"parameters":{"pid":"x"}}\0', b'{"method":"x.y.Z"}\0',
                 b"a" * (MAX_REQUEST + 10), b'{"method":"io.fdwatch.ListProcesses"}\0' * 50):
        raw_exchange(data, shutdown=True, timeout=2)
    socks = []
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(fdwlib.SOCKET)
        socks.append(s)
    for s in socks:
        try:
            s.sendall(b'{"method":"io.fdwatch.ListProcesses"}\0')
        except OSError:
            pass
        s.close()
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(fdwlib.SOCKET)
        try:
            s.sendall(b'{"method":"io.fdwatch.ListProcesses"}\0' * 3)
        except OSError:
            pass  # refused at MaxClientsPerUid while earlier hang-ups are still reaped
        s.close()
    wait_for(lambda: clients_now() == 1, 10, "the clients gone")


def test_many_clients(tap):
    """100 connections at once from one uid: MaxClientsPerUid served, the rest refused."""
    socks = []
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(fdwlib.SOCKET)
        socks.append(s)
    time.sleep(0.5)
    served = refused = other = 0
    for s in socks:
        try:
            s.sendall(b'{"method":"io.fdwatch.GetStatus"}\0')
        except (BrokenPipeError, ConnectionResetError):
            pass
    for s in socks:
        rep, _ = read_replies(s, 3, want=1)
        e = err_of(rep)
        if e == [None]:
            served += 1
        elif e == ["io.fdwatch.TooManyClients"]:
            refused += 1
        else:
            other += 1
    for s in socks:
        s.close()
    tap.ok(served == PER_UID and refused == 100 - PER_UID and other == 0,
           "100 clients of one uid: %d served, %d refused with TooManyClients" % (served, refused),
           (served, refused, other))
    wait_for(lambda: clients_now() == 1, 10, "the clients gone")
    # Total limit: 5 users x 16 connections = 80 > MaxClients=64.
    r, w = os.pipe()
    kids = []
    for uid in range(60001, 60006):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                mine = []
                for _ in range(PER_UID):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(fdwlib.SOCKET)
                    mine.append(s)
                time.sleep(1.0)
                ok = bad = 0
                for s in mine:
                    try:
                        s.sendall(b'{"method":"io.fdwatch.GetStatus"}\0')
                    except OSError:
                        pass
                    rep, _ = read_replies(s, 3, want=1)
                    if err_of(rep) == [None]:
                        ok += 1
                    elif err_of(rep) == ["io.fdwatch.TooManyClients"]:
                        bad += 1
                os.write(w, ("%d %d\n" % (ok, bad)).encode())
                time.sleep(0.5)
            except Exception as e:
                os.write(w, ("err %r\n" % e).encode())
                code = 1
            os._exit(code)
        kids.append(pid)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    for pid in kids:
        os.waitpid(pid, 0)
    results = [line.split() for line in data.decode().splitlines()]
    ok = sum(int(x[0]) for x in results if x[0] != "err")
    bad = sum(int(x[1]) for x in results if x[0] != "err")
    tap.ok(ok == MAX_CLIENTS and bad == 5 * PER_UID - MAX_CLIENTS,
           "80 clients of 5 users: MaxClients=%d served, %d refused" % (ok, bad), data.decode())
    wait_for(lambda: clients_now() == 1, 10, "the clients gone")
    tap.ok(True, "after the crowd left only our own status client is connected")


def test_hangups(tap, d):
    """Clients that hang up mid-request and mid-reply: each connection is closed as soon as
    the peer is gone (not when a timeout would cut it), no fd of the daemon's stays behind,
    and a client connected throughout is answered all along."""
    wait_for(lambda: clients_now() == 1, 10, "no other clients")
    watcher = Client()
    wait_for(lambda: clients_now() == 2, 5, "the watcher connected")
    version = status()["version"]
    time.sleep(0.3)  # the daemon has closed the status call's connection
    fds0 = fdwlib.proc_fd_count(d.pid)
    big = b'{"method":"io.fdwatch.ListProcesses"}\0'
    answered = 0
    for i in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(fdwlib.SOCKET)
        s.sendall(big * 3)
        if i % 2:
            s.recv(100)  # a little of the reply, then gone
        s.close()
        if i % 20 == 0:
            answered += watcher.call("io.fdwatch.GetStatus")["version"] == version
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(fdwlib.SOCKET)
    s.sendall(b'{"method":"io.fdwatch.GetSta')
    s.close()
    t0 = time.monotonic()
    tap.ok(answered == 10, "a client connected throughout is answered during 200 hang-ups",
           answered)
    # Well inside RequestTimeoutSec (the shorter limit): the hang-up itself closes them.
    try:
        wait_for(lambda: clients_now() == 2, REQUEST_TIMEOUT * 0.75, "hung-up clients closed")
        gone = time.monotonic() - t0
    except TimeoutError:
        gone = None
    tap.ok(gone is not None, "every hung-up connection is closed at once (%s s), the watcher "
           "stays" % ("%.2f" % gone if gone is not None else "not within %.1f" %
                      (REQUEST_TIMEOUT * 0.75)), clients_now())
    try:
        wait_for(lambda: fdwlib.proc_fd_count(d.pid) <= fds0, 2, "the daemon's fds back")
    except TimeoutError:
        pass
    after = fdwlib.proc_fd_count(d.pid)
    tap.ok(after == fds0, "no fd of the daemon's stays behind: %d before, %d after"
           % (fds0, after))
    watcher.close()
    wait_for(lambda: clients_now() == 1, 5, "the watcher gone")


def test_slow_subscriber(tap, d):
    """A subscriber that never reads is dropped once its queue is full; nobody waits for it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect(fdwlib.SOCKET)
    s.sendall(b'{"method":"io.fdwatch.Subscribe","more":true}\0')
    wait_for(lambda: status()["subscribers"] >= 1, 5, "the subscriber")
    sent0 = status()["alerts_sent"]
    # Alerts in bulk: short-lived processes that run into EMFILE at once.
    leak = fdwlib.workload("leak")
    worst, dropped, kids = 0.0, False, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not dropped:
        for _ in range(20):
            kids.append(subprocess.Popen([leak, "--kind", "pipe", "--rate", "5000", "--limit",
                                          "24", "--until-emfile", "--hold", "0.2"],
                                         stdout=subprocess.DEVNULL))
        t0 = time.monotonic()
        st = status()
        worst = max(worst, time.monotonic() - t0)
        dropped = st["subscribers"] == 0
        for k in kids:
            if k.poll() is not None:
                k.wait()
        kids = [k for k in kids if k.returncode is None]
        time.sleep(0.2)
    for k in kids:
        k.wait()
    n = status()["alerts_sent"] - sent0
    rep, closed = read_replies(s, 2)
    s.close()
    tap.ok(dropped and alive(),
           "a subscriber that never reads is dropped at MaxOutputBytes (after %d alerts)" % n)
    tap.ok(worst < 1.0, "GetStatus answered within %.3fs throughout (never blocked)" % worst)


def test_nonroot(tap, d, exe):
    """nobody sees its own processes only."""
    mine = subprocess.Popen(as_nobody() + [exe, "--kind", "file", "--rate", "1", "--duration",
                                            "60"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: fdwlib.call("io.fdwatch.ListProcesses", {"uid": NOBODY,
                                                                    "comm": "apileak"})["matched"],
                 10, "nobody's process in the table")
        root_pid = os.getpid()

        def query_as_nobody():
            res = {"status": fdwlib.call("io.fdwatch.GetStatus"),
                   "list": fdwlib.call("io.fdwatch.ListProcesses"),
                   "alerts": fdwlib.call("io.fdwatch.ListAlerts")}
            # PID 1 and this test (root; fdwatchd does not track itself).
            for target in (1, os.getppid()):
                try:
                    fdwlib.call("io.fdwatch.GetProcess", {"pid": target})
                    res["get%d" % target] = "allowed"
                except VarlinkError as e:
                    res["get%d" % target] = e.error
            res["own"] = fdwlib.call("io.fdwatch.GetProcess", {"pid": mine.pid})["process"]["uid"]
            return res
        res = as_nobody_child(query_as_nobody)
        if "exception" in res:
            tap.ok(False, "nobody can use the API", res["exception"])
            return
        st, procs = res["status"], res["list"]["processes"]
        tap.ok(st["client_uid"] == NOBODY and st["client_admin"] is False
               and st["visible"] == len(procs) and st["visible"] < st["processes"],
               "nobody: GetStatus says uid %d, not admin, %d of %d visible"
               % (NOBODY, st["visible"], st["processes"]))
        tap.ok(procs and all(p["uid"] == NOBODY for p in procs)
               and mine.pid in [p["pid"] for p in procs],
               "nobody: ListProcesses lists only nobody's processes, its own included")
        tap.ok(all(a["uid"] == NOBODY for a in res["alerts"]["alerts"]),
               "nobody: ListAlerts only about nobody's processes")
        tap.ok(res["get1"] in ("io.fdwatch.PermissionDenied", "io.fdwatch.NoSuchProcess")
               and res["get%d" % root_pid] == "io.fdwatch.PermissionDenied"
               and res["own"] == NOBODY,
               "nobody: GetProcess of a root process -> PermissionDenied; its own works", res)
        rc, out, err = ctl("show", str(root_pid), prefix=as_nobody())
        tap.ok(rc == 77 and "permission denied" in err,
               "fdwatchctl show of another user's process as nobody: exit 77", (rc, err))
        rc, out, err = ctl("--json", "top", prefix=as_nobody())
        tap.ok(rc == 0 and all(p["uid"] == NOBODY for p in json.loads(out)["processes"]),
               "fdwatchctl top as nobody: only nobody's processes")
    finally:
        mine.kill()
        mine.wait()


def test_second_daemon(tap):
    """A second fdwatchd on a socket in use refuses to start; socket activation works."""
    conf = os.path.join(tempfile.mkdtemp(prefix="fdwatch-api2."), "fdwatch.conf")
    with open(conf, "w") as f:
        f.write(CONFIG)
    p = subprocess.run([fdwlib.FDWATCHD, "--config", conf, "--no-journal"], capture_output=True,
                       text=True, timeout=60)
    tap.ok(p.returncode != 0 and "Another fdwatchd is listening on %s" % fdwlib.SOCKET
           in p.stderr and alive(),
           "a second fdwatchd on the same socket fails clearly; the first keeps serving",
           (p.returncode, p.stderr))
    sa = shutil.which("systemd-socket-activate")
    if not sa:
        tap.skip("socket activation: the daemon serves the socket it is given",
                 "no systemd-socket-activate")
        return
    path = "/run/fdwatch/activated.sock"
    # systemd-socket-activate binds, then execs fdwatchd with LISTEN_FDS=1 on the first client.
    act = subprocess.Popen([sa, "-l", path, fdwlib.FDWATCHD, "--config", conf, "--no-journal",
                            "--socket", "/run/fdwatch/unused.sock"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(path), 10, "the activation socket")
        rc, out, err = ctl("--socket", path, "--json", "status", timeout=60)
        ok = rc == 0 and json.loads(out)["processes"] > 0
        tap.ok(ok and not os.path.exists("/run/fdwatch/unused.sock"),
               "socket activation: fdwatchd serves the socket passed by systemd, binds none",
               (rc, out, err))
    finally:
        act.terminate()
        try:
            act.wait(20)
        except subprocess.TimeoutExpired:
            act.kill()
            act.wait()
        shutil.rmtree(os.path.dirname(conf), ignore_errors=True)


def nobody_status(groups):
    """GetStatus and ListProcesses as nobody with these supplementary groups, in a child."""
    return as_nobody_child(lambda: {
        "status": fdwlib.call("io.fdwatch.GetStatus"),
        "uids": sorted({p["uid"] for p in
                        fdwlib.call("io.fdwatch.ListProcesses")["processes"]})}, groups)


def test_admin_group(tap, d):
    """AdminGroup= (applied by SIGHUP): its members see every process, via supplementary groups."""
    cpath = os.path.join(d.tmp, "fdwatch.conf")
    with open(cpath, "w") as f:
        f.write(CONFIG + "AdminGroup=users\n")
    d.proc.send_signal(signal.SIGHUP)
    try:
        def member():
            res = nobody_status([100])
            return res if res.get("status", {}).get("client_admin") else None
        try:
            res = wait_for(member, 10, "AdminGroup=users in force")
        except TimeoutError:
            res = nobody_status([100])
        st = res.get("status", {})
        tap.ok(st.get("client_admin") is True and st["visible"] == st["processes"]
               and 0 in res["uids"], "nobody in the AdminGroup (a supplementary group) sees "
               "every process", res)
        res = nobody_status([])
        tap.ok(res["status"]["client_admin"] is False and res["uids"] in ([], [NOBODY]),
               "nobody outside the AdminGroup still sees only its own", res)
    finally:
        with open(cpath, "w") as f:
            f.write(CONFIG)
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)


def test_ctl_errors(tap):
    missing = "/run/fdwatch/nothing-here.sock"
    rc, out, err = ctl("--socket", missing, "status")
    tap.ok(rc == 69 and "fdwatchd is not running (no socket at %s)" % missing in err,
           "no daemon: exit 69, 'fdwatchd is not running (no socket at PATH)'", (rc, err))
    rc, out, err = ctl("status", env={"FDWATCH_SOCKET": missing})
    tap.ok(rc == 69 and missing in err, "FDWATCH_SOCKET names the socket", (rc, err))
    rc, out, err = ctl("--socket", missing, "check")
    tap.ok(rc == 3 and out.startswith("FDWATCH UNKNOWN - fdwatchd is not running"),
           "check without a daemon: exit 3 UNKNOWN", (rc, out))
    stale = "/run/fdwatch/stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()
    rc, out, err = ctl("--socket", stale, "status")
    tap.ok(rc == 69 and "not running" in err, "stale socket file: exit 69, not running", err)
    os.unlink(stale)
    rc, out, err = ctl("--socket", missing, "metrics")
    tap.ok(rc == 69 and "fdwatch_up 0" in out, "metrics without a daemon: fdwatch_up 0, exit 69",
           out)
    for args, code, what in [(["frobnicate"], 64, "unknown command"),
                             ([], 64, "no command"),
                             (["show"], 64, "show without PID"),
                             (["show", "abc"], 64, "show with a bad PID"),
                             (["top", "--state", "bad"], 64, "bad --state"),
                             (["check", "--limit", "x"], 3, "check usage error -> UNKNOWN"),
                             (["show", "2147483646"], 66, "show of a missing PID")]:
        rc, out, err = ctl(*args)
        tap.ok(rc == code, "fdwatchctl %s: exit %d (%s)" % (" ".join(args), code, what),
               (rc, out, err))
    rc, out, err = ctl("--help")
    tap.ok(rc == 0 and all(w in out for w in ("status", "top", "show", "alerts", "watch", "check",
                                               "metrics", "--json", "--socket", "Exit codes")),
           "fdwatchctl --help lists commands, options and exit codes")


FUZZ_SECONDS = 20
FUZZ_SEEDS = [
    b'{"method":"io.fdwatch.GetProcess","parameters":{"pid":1}}\0',
    b'{"method":"io.fdwatch.Subscribe","parameters":{"since":3},"more":true}\0'
    b'{"method":"io.fdwatch.ListProcesses","parameters":{"state":"leaking","comm":"py*"}}\0',
    b'{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"x"},'
    b'"oneway":true}\0{"parameters":{"alert":{"seq":1}},"continues":true}\0',
    b'{"error":"io.fdwatch.NoSuchProcess","parameters":{"s":"\\ud83d\\ude00\xc3\xa9"}}\0',
]


def test_fuzz(tap):
    """A short libFuzzer run of the framing and validation (tests/fuzz/fuzz-varlink.c)."""
    clang = shutil.which("clang")
    if not clang:
        tap.skip("fuzz-varlink: %ds of libFuzzer without a crash" % FUZZ_SECONDS, "no clang")
        return
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "fuzz-varlink")
        r = subprocess.run([clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                            "-D_GNU_SOURCE", "-I" + os.path.join(fdwlib.ROOT, "daemon"),
                            "-I" + os.path.join(fdwlib.ROOT, "bpf"),
                            os.path.join(fdwlib.ROOT, "tests/fuzz/fuzz-varlink.c"),
                            os.path.join(fdwlib.ROOT, "daemon/varlink.c"),
                            os.path.join(fdwlib.ROOT, "daemon/util.c"), "-lcjson", "-lm",
                            "-o", exe], capture_output=True, text=True)
        if r.returncode != 0:
            tap.skip("fuzz-varlink: %ds of libFuzzer without a crash" % FUZZ_SECONDS,
                     "cannot build with -fsanitize=fuzzer (libclang-rt-14-dev?)")
            tap.diag(r.stderr[-500:])
            return
        corpus = os.path.join(tmp, "corpus")
        os.mkdir(corpus)
        for i, seed in enumerate(FUZZ_SEEDS):
            with open(os.path.join(corpus, "seed%d" % i), "wb") as f:
                f.write(seed)
        r = subprocess.run([exe, "-max_total_time=%d" % FUZZ_SECONDS, "-max_len=4096",
                            "-rss_limit_mb=1024", corpus], capture_output=True, text=True,
                           cwd=tmp, timeout=FUZZ_SECONDS + 60)
        runs = re.findall(r"Done (\d+) runs", r.stderr)
        tap.ok(r.returncode == 0 and runs, "fuzz-varlink: %s runs in %ds of libFuzzer, no crash"
               % (runs[0] if runs else "?", FUZZ_SECONDS), r.stderr[-3000:])


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()
    selftest_prom_parser(tap)
    jd = None
    try:
        jd = fdwlib.Journald().start()
    except Exception as e:
        tap.diag("no journald (%s): journald field check skipped" % e)
    d = fdwlib.Daemon(config=CONFIG).start()
    tmp = tempfile.mkdtemp(prefix="fdwatch-api.")
    os.chmod(tmp, 0o755)
    exe = os.path.join(tmp, "apileak")
    shutil.copy(fdwlib.workload("leak"), exe)
    os.chmod(exe, 0o755)
    try:
        st = os.stat(fdwlib.SOCKET)
        tap.ok(oct(st.st_mode & 0o777) == "0o666" and
               os.stat(os.path.dirname(fdwlib.SOCKET)).st_mode & 0o777 == 0o755,
               "socket created with SocketMode=0666 in a 0755 directory", oct(st.st_mode))
        tap.check("service interface", lambda: test_service_interface(tap))
        tap.check("status", lambda: test_status(tap, d))
        tap.check("leaks", lambda: test_leaks(tap, d, exe, jd))
        tap.check("bad input", lambda: test_bad_input(tap, d))
        tap.check("non-root", lambda: test_nonroot(tap, d, exe))
        tap.check("admin group", lambda: test_admin_group(tap, d))
        tap.check("fdwatchctl errors", lambda: test_ctl_errors(tap))
        tap.check("second daemon", lambda: test_second_daemon(tap))
        tap.check("fuzz", lambda: test_fuzz(tap))
        tap.ok(d.proc.poll() is None and alive(), "fdwatchd survived everything")
        if tap.failed:
            tap.diag("fdwatchd's log:\n" + d.output()[-4000:])
    finally:
        rc = d.stop()
        tap.ok(rc == 0, "fdwatchd exits 0 on SIGTERM", d.output()[-3000:])
        tap.ok(not os.path.exists(fdwlib.SOCKET), "the socket is removed on exit")
        out = d.output()
        tap.ok("runtime error:" not in out and "Sanitizer" not in out and not SANITIZER_REPORTS,
               "no sanitizer reports from fdwatchd or fdwatchctl",
               "\n".join(SANITIZER_REPORTS) + out[-3000:])
        if jd:
            jd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
