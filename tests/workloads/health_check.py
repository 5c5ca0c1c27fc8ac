#!/usr/bin/env python3
"""health_check - a monitor that runs a probe command every --period seconds and leaks its pipe.

Models: a retry loop that closes most of what each attempt creates. Each check runs the probe
with subprocess.Popen(stdout=PIPE): the attempt creates 4 pipe fds (the stdout pair, and the pair
the child reports exec errors on) and closes 3 of them; the parent keeps the read end of stdout.
The probe keeps failing, and the monitor keeps each failed check in a list "to report later",
with its stdout still open: net +1 fd per attempt, never given back.

Usage: health_check.py [--limit N] [--period 0.5] [--duration 90]
Stdout, line-buffered (t = seconds since start, wall = time.time()):
  start <pid> <fds> <wall>
  progress <t> <fds> <checks>   once a second
  done <t> <fds> <checks>
"""
import argparse
import os
import resource
import subprocess
import sys
import time


def count_fds():
    return os.stat("/proc/self/fd").st_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int)
    ap.add_argument("--period", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=90)
    args = ap.parse_args()
    if args.limit:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.limit, hard))
    failed = []   # the bug: failed checks kept with their pipes open
    t0 = time.monotonic()
    print("start %d %d %.6f" % (os.getpid(), count_fds(), time.time()), flush=True)
    k = 0
    next_progress = 1.0
    while True:
        t = time.monotonic() - t0
        if t >= args.duration:
            break
        p = subprocess.Popen(["false"], stdout=subprocess.PIPE)
        if p.wait() != 0:
            failed.append(p)
        k += 1
        if t >= next_progress:
            print("progress %.3f %d %d" % (t, count_fds(), k), flush=True)
            next_progress += 1.0
        time.sleep(max(0.0, t0 + k * args.period - time.monotonic()))
    print("done %.3f %d %d" % (time.monotonic() - t0, count_fds(), k), flush=True)


if __name__ == "__main__":
    sys.exit(main())
