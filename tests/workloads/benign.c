/*
 * benign - fd patterns that are not leaks, for false-positive tests (README "How it works":
 * benign patterns must not alert).
 *
 * Usage: benign --mode churn|plateau|pool|sawtooth|burst [--duration S] [--rate R]
 *   churn     open()+close() of /dev/null at R pairs/s (default 20000): busy, balanced, flat
 *   plateau   open 500 fds evenly over the first second, then hold them
 *   pool      a connection pool warming up: 32 connections to its own 127.0.0.1 listener, one
 *             every 6/32 s (+64 fds: client and accepted end), then held at that bound
 *   sawtooth  grow by R fds/s (default 10) for 10 s, close them all, repeat
 *   burst     open 200 fds within 0.5 s, hold them 2 s, close them, then idle
 *   --duration S  stop after S seconds (default 60)
 * Every mode is a target number of held fds as a function of time, reached on a 1 ms tick
 * scheduled on absolute CLOCK_MONOTONIC times.
 *
 * Stdout, line-buffered (t = seconds since start, wall = time(2) with fractions):
 *   start <pid> <fds> <wall>
 *   phase <t> <name> <fds>       on every phase change (fds after the change)
 *   progress <t> <fds> <churned> once a second (churned = open+close pairs so far)
 *   done <t> <fds>
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define MAX_HELD 4096
#define TICK_NS	 1000000LL /* 1 ms: fine enough for 500 fds/s, cheap at 1000 wake-ups/s */

static double rate = -1, duration = 60;
static int held[MAX_HELD], n_held;
static int listener = -1;
static int64_t t0;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void hold_fd(int fd)
{
	if (fd < 0)
		die("benign: open");
	held[n_held++] = fd;
}

/* One pooled connection: the client end and the accepted end, both held (2 fds). */
static void open_connection(void)
{
	int c = loopback_connect(listener);

	if (c < 0)
		die("benign: connect");
	hold_fd(c);
	hold_fd(accept(listener, NULL, NULL));
}

static void make_listener(void)
{
	listener = loopback_listener(64);
	if (listener < 0)
		die("benign: listener");
}

/*
 * Target number of held fds at t seconds; *phase names the phase (a change gets printed).
 */
static int target_churn(double t, char *phase)
{
	strcpy(phase, "churn");
	return 0;
}

static int target_plateau(double t, char *phase)
{
	strcpy(phase, t < 1 ? "grow" : "hold");
	return t < 1 ? (int)(500 * t) : 500;
}

static int target_pool(double t, char *phase)
{
	strcpy(phase, t < 6 ? "warmup" : "hold");
	return t < 6 ? 2 * (int)(32 * t / 6 + 1) : 64; /* first connection at once */
}

static int target_sawtooth(double t, char *phase)
{
	int cycle = (int)(t / 10);

	sprintf(phase, "cycle-%d", cycle); /* each cycle starts by dropping to zero */
	return (int)(rate * (t - 10.0 * cycle));
}

static int target_burst(double t, char *phase)
{
	if (t < 0.5) {
		strcpy(phase, "burst");
		return (int)(400 * t) + 1;
	}
	strcpy(phase, t < 2.5 ? "hold" : "idle");
	return t < 2.5 ? 200 : 0;
}

static const struct mode {
	const char *name;
	int (*target)(double t, char *phase);
	double default_rate;
} modes[] = {
    {"churn", target_churn, 20000},    {"plateau", target_plateau, 0}, {"pool", target_pool, 0},
    {"sawtooth", target_sawtooth, 10}, {"burst", target_burst, 0},
};

int main(int argc, char **argv)
{
	const struct mode *m = NULL;
	char phase[32] = "", next_phase[32];
	int64_t end, tick, next_progress;
	long churned = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mode")) {
			for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
				if (!strcmp(argv[i + 1], modes[k].name))
					m = &modes[k];
		} else if (!strcmp(argv[i], "--duration")) {
			duration = atof(argv[i + 1]);
		} else if (!strcmp(argv[i], "--rate")) {
			rate = atof(argv[i + 1]);
		}
	}
	if (!m || argc % 2 == 0) {
		fprintf(stderr, "usage: benign --mode churn|plateau|pool|sawtooth|burst"
				" [--duration S] [--rate R]\n");
		return 2;
	}
	if (rate < 0)
		rate = m->default_rate;
	if (m->target == target_pool)
		make_listener(); /* part of the starting count */

	t0 = now_ns();
	end = t0 + duration * 1e9;
	next_progress = t0 + 1000000000LL;
	printf("start %d %d %.6f\n", (int)getpid(), count_fds(), wall());
	for (tick = t0; tick < end; tick += TICK_NS) {
		double t = (tick - t0) / 1e9;
		int want;

		sleep_until(tick);
		want = m->target(t, next_phase);
		while (n_held > want && n_held > 0)
			close(held[--n_held]);
		while (n_held < want && n_held < MAX_HELD) {
			if (listener >= 0)
				open_connection();
			else
				hold_fd(open("/dev/null", O_RDONLY));
		}
		if (m->target == target_churn) {
			/* Pairs due by now, so a late tick catches up and the rate stays exact. */
			long due = (long)(rate * (t + TICK_NS / 1e9));

			for (; churned < due; churned++) {
				int fd = open("/dev/null", O_RDONLY);

				if (fd < 0)
					die("benign: open");
				close(fd);
			}
		}
		if (strcmp(phase, next_phase)) {
			strcpy(phase, next_phase);
			printf("phase %.3f %s %d\n", t, phase, count_fds());
		}
		if (tick >= next_progress) {
			printf("progress %.3f %d %ld\n", t, count_fds(), churned);
			next_progress += 1000000000LL;
		}
	}
	printf("done %.3f %d\n", (now_ns() - t0) / 1e9, count_fds());
	return 0;
}
