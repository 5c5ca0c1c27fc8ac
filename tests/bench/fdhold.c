/*
 * fdhold - a process that holds many fds, for the attribution bench (tests/bench/attribution.py).
 *
 * Usage: fdhold --fds N [--mix] [--ramp R]
 *   --fds N    hold N fds in all (RLIMIT_NOFILE is raised to fit)
 *   --mix      make them a quarter each of pipes (pairs), TCP sockets, files (/dev/null)
 *              and eventfds; default: eventfds
 *   --ramp R   first leak R eventfds a second until SIGUSR1 (so a watcher sees a suspect and
 *              starts recording its creations), then make the rest at once
 * Stdout, line-buffered: "start <pid>", then "held <n>" once N fds are open; it then sleeps
 * until killed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	go = 1;
}

static int make_one(int i, int mix)
{
	int p[2];

	if (!mix)
		return eventfd(0, 0) >= 0 ? 1 : -1;
	switch (i % 4) {
	case 0:
		return pipe(p) == 0 ? 2 : -1;
	case 1:
		return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 1 : -1;
	case 2:
		return open("/dev/null", O_RDONLY) >= 0 ? 1 : -1;
	default:
		return eventfd(0, 0) >= 0 ? 1 : -1;
	}
}

int main(int argc, char **argv)
{
	long want = 1000, held = 3;
	double ramp = 0;
	int mix = 0;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fds") && i + 1 < argc)
			want = atol(argv[++i]);
		else if (!strcmp(argv[i], "--ramp") && i + 1 < argc)
			ramp = atof(argv[++i]);
		else if (!strcmp(argv[i], "--mix"))
			mix = 1;
		else {
			fprintf(stderr, "fdhold: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)want + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("setrlimit");
		return 1;
	}
	signal(SIGUSR1, on_usr1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("start %d\n", getpid());
	for (int i = 0; ramp > 0 && !go && held < want; i++) {
		struct timespec ts = {0, (long)(1e9 / ramp)};

		if (make_one(i, 0) < 0) {
			perror("fdhold");
			return 1;
		}
		held++;
		nanosleep(&ts, NULL);
	}
	for (int i = 0; held < want; i++) {
		int k = make_one(i, mix && want - held >= 2);

		if (k < 0) {
			perror("fdhold");
			return 1;
		}
		held += k;
	}
	printf("held %ld\n", held);
	for (;;)
		pause();
}
