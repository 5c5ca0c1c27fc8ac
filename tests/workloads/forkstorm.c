/*
 * forkstorm - short-lived processes at a high rate, like a shell script in a
 * tight loop or a CGI server under load.
 *
 * Models: the fork storm fdwatch's lifecycle records must survive (README
 * "Overhead and limits"). Each child lives a little (most exit at once, some
 * open a few fds first, every --exec-every-th execs /bin/true), so the storm
 * makes fork, exec and exit records of every kind. Children are reaped as
 * they go; at most --parallel live at once.
 *
 * Usage: forkstorm [--rate R] [--duration S] [--exec-every N] [--parallel P]
 *   --rate R        children a second (default 3000), paced on CLOCK_MONOTONIC
 *   --duration S    seconds (default 30)
 *   --exec-every N  every Nth child execs /bin/true (default 10, 0: never)
 *   --parallel P    children alive at once at most (default 64)
 * Stdout: "done <children> <seconds> <rate>" at the end.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child(unsigned long n, unsigned long exec_every)
{
	if (exec_every && n % exec_every == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	/* Some hold a few fds for a moment, as a real short-lived worker does. */
	if (n % 3 == 0) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int p[2];

		if (pipe(p) == 0) {
			close(p[0]);
			close(p[1]);
		}
		if (fd >= 0)
			close(fd);
	}
	_exit(0);
}

int main(int argc, char *argv[])
{
	double rate = 3000, duration = 30, t0, t;
	unsigned long exec_every = 10, parallel = 64, n = 0, live = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--rate"))
			rate = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--duration"))
			duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--exec-every"))
			exec_every = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--parallel"))
			parallel = strtoul(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "usage: forkstorm [--rate R] [--duration S] "
					"[--exec-every N] [--parallel P]\n");
			return 2;
		}
	}
	if (rate <= 0 || parallel == 0)
		return 2;
	t0 = now();
	while ((t = now()) - t0 < duration) {
		pid_t pid;

		/* Reap what exited; wait when too many are alive. */
		while (live > 0 && waitpid(-1, NULL, live >= parallel ? 0 : WNOHANG) > 0)
			live--;
		if ((double)n > (t - t0) * rate) {
			usleep(200);
			continue;
		}
		pid = fork();
		if (pid == 0)
			child(n, exec_every);
		if (pid > 0) {
			n++;
			live++;
		}
	}
	while (live > 0 && waitpid(-1, NULL, 0) > 0)
		live--;
	t = now() - t0;
	printf("done %lu %.1f %.0f\n", n, t, (double)n / t);
	return 0;
}
