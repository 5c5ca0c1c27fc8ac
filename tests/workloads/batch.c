/*
 * batch - a worker whose fds follow the rhythm of its work, for detection tests that must not
 * cry wolf (and one that must not stay silent).
 *
 * Models: a batch job that opens one file per item and closes the batch when it is done (a
 * sawtooth; with --keep K it keeps K of each batch open: the leak under a garbage collector,
 * whose troughs rise); a service that warms up a connection pool and goes straight into such
 * batches; a start-up that opens its working set then serves from it; a churner that keeps a
 * batch of fds in flight; a database backend that caches files up to a cap a few dozen under its
 * limit; a server that forks short-lived workers inheriting its fds.
 *
 * Usage: batch --mode sawtooth|warmup|startup|churn|near|fork [options]
 *   sawtooth  wait --pause S (default 0) for a batch, then --rate R fds/s up to --peak N above the
 *             trough, close all but --keep K (default 0), again
 *   warmup    --pool P connections (2 fds each, to its own 127.0.0.1 listener) over --ramp S
 *             seconds, then sawtooth cycles of files (--rate, --peak)
 *   startup   --peak N fds over --ramp S seconds, then held
 *   churn     --rate R open+close pairs/s, in batches of --batch B opened then closed
 *   near      the soft limit minus --gap D fds, opened over --ramp S seconds, then held
 *   fork      --peak N fds at once, then a child every --every S seconds that lives --life L
 *             seconds (inheriting the N fds) and exits
 *   --limit N     set the soft RLIMIT_NOFILE to N first
 *   --duration S  stop after S seconds (default 60)
 * Held fds follow a target count, a function of time, reached on a 1 ms tick scheduled on
 * absolute CLOCK_MONOTONIC times (the churner's pairs too, so its rate is exact).
 *
 * Stdout, line-buffered (t = seconds since start, wall = time(2) with fractions):
 *   start <pid> <fds> <wall>
 *   release <t> <fds> <wall>     each time a batch is closed (sawtooth, warmup)
 *   hold <t> <fds> <wall>        when the count stops moving (startup, near, fork)
 *   progress <t> <fds> <n>       once a second (n: churned pairs, or children forked)
 *   child <pid>                  each child forked (fork), so a test judges only its own
 *   done <t> <fds>
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define MAX_HELD 65536
#define TICK_NS	 1000000LL

static const char *mode;
static double rate = 20, peak = 100, keep, pause_sec, ramp = 3, every = 1, life = 2, duration = 60;
static long pool, batch = 16, gap = 30;
static int held[MAX_HELD], n_held, listener = -1;
static int64_t t0;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void hold_fd(int fd)
{
	if (fd < 0)
		die("batch: open");
	if (n_held >= MAX_HELD)
		die("batch: too many");
	held[n_held++] = fd;
}

static void open_connection(void)
{
	int c = loopback_connect(listener);

	if (c < 0)
		die("batch: connect");
	hold_fd(c);
	hold_fd(accept(listener, NULL, NULL));
}

static void make_listener(void)
{
	listener = loopback_listener(1024);
	if (listener < 0)
		die("batch: listener");
}

/* The sawtooth at t seconds into its cycles: fds held on top of its base, and the cycle. */
static long saw(double t, long *ret_cycle)
{
	double ramp_sec = peak / rate, period = pause_sec + ramp_sec;
	long cycle = (long)(t / period);
	double in = t - cycle * period;

	*ret_cycle = cycle;
	return (long)(keep * cycle) + (in < pause_sec ? 0 : (long)(rate * (in - pause_sec)));
}

/* Held fds wanted at t; *ret_cycle changes when a batch is closed (-1: no cycles). */
static long target(double t, long *ret_cycle)
{
	*ret_cycle = -1;
	if (!strcmp(mode, "sawtooth"))
		return saw(t, ret_cycle);
	if (!strcmp(mode, "warmup")) {
		if (t < ramp)
			return 2 * (long)(pool * t / ramp + 1);
		return 2 * pool + saw(t - ramp, ret_cycle);
	}
	if (!strcmp(mode, "startup") || !strcmp(mode, "fork"))
		return t < ramp && !strcmp(mode, "startup") ? (long)(peak * t / ramp) : (long)peak;
	if (!strcmp(mode, "near")) {
		struct rlimit rl;
		long want;

		getrlimit(RLIMIT_NOFILE, &rl);
		want = (long)rl.rlim_cur - gap - 3 - (listener >= 0); /* 0, 1, 2 are open */
		return t < ramp ? (long)(want * t / ramp) : want;
	}
	return 0;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	int64_t end, tick, next_progress, next_fork;
	long cycle = -1, count = 0, churned = 0, want;
	int moving = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--mode"))
			mode = v;
		else if (!strcmp(k, "--rate"))
			rate = atof(v);
		else if (!strcmp(k, "--peak"))
			peak = atof(v);
		else if (!strcmp(k, "--keep"))
			keep = atof(v);
		else if (!strcmp(k, "--pause"))
			pause_sec = atof(v);
		else if (!strcmp(k, "--pool"))
			pool = atol(v);
		else if (!strcmp(k, "--ramp"))
			ramp = atof(v);
		else if (!strcmp(k, "--batch"))
			batch = atol(v);
		else if (!strcmp(k, "--gap"))
			gap = atol(v);
		else if (!strcmp(k, "--every"))
			every = atof(v);
		else if (!strcmp(k, "--life"))
			life = atof(v);
		else if (!strcmp(k, "--duration"))
			duration = atof(v);
		else if (!strcmp(k, "--limit")) {
			struct rlimit rl;

			if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
				die("getrlimit");
			rl.rlim_cur = strtoul(v, NULL, 10);
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				die("setrlimit");
		}
	}
	if (!mode || argc % 2 == 0 || batch < 1 || rate <= 0) {
		fprintf(stderr,
			"usage: batch --mode sawtooth|warmup|startup|churn|near|fork "
			"[--rate R] [--peak N] [--keep K] [--pause S] [--pool P] [--ramp S] "
			"[--batch B] [--gap D] [--every S] [--life S] [--limit N] "
			"[--duration S]\n");
		return 2;
	}
	if (!strcmp(mode, "warmup"))
		make_listener(); /* part of the starting count */

	t0 = now_ns();
	end = t0 + duration * 1e9;
	next_progress = t0 + 1000000000LL;
	next_fork = t0 + every * 1e9;
	printf("start %d %d %.6f\n", (int)getpid(), count_fds(), wall());
	for (tick = t0; tick < end; tick += TICK_NS) {
		double t = (tick - t0) / 1e9;
		long c;

		sleep_until(tick);
		want = target(t, &c);
		/* A batch done closes at once (all but what the next cycle starts from). */
		while (n_held > want && n_held > 0)
			close(held[--n_held]);
		if (c != cycle && cycle >= 0)
			printf("release %.3f %d %.6f\n", t, count_fds(), wall());
		cycle = c;
		while (n_held < want) {
			if (listener >= 0 && n_held < 2 * pool)
				open_connection();
			else
				hold_fd(open("/dev/null", O_RDONLY));
		}
		if (!strcmp(mode, "churn")) {
			long due = (long)(rate * (t + TICK_NS / 1e9));

			while (churned < due) {
				int fds[64];
				long b = batch < 64 ? batch : 64;

				for (long k = 0; k < b; k++)
					if ((fds[k] = open("/dev/null", O_RDONLY)) < 0)
						die("batch: open");
				for (long k = b; k-- > 0;)
					close(fds[k]);
				churned += b;
			}
		}
		if (moving && cycle < 0 && t >= ramp && strcmp(mode, "churn")) {
			moving = 0;
			printf("hold %.3f %d %.6f\n", t, count_fds(), wall());
		}
		if (!strcmp(mode, "fork") && tick >= next_fork) {
			pid_t pid = fork();

			if (pid < 0)
				die("fork");
			if (pid == 0) {
				struct timespec l = {.tv_sec = (time_t)life,
						     .tv_nsec =
							 (long)((life - (time_t)life) * 1e9)};

				nanosleep(&l, NULL);
				_exit(0);
			}
			printf("child %d\n", (int)pid);
			count++;
			next_fork += every * 1e9;
		}
		reap();
		if (tick >= next_progress) {
			printf("progress %.3f %d %ld\n", t, count_fds(),
			       !strcmp(mode, "fork") ? count : churned);
			next_progress += 1000000000LL;
		}
	}
	signal(SIGCHLD, SIG_DFL);
	while (wait(NULL) > 0)
		;
	printf("done %.3f %d\n", (now_ns() - t0) / 1e9, count_fds());
	return 0;
}
