#!/usr/bin/env python3
"""fdwatchd fails clearly: each machine problem gets one line naming the
cause and what to do, and its own exit code (see fdwatchd --help); libbpf's
own messages appear only with --verbose. Each case is made real in a private
mount namespace or by dropping privileges: nothing on the host changes.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdwlib  # noqa: E402


def run(args, prefix=(), env_extra=None, timeout=30):
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run(list(prefix) + [fdwlib.FDWATCHD] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout + p.stderr


def one_line(out):
    return [line for line in out.splitlines() if line.strip()]


def case(tap, name, rc_want, words, args=(), prefix=(), setup=None, teardown=None):
    if setup:
        setup()
    try:
        rc, out = run(list(args) + ["--socket", "/run/fdwatch-fail.sock", "--no-journal"], prefix)
    finally:
        if teardown:
            teardown()
    lines = one_line(out)
    tap.ok(rc == rc_want, "%s: exit code %d" % (name, rc_want), "got %d:\n%s" % (rc, out))
    tap.ok(len(lines) == 1 and all(w in lines[0] for w in words),
           "%s: one line naming the cause (%s)" % (name, ", ".join(words)), out)


def mount(*args):
    subprocess.run(["mount"] + list(args), check=True)


def sees_child(tag):
    """A child forked after the daemon started is in its table, with its real fd count."""
    child = subprocess.Popen([sys.executable, "-c", "import os, time\n"
                              "keep = [os.pipe() for _ in range(20)]\ntime.sleep(30)"])
    try:
        def count():
            try:
                p = fdwlib.call("io.fdwatch.GetProcess", {"pid": child.pid})["process"]
            except fdwlib.VarlinkError:  # not in the table yet
                return False
            return p["fds"] == len(os.listdir("/proc/%d/fd" % child.pid))
        return fdwlib.wait_for(count, 10, "%s: child seen" % tag)
    except TimeoutError:
        return False
    finally:
        child.kill()
        child.wait()


def kernel_btf(tap):
    """The compiled-in CO-RE types are used on the kernel they were cut from only: given a
    kernel BTF that differs (the same one and a byte more, which libbpf still reads), the
    daemon reads that BTF whole, as it would on another kernel, and still works."""
    LOADS = "loading kernel BTF"

    def at_start(out):
        """What it said while starting (a census later, of any process on this host, loads
        programs that need the whole BTF)."""
        return out.split(" watching ")[0]
    d = fdwlib.Daemon(["--no-journal", "--verbose"]).start()
    try:
        seen = sees_child("built-for kernel")
    finally:
        d.stop()
    tap.ok(seen and LOADS not in at_start(d.output()) and "not the one fdwatchd was built with"
           not in d.output(), "the kernel it was built for: the compiled-in BTF, not the "
           "kernel's whole BTF, and new processes are seen", d.output()[-1500:])
    with tempfile.NamedTemporaryFile(suffix=".btf") as f:
        with open("/sys/kernel/btf/vmlinux", "rb") as src:
            f.write(src.read() + b"\0")
        f.flush()
        mount("--bind", f.name, "/sys/kernel/btf/vmlinux")
        try:
            d = fdwlib.Daemon(["--no-journal", "--verbose"]).start()
            try:
                seen = sees_child("other kernel")
            finally:
                d.stop()
        finally:
            subprocess.run(["umount", "/sys/kernel/btf/vmlinux"], check=True)
    tap.ok(seen and LOADS in at_start(d.output()) and "not the one fdwatchd was built with" in d.output(),
           "another kernel's BTF: read whole instead, and new processes are seen",
           d.output()[-1500:])


def main():
    fdwlib.isolate()
    tap = fdwlib.Tap()

    # Not root: no CAP_BPF.
    case(tap, "not root", 3, ["root", "CAP_BPF"],
         prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    # Root, but the capabilities cut away.
    case(tap, "no CAP_BPF", 3, ["CAP_BPF"],
         prefix=["setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-sys_admin,-perfmon", "--"])
    # No kernel BTF: hide /sys/kernel/btf behind an empty tmpfs.
    case(tap, "no BTF", 4, ["BTF", "CONFIG_DEBUG_INFO_BTF"],
         setup=lambda: mount("-t", "tmpfs", "tmpfs", "/sys/kernel/btf"),
         teardown=lambda: subprocess.run(["umount", "/sys/kernel/btf"], check=True))
    # tracefs missing: empty tmpfs over both places libbpf looks.
    def hide_tracefs():
        mount("-t", "tmpfs", "tmpfs", "/sys/kernel/tracing")
        if os.path.isdir("/sys/kernel/debug"):
            mount("-t", "tmpfs", "tmpfs", "/sys/kernel/debug")

    def show_tracefs():
        subprocess.run(["umount", "/sys/kernel/tracing"], check=True)
        if os.path.isdir("/sys/kernel/debug"):
            subprocess.run(["umount", "/sys/kernel/debug"], check=True)
    case(tap, "tracefs missing", 5, ["tracefs", "mount -t tracefs"],
         setup=hide_tracefs, teardown=show_tracefs)
    # ... while raw mode needs no tracefs at all: it starts.
    hide_tracefs()
    try:
        d = fdwlib.Daemon(["--probe-mode", "raw", "--no-journal"]).start()
        tap.ok(True, "tracefs missing: --probe-mode=raw still starts")
        d.stop()
    except Exception as e:  # noqa: BLE001
        tap.ok(False, "tracefs missing: --probe-mode=raw still starts", e)
    finally:
        show_tracefs()
    # seccomp filter that refuses bpf().
    case(tap, "seccomp blocks bpf()", 6, ["seccomp", "bpf"],
         prefix=[fdwlib.workload("deny_bpf")])
    # Usage errors.
    rc, out = run(["--tick", "5ms"])
    tap.ok(rc == 2 and "--tick" in out, "bad --tick: exit code 2 and names the flag", out)
    rc, out = run(["--probe-mode", "fentry"])
    tap.ok(rc == 2 and "--probe-mode" in out, "bad --probe-mode: exit code 2", out)
    rc, out = run(["stray"])
    tap.ok(rc == 2, "stray argument: exit code 2", out)
    rc, out = run(["--check-config"])
    tap.ok(rc == 0 and "[Probe]" in out, "--check-config prints the defaults and exits 0", out)
    # A flag is checked as its key in a file is: --check-config never prints what does not load.
    for flag, value in (("--rescan", "1ns"), ("--socket", "relative.sock")):
        rc, out = run(["--check-config", flag, value])
        tap.ok(rc == 2 and flag in out and "effective configuration" not in out,
               "--check-config %s %s: refused as in a file (exit 2, names the flag)" % (flag, value),
               out)
    flags = ["--tick", "2s", "--rescan", "10s", "--probe-mode", "raw", "--socket",
             "/run/fdwatch-x/api.sock", "--no-journal", "--verbose"]
    p = subprocess.run([fdwlib.FDWATCHD, "--check-config"] + flags, capture_output=True, text=True)
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(p.stdout)
        f.flush()
        back = subprocess.run([fdwlib.FDWATCHD, "--check-config", "--config", f.name],
                              capture_output=True, text=True)
    tap.ok(p.returncode == 0 and back.returncode == 0 and back.stdout == p.stdout and
           all(kv in p.stdout for kv in ("TickSec=2s", "RescanSec=10s", "Backend=raw",
                                         "SocketPath=/run/fdwatch-x/api.sock", "Journal=no",
                                         "LogLevel=debug")),
           "--check-config with every flag prints a configuration that loads back the same",
           p.stdout + p.stderr + back.stderr)
    # libbpf speaks only with --verbose.
    for verbose in (False, True):
        d = fdwlib.Daemon(["--no-journal"] + (["--verbose"] if verbose else [])).start()
        d.stop()
        said = "libbpf:" in d.output()
        tap.ok(said == verbose, "libbpf's messages %s with%s --verbose" %
               ("shown" if verbose else "hidden", "" if verbose else "out"), d.output()[-1500:])
    kernel_btf(tap)
    # Without a journal, alerts are printed on stderr. The probe is attached throughout: this
    # leak hits EMFILE once, in its first tenth of a second, before auto mode could arm.
    d = fdwlib.Daemon(["--no-journal", "--probe-mode", "always"]).start()
    try:
        leak = subprocess.run([fdwlib.workload("leak"), "--kind", "file", "--rate", "500",
                               "--limit", "64", "--until-emfile", "--hold", "2"],
                              capture_output=True, text=True, timeout=30)
        fdwlib.wait_for(lambda: "hit EMFILE" in d.output(), 5, "alert on stderr")
    except (TimeoutError, subprocess.TimeoutExpired):
        pass
    finally:
        d.stop()
    lines = [l for l in d.output().splitlines() if "hit EMFILE" in l]
    tap.ok(any("leak[" in l and "openat" in l for l in lines),
           "--no-journal: the EMFILE alert is printed on stderr", d.output()[-1500:])
    tap.done()


if __name__ == "__main__":
    main()
