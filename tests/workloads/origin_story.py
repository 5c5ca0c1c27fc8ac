#!/usr/bin/env python3
"""origin_story - the leak fdwatch was built for (README), replayed.

Models: a service that talks to a backend through an object holding an os.pipe() pair, both ends
wrapped with os.fdopen. The object aliases one of its methods on itself
(self.isClosed = self.is_closed); the bound method references self, so every object sits in a
reference cycle and is never freed by reference counting. Its __del__ would close the pipe, but
never runs. The backend is down, so the service retries every --period seconds, building a new
object each time: 2 pipe fds leak per retry, none closed, until EMFILE takes the service down.

Python 2 never ran __del__ for objects in a cycle (they went to gc.garbage, fds still open).
Python 3.4+ (PEP 442) lets the cycle collector call __del__ and free them, which would hide the
leak, so gc.disable() below restores the Python 2 failure mode.

Usage: origin_story.py [--limit N] [--period 0.1] [--duration 120] [--hold 3]
  --limit N     set the soft RLIMIT_NOFILE to N first
  --period P    seconds between retries (absolute schedule, no drift)
  --duration S  stop after S seconds even without EMFILE
  --hold S      after the first EMFILE keep retrying (each failing with EMFILE) S seconds, exit 0

Stdout, line-buffered (t = seconds since start, wall = time.time()):
  start <pid> <fds> <wall>      when the retry loop starts
  progress <t> <fds> <retries>  once a second
  emfile <t> <fds> <wall>       the first time os.pipe() fails with EMFILE
  done <t> <fds> <retries>
"""
import argparse
import errno
import gc
import os
import resource
import sys
import time


class BackendError(Exception):
    pass


class PipeChannel:
    """A request channel to a worker, over a pipe (the object that leaks)."""

    def __init__(self):
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb", buffering=0)
        self.writer = os.fdopen(w, "wb", buffering=0)
        # The bug: a bound method stored on self references self -> a reference cycle.
        self.isClosed = self.is_closed

    def is_closed(self):
        return self.writer.closed

    def close(self):
        if not self.isClosed():
            self.writer.close()
            self.reader.close()

    def __del__(self):
        if "isClosed" in self.__dict__:  # not when __init__ failed (os.pipe() -> EMFILE)
            self.close()

    def request(self, payload):
        self.writer.write(payload)
        raise BackendError("backend unavailable")  # the failure that makes the app retry


def count_fds():
    # st_size of /proc/self/fd is the open-fd count since Linux 6.2 and needs no fd of its own,
    # which matters at EMFILE; listdir() is the fallback for older kernels.
    n = os.stat("/proc/self/fd").st_size
    return n if n > 0 else len(os.listdir("/proc/self/fd")) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--period", type=float, default=0.1)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=3.0)
    args = ap.parse_args()

    sys.stdout.reconfigure(line_buffering=True)
    if args.limit > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.limit, hard))
    gc.disable()  # Python 2 semantics for cycles with __del__ (see the docstring)

    t0 = time.monotonic()
    end = t0 + args.duration
    emfile_at = None
    retries = 0
    next_progress = t0 + 1
    print(f"start {os.getpid()} {count_fds()} {time.time():.6f}")
    while True:
        now = time.monotonic()
        if now >= end or (emfile_at is not None and now >= emfile_at + args.hold):
            break
        try:
            channel = PipeChannel()  # the previous one is unreachable, but never freed
            channel.request(b"GET /status\n")
        except BackendError:
            pass
        except OSError as e:
            if e.errno != errno.EMFILE:
                raise
            if emfile_at is None:
                emfile_at = time.monotonic()
                print(f"emfile {emfile_at - t0:.3f} {count_fds()} {time.time():.6f}")
        retries += 1
        if time.monotonic() >= next_progress:
            print(f"progress {time.monotonic() - t0:.3f} {count_fds()} {retries}")
            next_progress += 1
        # The next retry on an absolute schedule, so the cadence stays exactly --period.
        time.sleep(max(0.0, t0 + retries * args.period - time.monotonic()))
    print(f"done {time.monotonic() - t0:.3f} {count_fds()} {retries}")
    sys.stdout.flush()
    # Exit like a dying service, without interpreter finalization: it would collect the cycles
    # now and print an "Exception ignored in __del__" per half-torn-down object.
    os._exit(0)


if __name__ == "__main__":
    main()
