/*
 * conn_leak - a client whose reconnect path leaks the socket of every failed connect(), for
 * attribution tests (README "API and CLI": the census and the creation sites).
 *
 * Models: a metrics shipper that keeps a connection to its collector, event-loop style: a
 * non-blocking connect(), poll() for the outcome, SO_ERROR. The collector is down (nothing
 * listens on the port), so each attempt is refused; the bug is that dial_collector() returns on
 * failure without closing its socket. (Left by a non-blocking connect, the socket keeps its
 * peer's address and port; a blocking connect() that fails clears the port.) Attempts back off from
 * --period doubling up to 4x, reset after each "flush" of the local buffer, so the cadence
 * varies like a real client's.
 *
 * Built with frame pointers (see the Makefile), as a service must be for fdwatch to name its
 * code. libc's socket() wrapper sets up no frame, so a frame-pointer unwinder skips the
 * function that called it (dial_collector) and shows that function's caller:
 * shipper_reconnect_collector_leaky(), the distinctive name the tests look for.
 *
 * Usage: conn_leak [--port P] [--period S] [--duration S] [--limit N]
 *   --port P      collector port on 127.0.0.1 (default: a port found closed at start)
 *   --period S    base seconds between attempts (default 0.1)
 *   --duration S  stop after S seconds (default 60)
 *   --limit N     set the soft RLIMIT_NOFILE to N first
 *
 * Stdout, line-buffered: "start <pid> <port> <wall>", "progress <t> <leaked>" once a second,
 * "done <t> <leaked>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port nothing listens on: bind one, note it, close it. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("closed_port");
		exit(1);
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The bug: on a refused connect() the socket is returned to nobody and never closed. */
__attribute__((noinline)) static int dial_collector(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		return -errno; /* leaks fd */
	if (poll(&p, 1, 1000) <= 0)
		return -ETIMEDOUT; /* leaks fd */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return -(err ?: errno); /* leaks fd */
	return fd;
}

__attribute__((noinline)) static int shipper_reconnect_collector_leaky(int port, long *leaked)
{
	int r = dial_collector(port);

	if (r == -ECONNREFUSED)
		(*leaked)++;
	return r;
}

int main(int argc, char **argv)
{
	double period = 0.1, duration = 60, t0, next, backoff;
	long leaked = 0, limit = 0;
	int port = 0, attempts = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--period"))
			period = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--duration"))
			duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--limit"))
			limit = atol(argv[i + 1]);
		else {
			fprintf(stderr, "conn_leak: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (limit > 0) {
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = (rlim_t)limit;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			perror("setrlimit");
			return 1;
		}
	}
	if (!port)
		port = closed_port();
	setvbuf(stdout, NULL, _IOLBF, 0);
	{
		struct timeval tv;

		gettimeofday(&tv, NULL);
		printf("start %d %d %ld.%06ld\n", getpid(), port, (long)tv.tv_sec,
		       (long)tv.tv_usec);
	}
	t0 = now_mono();
	next = t0;
	backoff = period;
	for (double progress = t0 + 1; now_mono() < t0 + duration;) {
		double t;
		int r = shipper_reconnect_collector_leaky(port, &leaked);

		if (r >= 0) {
			close(r); /* someone listens after all: the shipper is happy */
		} else if (r != -ECONNREFUSED) {
			printf("error %.3f %s\n", now_mono() - t0, strerror(-r));
			if (r == -EMFILE)
				break;
		}
		/* Back off up to 4x the period; a buffer flush every 8 attempts resets it. */
		backoff = ++attempts % 8 == 0	     ? period
			  : backoff * 2 > 4 * period ? 4 * period
						     : backoff * 2;
		next += backoff;
		t = now_mono();
		if (t >= progress) {
			printf("progress %.3f %ld\n", t - t0, leaked);
			progress += 1;
		}
		if (next > t) {
			struct timespec ts = {
			    .tv_sec = (time_t)(next - t),
			    .tv_nsec = (long)((next - t - (double)(time_t)(next - t)) * 1e9)};

			nanosleep(&ts, NULL);
		}
	}
	printf("done %.3f %ld\n", now_mono() - t0, leaked);
	return 0;
}
