"""fdwlib - shared harness of fdwatch's integration tests.

Each test script calls fdwlib.isolate() first: it re-executes itself inside a
private mount namespace (unshare -m --propagation private), where it mounts
tracefs (if the host has none), a tmpfs on /run (so the API socket and
journald's socket are ours alone) and on /var/log/journal, and starts a real
systemd-journald. Nothing it mounts is visible outside, and it all goes away
with the namespace. The daemon under test is the real build/fdwatchd with the
real BPF program; workloads are real processes.

Output is TAP: ok N - name / not ok N - name / ok N - name # SKIP why.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.environ.get("OUTPUT", os.path.join(ROOT, "build"))
FDWATCHD = os.path.join(OUTPUT, "fdwatchd")
FDWATCHCTL = os.path.join(OUTPUT, "fdwatchctl")
WORKLOADS = os.path.join(OUTPUT, "workloads")
WORKLOAD_SRC = os.path.join(ROOT, "tests", "workloads")
SOCKET = "/run/fdwatch/api.sock"
JOURNALD = "/lib/systemd/systemd-journald"
NOBODY = 65534


# ---------------------------------------------------------------- TAP

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                for line in str(diag).splitlines():
                    print("# " + line, flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def check(self, name, fn):
        """Run fn(); an exception is a failure with its traceback."""
        try:
            r = fn()
        except Exception:
            return self.ok(False, name, traceback.format_exc())
        return self.ok(r is None or bool(r), name)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------- isolation

def isolate():
    """Re-exec inside a private mount namespace; then mount what the tests need."""
    if os.geteuid() != 0:
        print("1..1\nok 1 - integration tests # SKIP need root (BPF)", flush=True)
        sys.exit(0)
    if os.environ.get("FDW_ISOLATED") != "1":
        env = dict(os.environ, FDW_ISOLATED="1")
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                               sys.executable] + sys.argv, env)
    if not os.path.isdir("/sys/kernel/tracing/events/syscalls"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    if os.path.isdir("/var/log/journal"):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/var/log/journal"], check=True)
    os.makedirs("/run/systemd/journal", exist_ok=True)


class Journald:
    """A real systemd-journald in our namespace, read back with journalctl."""

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists("/run/systemd/journal/socket"), 10,
                 "journald socket")
        return self

    def entries(self, **match):
        """Entries as dicts; match is FIELD=value pairs for journalctl."""
        args = ["journalctl", "--no-pager", "-o", "json", "--all"]
        args += ["%s=%s" % (k, v) for k, v in match.items()]
        out = subprocess.run(args, capture_output=True, text=True).stdout
        res = []
        for line in out.splitlines():
            try:
                res.append(json.loads(line))
            except ValueError:
                pass
        return res

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# ---------------------------------------------------------------- helpers

def wait_for(cond, timeout, what="condition", interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def as_nobody():
    """The argv prefix that runs a command as nobody, without supplementary groups."""
    return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]


def as_nobody_child(fn, groups=()):
    """fn() in a forked child running as nobody with these supplementary groups; its
    JSON-able result (or {"exception": ...}) comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            res = fn()
        except Exception as e:
            res = {"exception": repr(e)}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def proc_fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def workload(name):
    path = os.path.join(WORKLOADS, name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError("workload %s not built (make test-build)" % path)
    return path


# ---------------------------------------------------------------- API client

class VarlinkError(Exception):
    def __init__(self, error, parameters):
        super().__init__("%s %s" % (error, json.dumps(parameters)))
        self.error = error
        self.parameters = parameters


class Client:
    """A minimal Varlink client: NUL-terminated JSON over a Unix stream socket."""

    def __init__(self, path=SOCKET, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_msg(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by fdwatchd")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, parameters=None, more=False):
        req = {"method": method, "parameters": parameters or {}}
        if more:
            req["more"] = True
        self.send_raw(json.dumps(req).encode() + b"\0")
        if more:
            return None
        reply = self.recv_msg()
        if "error" in reply:
            raise VarlinkError(reply["error"], reply.get("parameters", {}))
        return reply.get("parameters", {})

    def close(self):
        self.sock.close()


def call(method, parameters=None, path=SOCKET):
    c = Client(path)
    try:
        return c.call(method, parameters)
    finally:
        c.close()


# ---------------------------------------------------------------- the daemon

class Daemon:
    """build/fdwatchd in the foreground, with a NOTIFY_SOCKET we listen on."""

    def __init__(self, args=(), config=None):
        self.args = list(args)
        self.config = config
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="fdwatch-test.")
        self.log_path = os.path.join(self.tmp, "fdwatchd.log")
        self.notify_path = os.path.join(self.tmp, "notify.sock")
        self.notify = None
        self.notifications = []
        self.lock = threading.Lock()

    def start(self, timeout=20):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.1)
        args = [FDWATCHD] + self.args
        if self.config is not None:
            cpath = os.path.join(self.tmp, "fdwatch.conf")
            with open(cpath, "w") as f:
                f.write(self.config)
            args += ["--config", cpath]
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.wait_notify("READY=1", timeout)
        # Keep reading, as a service manager does: an unread datagram queue
        # (net.unix.max_dgram_qlen, 10) would block the daemon's sd_notify().
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        return self

    def _drain(self):
        while self.notify is not None:
            try:
                self.poll_notify()
                time.sleep(0.1)
            except (OSError, AttributeError):
                return

    def poll_notify(self):
        with self.lock:
            while self.notify is not None:
                try:
                    self.notifications.append(self.notify.recv(4096).decode())
                except (socket.timeout, BlockingIOError):
                    return

    def wait_notify(self, what, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_notify()
            if any(what in n.split("\n") for n in self.notifications):
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("fdwatchd exited with %d:\n%s" %
                                   (self.proc.returncode, self.output()))
        raise TimeoutError("fdwatchd did not send %s in %ss:\n%s" % (what, timeout, self.output()))

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        if self.notify:
            self.poll_notify()
            with self.lock:
                self.notify.close()
                self.notify = None
        return rc


def bpf_programs_of(pid, links_only=False):
    """IDs of the BPF programs process pid holds fds of (from /proc/PID/fdinfo): programs
    and links, or with links_only the programs behind its links."""
    ids = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if not target.startswith("anon_inode:bpf") or \
                    (links_only and target != "anon_inode:bpf_link"):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def bpf_program_names(pid, links_only=False):
    """Names of those programs (bpf_programs_of), sorted; "?" for one gone meanwhile."""
    names = []
    for i in bpf_programs_of(pid, links_only):
        out = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)],
                             capture_output=True, text=True).stdout
        try:
            names.append(json.loads(out)["name"])
        except (ValueError, KeyError):
            names.append("?")
    return sorted(names)


def bpf_programs_loaded(ids):
    """Which of these program IDs are still loaded in the kernel."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    try:
        progs = json.loads(out or "[]")
    except ValueError:
        return set()
    return {p["id"] for p in progs} & set(ids)


@contextlib.contextmanager
def spawned(args, **kw):
    """A workload process that is killed (by PID, ours) when the block ends."""
    p = subprocess.Popen(args, **kw)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
