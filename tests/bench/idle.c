// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * idle - N idle processes for fdwatch's daemon-cost bench.
 *
 * Usage: idle [-n N] [-f FDS]
 *
 * Forks N children (default 1000). Each opens FDS fds (default 4: /dev/null,
 * a pipe pair, a socket) and sleeps in pause(). When all are up the parent
 * prints "ready N" on stdout and waits for SIGTERM or SIGINT; then it kills
 * every child by PID (SIGKILL), reaps them and exits 0. Children also die
 * with the parent (PR_SET_PDEATHSIG), so nothing outlives a killed bench.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t *kids;
static int n_kids;

static void kill_all(void)
{
	for (int i = 0; i < n_kids; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n_kids; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
	n_kids = 0;
}

static void child(pid_t parent, int nfds)
{
	int fds[2];

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	for (int i = 0; i < nfds;) {
		switch (i % 4) {
		case 0:
			if (open("/dev/null", O_RDONLY) < 0)
				_exit(1);
			i++;
			break;
		case 1:
			if (pipe(fds) < 0)
				_exit(1);
			i += 2;
			break;
		default:
			if (socket(AF_UNIX, SOCK_DGRAM, 0) < 0)
				_exit(1);
			i++;
			break;
		}
	}
	for (;;)
		pause();
}

int main(int argc, char *argv[])
{
	int n = 1000, nfds = 4, c, sig;
	pid_t self = getpid();
	sigset_t mask;

	while ((c = getopt(argc, argv, "n:f:")) >= 0) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'f':
			nfds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "Usage: idle [-n N] [-f FDS]\n");
			return 2;
		}
	}
	if (n <= 0 || nfds < 0 || nfds > 1000) {
		fprintf(stderr, "idle: bad -n or -f\n");
		return 2;
	}
	kids = calloc((size_t)n, sizeof(*kids));
	if (!kids)
		return 1;
	/* Blocked before fork: the parent takes them with sigwait(), the
	 * children unblock nothing and die by SIGKILL. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "idle: fork #%d: %s\n", i, strerror(errno));
			kill_all();
			return 1;
		}
		if (pid == 0)
			child(self, nfds);
		kids[n_kids++] = pid;
	}
	printf("ready %d\n", n_kids);
	fflush(stdout);
	sigwait(&mask, &sig);
	kill_all();
	return 0;
}
