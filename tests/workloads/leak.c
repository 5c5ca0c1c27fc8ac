/*
 * leak - a process that leaks fds of one kind at a steady rate, for detection tests.
 *
 * Models: the leaks fdwatch must catch (README "How it works"): a slow drip
 * (--kind file --rate 1, or --period 60 for 1 fd/min), a fast leak (--rate 10000), and a retry
 * loop that leaks a fixed number of fds per failed attempt at a fixed period (--kind socket
 * --period 0.5 --burst 3: a connect() to a closed port that never closes its socket).
 *
 * Usage: leak [--kind file|pipe|socket|eventfd|epoll|inotify|dup] [--rate R | --period P]
 *             [--burst B] [--duration S] [--limit N] [--until-emfile] [--hold S] [--thread]
 *   --kind      what leaks (default file): file = open() of a regular file (this program);
 *               pipe = pipe() (2 fds per unit); socket = socket() + connect() to a closed
 *               127.0.0.1 port, refused, never closed; eventfd, epoll, inotify = the *_create
 *               calls; dup = dup() of one /dev/null fd opened at start
 *   --rate R    fds per second, smooth (default 10; fractions ok, 0.0167 = 1 fd/min)
 *   --period P  seconds between attempts instead of a rate (an attempt leaks B units)
 *   --burst B   units leaked per attempt (default 1)
 *   --duration S  stop after S seconds (default 60)
 *   --limit N   set the soft RLIMIT_NOFILE to N first
 *   --until-emfile  stop at the first EMFILE: hold the fds for --hold seconds (default 3), exit
 *   --thread    leak from a second thread while main sleeps in pthread_join
 * Attempts are scheduled on absolute CLOCK_MONOTONIC times (start + k * period), so the mean
 * rate is exact even when one wake-up is late. After an EMFILE without --until-emfile it keeps
 * trying at the same cadence (each attempt failing) until --duration.
 *
 * Stdout, line-buffered (t = seconds since start, wall = time(2) with fractions):
 *   start <pid> <fds> <wall>             when leaking starts
 *   progress <t> <fds> <leaked>          once a second
 *   emfile <t> <fds> <wall>              the first time a leaking call fails with EMFILE
 *   error <t> <ERRNO>                    the first time it fails with anything else
 *   done <t> <fds> <leaked>              at the end
 * Note inotify_init1 fails with EMFILE at fs.inotify.max_user_instances (often 128) per user,
 * long before RLIMIT_NOFILE.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

enum kind { FILE_, PIPE, SOCKET, EVENTFD, EPOLL, INOTIFY, DUP };
static const char *const kind_names[] = {"file",  "pipe",    "socket", "eventfd",
					 "epoll", "inotify", "dup"};

static enum kind kind = FILE_;
static double rate = 10, period, duration = 60, hold = 3;
static int burst = 1;
static bool until_emfile;
static struct sockaddr_in closed_port = {.sin_family = AF_INET};
static int dup_base = -1;
static int64_t t0;
static long leaked;

static double since_start(void)
{
	return (now_ns() - t0) / 1e9;
}

/* A loopback port nobody listens on: bind an ephemeral port, then close it. */
static void find_closed_port(void)
{
	socklen_t len = sizeof(closed_port);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	closed_port.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&closed_port, sizeof(closed_port)) < 0 ||
	    getsockname(s, (struct sockaddr *)&closed_port, &len) < 0) {
		perror("leak: finding a closed port");
		exit(1);
	}
	close(s);
}

/* Leaks one unit of the kind; returns 0 or the errno of the call that made the fd. */
static int leak_one(void)
{
	int fd, p[2];

	switch (kind) {
	case FILE_:
		fd = open("/proc/self/exe", O_RDONLY);
		break;
	case PIPE:
		fd = pipe(p);
		break;
	case SOCKET:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		/* The bug: the attempt fails with ECONNREFUSED and the socket is never closed. */
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&closed_port, sizeof(closed_port)) == 0)
			fprintf(stderr, "leak: port %d unexpectedly open\n",
				ntohs(closed_port.sin_port));
		break;
	case EVENTFD:
		fd = eventfd(0, 0);
		break;
	case EPOLL:
		fd = epoll_create1(0);
		break;
	case INOTIFY:
		fd = inotify_init1(0);
		break;
	case DUP:
	default:
		fd = dup(dup_base);
		break;
	}
	if (fd < 0)
		return errno;
	leaked += kind == PIPE ? 2 : 1;
	return 0;
}

/* One attempt: burst units. Returns false when the run should stop (EMFILE, --until-emfile). */
static bool attempt(void)
{
	static bool seen_emfile, seen_error;

	for (int i = 0; i < burst; i++) {
		int e = leak_one();

		if (e == EMFILE && !seen_emfile) {
			seen_emfile = true;
			printf("emfile %.3f %d %.6f\n", since_start(), count_fds(), wall());
			if (until_emfile) {
				sleep_until(now_ns() + hold * 1e9);
				return false;
			}
		} else if (e && e != EMFILE && !seen_error) {
			seen_error = true;
			printf("error %.3f %s\n", since_start(), strerrorname_np(e));
		}
	}
	return true;
}

static void *leak_loop(void *arg)
{
	int64_t period_ns = period * 1e9, end = t0 + duration * 1e9;
	int64_t due = t0, next_progress = t0 + 1000000000LL;

	for (int64_t k = 0;;) {
		int64_t now, wake = due < next_progress ? due : next_progress;

		if (wake >= end)
			break;
		sleep_until(wake);
		now = now_ns();
		if (now >= due) {
			if (!attempt())
				return NULL;
			due = t0 + ++k * period_ns; /* absolute: a late wake-up is caught up */
		}
		if (now >= next_progress) {
			printf("progress %.3f %d %ld\n", since_start(), count_fds(), leaked);
			next_progress += 1000000000LL;
		}
	}
	sleep_until(end);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: leak [--kind file|pipe|socket|eventfd|epoll|inotify|dup]"
			" [--rate R | --period P] [--burst B] [--duration S] [--limit N]"
			" [--until-emfile] [--hold S] [--thread]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool in_thread = false;
	long limit = 0;
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--until-emfile")) {
			until_emfile = true;
			continue;
		}
		if (!strcmp(a, "--thread")) {
			in_thread = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--kind")) {
			for (kind = 0; kind <= DUP && strcmp(v, kind_names[kind]); kind++)
				;
			if (kind > DUP)
				usage();
		} else if (!strcmp(a, "--rate")) {
			rate = atof(v);
		} else if (!strcmp(a, "--period")) {
			period = atof(v);
		} else if (!strcmp(a, "--burst")) {
			burst = atoi(v);
		} else if (!strcmp(a, "--duration")) {
			duration = atof(v);
		} else if (!strcmp(a, "--hold")) {
			hold = atof(v);
		} else if (!strcmp(a, "--limit")) {
			limit = atol(v);
		} else {
			usage();
		}
	}
	if (rate <= 0 || period < 0 || burst < 1 || duration < 0 || hold < 0)
		usage();
	if (period == 0) /* an attempt leaks burst units; a pipe unit is 2 fds */
		period = burst * (kind == PIPE ? 2 : 1) / rate;

	if (limit > 0) {
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = limit;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			perror("leak: setrlimit");
			return 1;
		}
	}
	if (kind == SOCKET)
		find_closed_port();
	if (kind == DUP && (dup_base = open("/dev/null", O_RDONLY)) < 0) {
		perror("leak: open /dev/null");
		return 1;
	}

	t0 = now_ns();
	printf("start %d %d %.6f\n", (int)getpid(), count_fds(), wall());
	if (in_thread) {
		if (pthread_create(&t, NULL, leak_loop, NULL)) {
			perror("leak: pthread_create");
			return 1;
		}
		pthread_join(t, NULL);
	} else {
		leak_loop(NULL);
	}
	printf("done %.3f %d %ld\n", since_start(), count_fds(), leaked);
	return 0;
}
