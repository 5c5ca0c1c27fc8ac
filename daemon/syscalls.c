// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <sys/syscall.h>

#include "syscalls.h"
#include "util.h"

/* One syscall a line reads better than the formatter's layout of the macro. */
// clang-format off
#define SC(n, a, k) { #n, __NR_##n, FDW_ACT_##a, FDW_KIND_##k }

/* Syscalls that exist only on some architectures sit behind #ifdef __NR_x. */
static const struct fdw_syscall table[] = {
#ifdef __NR_open
	SC(open, CREATE, FILE),
#endif
#ifdef __NR_creat
	SC(creat, CREATE, FILE),
#endif
	SC(openat, CREATE, FILE),
#ifdef __NR_openat2
	SC(openat2, CREATE, FILE),
#endif
	SC(open_by_handle_at, CREATE, FILE),
#ifdef __NR_pipe
	SC(pipe, CREATE_PAIR, PIPE),
#endif
	SC(pipe2, CREATE_PAIR, PIPE),
	SC(socket, CREATE, SOCKET),
	SC(socketpair, CREATE_PAIR, SOCKET),
	SC(accept, CREATE, SOCKET),
	SC(accept4, CREATE, SOCKET),
	SC(dup, CREATE, DUP),
#ifdef __NR_dup2
	SC(dup2, DUP2, DUP),
#endif
	SC(dup3, DUP2, DUP),
	SC(fcntl, FCNTL, DUP),
#ifdef __NR_eventfd
	SC(eventfd, CREATE, EVENTFD),
#endif
	SC(eventfd2, CREATE, EVENTFD),
#ifdef __NR_epoll_create
	SC(epoll_create, CREATE, EPOLL),
#endif
	SC(epoll_create1, CREATE, EPOLL),
#ifdef __NR_signalfd
	SC(signalfd, CREATE, SIGNALFD),
#endif
	SC(signalfd4, CREATE, SIGNALFD),
	SC(timerfd_create, CREATE, TIMERFD),
#ifdef __NR_inotify_init
	SC(inotify_init, CREATE, INOTIFY),
#endif
	SC(inotify_init1, CREATE, INOTIFY),
	SC(fanotify_init, CREATE, FANOTIFY),
	SC(memfd_create, CREATE, MEMFD),
#ifdef __NR_memfd_secret
	SC(memfd_secret, CREATE, MEMFD),
#endif
	SC(pidfd_open, CREATE, PIDFD),
	SC(pidfd_getfd, CREATE, PIDFD),
	SC(io_uring_setup, CREATE, IO_URING),
	SC(userfaultfd, CREATE, OTHER),
	SC(perf_event_open, CREATE, OTHER),
	SC(mq_open, CREATE, OTHER),
	SC(fsopen, CREATE, OTHER),
	SC(fsmount, CREATE, OTHER),
	SC(fspick, CREATE, OTHER),
	SC(open_tree, CREATE, OTHER),
#ifdef __NR_landlock_create_ruleset
	SC(landlock_create_ruleset, CREATE, OTHER),
#endif
	SC(close, CLOSE, FILE),
	SC(close_range, CLOSE_RANGE, FILE),
};
// clang-format on

const struct fdw_syscall *fdw_syscalls(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(table);
	return table;
}

const char *fdw_syscall_name(int nr)
{
	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (table[i].nr == nr)
			return table[i].name;
	return NULL;
}
