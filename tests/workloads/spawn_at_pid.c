/*
 * spawn_at_pid - run a command as a chosen PID, to test PID reuse.
 *
 * Models: the day a leaking process exits and an unrelated one is born with
 * its PID. clone3() with set_tid (Linux >= 5.5, needs CAP_CHECKPOINT_RESTORE
 * or CAP_SYS_ADMIN in the initial PID namespace) makes the child exactly PID;
 * the child execs the command, the parent waits for it and exits with its
 * status. Bounded by the command itself.
 *
 * Usage: spawn_at_pid PID COMMAND [ARG...]
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	struct clone_args args = {.exit_signal = SIGCHLD};
	pid_t want, child;
	int status;

	if (argc < 3) {
		fprintf(stderr, "usage: spawn_at_pid PID COMMAND [ARG...]\n");
		return 2;
	}
	want = (pid_t)atoi(argv[1]);
	args.set_tid = (uint64_t)(uintptr_t)&want;
	args.set_tid_size = 1;
	child = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (child < 0) {
		fprintf(stderr, "spawn_at_pid: clone3(set_tid=%d): %s\n", want, strerror(errno));
		return 1;
	}
	if (child == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "spawn_at_pid: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	if (waitpid(child, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
