// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * syscall-loop - time a tight syscall loop, for fdwatch's overhead bench.
 *
 * Usage: syscall-loop [-c CPU] [-w] getppid|openclose|pipeclose N
 *
 *   getppid    syscall(SYS_getppid): a syscall the probe does not care about
 *              (the raw sys_exit program still runs on it; per-syscall
 *              tracepoints do not). Through syscall() so glibc cannot cache it.
 *   openclose  open("/dev/null") + close(): one counted creation, one close.
 *   pipeclose  pipe2() + two close(): a counted pair, two closes.
 *
 * Runs N iterations (after a warm-up of N/10) and prints one line:
 *   <loop> <N> <ns per iteration> ns/op <CPU share> %cpu
 * where the CPU share is the thread's CPU time over the wall time of the timed
 * loop: below ~95% something else ran on this CPU (or the hypervisor took it)
 * and the run measured that too.
 * -c CPU pins the process to that CPU first (sched_setaffinity). Exits 1 on
 * any failing syscall, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum loop { L_GETPPID, L_OPENCLOSE, L_PIPECLOSE };

static void usage(void)
{
	fprintf(stderr, "Usage: syscall-loop [-c CPU] getppid|openclose|pipeclose N\n");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "syscall-loop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* noinline: the loop body is the same code whether it warms up or is timed. */
static __attribute__((noinline)) void run(enum loop l, unsigned long n)
{
	int fds[2];

	switch (l) {
	case L_GETPPID:
		for (unsigned long i = 0; i < n; i++)
			if (syscall(SYS_getppid) < 0)
				die("getppid");
		break;
	case L_OPENCLOSE:
		for (unsigned long i = 0; i < n; i++) {
			int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

			if (fd < 0)
				die("open /dev/null");
			if (close(fd) < 0)
				die("close");
		}
		break;
	case L_PIPECLOSE:
		for (unsigned long i = 0; i < n; i++) {
			if (pipe2(fds, O_CLOEXEC) < 0)
				die("pipe2");
			if (close(fds[0]) < 0 || close(fds[1]) < 0)
				die("close");
		}
		break;
	}
}

int main(int argc, char *argv[])
{
	const char *name;
	unsigned long n;
	enum loop l;
	double t0, t1, c0, c1;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "c:")) >= 0) {
		switch (c) {
		case 'c': {
			cpu_set_t set;
			long cpu = strtol(optarg, &end, 10);

			if (*end || cpu < 0 || cpu >= CPU_SETSIZE)
				usage();
			CPU_ZERO(&set);
			CPU_SET((int)cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) < 0)
				die("sched_setaffinity");
			break;
		}
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	name = argv[optind];
	if (!strcmp(name, "getppid"))
		l = L_GETPPID;
	else if (!strcmp(name, "openclose"))
		l = L_OPENCLOSE;
	else if (!strcmp(name, "pipeclose"))
		l = L_PIPECLOSE;
	else
		usage();
	errno = 0;
	n = strtoul(argv[optind + 1], &end, 10);
	if (errno || *end || n == 0)
		usage();

	run(l, n / 10 + 1);
	c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns(CLOCK_MONOTONIC);
	run(l, n);
	t1 = now_ns(CLOCK_MONOTONIC);
	c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	printf("%s %lu %.2f ns/op %.1f %%cpu\n", name, n, (t1 - t0) / (double)n,
	       t1 > t0 ? 100.0 * (c1 - c0) / (t1 - t0) : 100.0);
	return 0;
}
