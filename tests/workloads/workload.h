/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * workload.h - what the test workloads share: clocks, sleeping to an absolute
 * time, counting their own open fds without opening one, and loopback TCP
 * connections to hold.
 */
#ifndef FDWATCH_WORKLOAD_H
#define FDWATCH_WORKLOAD_H

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in ns. */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_REALTIME in seconds, with fractions: what the tests compare journal times with. */
static inline double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep until CLOCK_MONOTONIC reaches ns: a schedule that does not drift. */
static inline void sleep_until(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Open fds, or -errno. Since Linux 6.2 st_size of /proc/self/fd is the exact count, and
 * reading it opens no fd: counting must not show up in the counts under test (nor fail at
 * EMFILE). Older kernels report 0 there and are counted by readdir.
 */
static inline int count_fds(void)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0;

	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (int)st.st_size;
	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* A TCP listener on an ephemeral loopback port with the given backlog: its fd, or -1 (errno set).
 */
static inline int loopback_listener(int backlog)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, backlog) < 0) {
		int e = errno;

		close(l);
		errno = e;
		return -1;
	}
	return l;
}

/*
 * Connects a new socket to listener (from loopback_listener()): its fd, or -1 (errno set,
 * nothing left open). The caller accept()s the other end.
 */
static inline int loopback_connect(int listener)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int c = socket(AF_INET, SOCK_STREAM, 0);

	if (c < 0)
		return -1;
	if (getsockname(listener, (struct sockaddr *)&sa, &len) < 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(c);
		errno = e;
		return -1;
	}
	return c;
}

#endif
