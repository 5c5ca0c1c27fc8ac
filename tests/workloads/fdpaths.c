/*
 * fdpaths - one process that gains and loses fds by every path, on command, for exact-accounting
 * tests (README "Exact counts").
 *
 * Models: nothing realistic; it is the ground truth fdwatch's counts are checked against. A test
 * writes commands to its stdin, one a line, and reads exactly one reply line per command:
 *
 *   ok <n>                  the command completed; n = open fds of this process, counted by
 *                           reading /proc/self/fd (the dirfd used to read it is not counted)
 *   err <ERRNO> <message>   the command failed; fds it made before failing stay open
 *
 * Blank lines and lines starting with '#' get no reply. "fork" also prints "child <pid> <n>"
 * (from the child, n = the child's open fds) before its ok line. It exits on EOF, "exit" (no
 * reply) or after --idle-timeout seconds (default 120) without input, releasing its children.
 *
 * Every fd a command makes stays open and goes on a list that close/closeall/dup* act on. Every
 * fd kept is non-CLOEXEC (flags cleared where the syscall forces CLOEXEC), except the five that
 * cloexec_exec makes on purpose, so an exec closes exactly those.
 *
 *   open         SYS_open("/dev/null")          +1   (the raw syscall: glibc's open() is openat)
 *   openat       openat(AT_FDCWD, "/dev/null")  +1
 *   openat2      SYS_openat2                    +1
 *   creat        SYS_creat in $TMPDIR, unlinked +1
 *   open_by_handle  name_to_handle_at(".") + open_by_handle_at(AT_FDCWD)  +1 (err if unsupported)
 *   pipe / pipe2 SYS_pipe / SYS_pipe2           +2
 *   socket       AF_INET TCP socket             +1
 *   socketpair   AF_UNIX stream pair            +2
 *   accept4 / accept  client connect()ed to a kept 127.0.0.1 listener, accepted: +2, and +1 the
 *                first time (the listener; it is not on the list, closeall leaves it)
 *   dup          dup(the last fd made, or fd 0)  +1
 *   dup2 / dup3  of the same, onto the lowest free fd >= 100   +1
 *   fcntl_dupfd  fcntl(F_DUPFD_CLOEXEC) of the same   +1
 *   eventfd epoll signalfd timerfd inotify memfd pidfd      +1 each (glibc wrappers: eventfd2,
 *                epoll_create1, signalfd4, inotify_init1, ...)
 *   sys_eventfd sys_signalfd epoll_create inotify_init      +1 each (the older syscalls)
 *   pidfd_getfd  pidfd_getfd(pidfd_open(self), last fd)    +1 (the helper pidfd: +1 -1)
 *   fanotify userfaultfd perf_event io_uring               +1 each (need privilege)
 *   close        close the last fd made          -1
 *   closeall     close every fd made             -all
 *   close_range  make 10 consecutive fds, close_range() them   0
 *   dup2_onto_open  dup2(second-last fd, last fd): one implicit close   0
 *   cloexec_exec open 5 O_CLOEXEC + 2 plain, execv itself; the new image rebuilds its state from
 *                argv and prints the ok line   +2 (+7 before the exec, -5 by it)
 *   scm_rights   socketpair; a child opens 3 fds and sends them; the parent keeps its end + 3  +4
 *   threads N    N threads open 10 fds each, joined   +10N
 *   fork         a child opens 5 fds, prints "child <pid> <n>", waits for "release"; the parent
 *                keeps a control pipe end (not on the list)   +1
 *   release      let every child exit, reap them, close the control pipes   -1 per child
 *   many N       N x open("/dev/null")          +N
 *   emfile / emfile_pipe  soft RLIMIT_NOFILE = count+5, then open() / pipe2() until EMFILE;
 *                replies ok (EMFILE is the expected end); the limit stays lowered
 *   rlimit N     set the soft RLIMIT_NOFILE      0
 *   count        nothing                         0
 *   sleep S      sleep S seconds (fractions ok)  0
 *
 * Example: printf 'open\npipe\nthreads 4\nclose_range\nexit\n' | build/workloads/fdpaths
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fanotify.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define MAX_CHILDREN 64

static int *made; /* fds made by commands, oldest first */
static size_t n_made, cap_made;
static pthread_mutex_t made_lock = PTHREAD_MUTEX_INITIALIZER;

static int listener = -1; /* lazily made for accept/accept4, kept, not on the list */

static struct child {
	pid_t pid;
	int ctl; /* write end of a pipe; a byte on it lets the child exit */
} children[MAX_CHILDREN];
static int n_children;

static unsigned idle_timeout = 120;
static volatile sig_atomic_t idle;
static char errmsg[256];

/* Records errno with what failed; returns -errno for a command to return. */
static int fail(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	len = strlen(errmsg);
	snprintf(errmsg + len, sizeof(errmsg) - len, ": %s", strerror(e));
	return -e;
}

static int fail_with(int e, const char *what)
{
	errno = e;
	return fail("%s", what);
}

/* Puts fd on the list; a negative fd is a failure of the syscall `what`. Thread-safe. */
static int add(int fd, const char *what)
{
	if (fd < 0)
		return fail("%s", what);
	pthread_mutex_lock(&made_lock);
	if (n_made == cap_made) {
		cap_made = cap_made ? 2 * cap_made : 256;
		made = realloc(made, cap_made * sizeof(*made));
		if (!made)
			abort();
	}
	made[n_made++] = fd;
	pthread_mutex_unlock(&made_lock);
	return 0;
}

/* Makes fd survive exec, for syscalls that always set CLOEXEC (see the header). */
static int keep_on_exec(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFD, 0);
	return fd;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int lowest_free_fd(int from)
{
	while (fd_is_open(from))
		from++;
	return from;
}

static int last_made(void)
{
	return n_made ? made[n_made - 1] : 0;
}

static int dev_null(void)
{
	return open("/dev/null", O_RDONLY);
}

static int cmd_open(const char *arg)
{
	return add(syscall(SYS_open, "/dev/null", O_RDONLY), "open /dev/null");
}

static int cmd_openat(const char *arg)
{
	return add(openat(AT_FDCWD, "/dev/null", O_RDONLY), "openat /dev/null");
}

static int cmd_openat2(const char *arg)
{
	struct open_how how = {.flags = O_RDONLY};

	return add(syscall(SYS_openat2, AT_FDCWD, "/dev/null", &how, sizeof(how)), "openat2");
}

static int cmd_creat(const char *arg)
{
	static unsigned seq;
	const char *dir = getenv("TMPDIR") ?: "/tmp";
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/fdpaths.%d.%u", dir, (int)getpid(), seq++);
	fd = syscall(SYS_creat, path, 0600);
	if (fd >= 0)
		unlink(path); /* the fd keeps the file; nothing is left behind */
	return add(fd, path);
}

/* The handle is for the cwd and AT_FDCWD is the mount fd, so no helper fd is opened. */
static int cmd_open_by_handle(const char *arg)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h = {.fh.handle_bytes = MAX_HANDLE_SZ};
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, ".", &h.fh, &mount_id, 0) < 0)
		return fail("name_to_handle_at .");
	return add(open_by_handle_at(AT_FDCWD, &h.fh, O_RDONLY), "open_by_handle_at");
}

static int add_pair(int r, int *p, const char *what)
{
	if (r < 0)
		return fail("%s", what);
	add(p[0], what);
	return add(p[1], what);
}

static int cmd_pipe(const char *arg)
{
	int p[2];

	return add_pair(syscall(SYS_pipe, p), p, "pipe");
}

static int cmd_pipe2(const char *arg)
{
	int p[2];

	return add_pair(syscall(SYS_pipe2, p, O_NONBLOCK), p, "pipe2");
}

static int cmd_socket(const char *arg)
{
	return add(socket(AF_INET, SOCK_STREAM, 0), "socket");
}

static int cmd_socketpair(const char *arg)
{
	int sv[2];

	return add_pair(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), sv, "socketpair");
}

static int connect_accept(bool four)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int c, r;

	if (listener < 0) {
		listener = socket(AF_INET, SOCK_STREAM, 0);
		if (listener < 0)
			return fail("listener socket");
		if (bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(listener, 64) < 0)
			return fail("listener bind/listen");
	}
	if (getsockname(listener, (struct sockaddr *)&sa, &len) < 0)
		return fail("getsockname");
	c = socket(AF_INET, SOCK_STREAM, 0);
	if ((r = add(c, "client socket")) < 0)
		return r;
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("connect");
	if (four)
		return add(accept4(listener, NULL, NULL, 0), "accept4");
	return add(syscall(SYS_accept, listener, NULL, NULL), "accept");
}

static int cmd_accept4(const char *arg)
{
	return connect_accept(true);
}

static int cmd_accept(const char *arg)
{
	return connect_accept(false);
}

static int cmd_dup(const char *arg)
{
	return add(dup(last_made()), "dup");
}

static int cmd_dup2(const char *arg)
{
	return add(syscall(SYS_dup2, last_made(), lowest_free_fd(100)), "dup2");
}

static int cmd_dup3(const char *arg)
{
	return add(dup3(last_made(), lowest_free_fd(100), 0), "dup3");
}

static int cmd_fcntl_dupfd(const char *arg)
{
	return add(keep_on_exec(fcntl(last_made(), F_DUPFD_CLOEXEC, 0)), "fcntl F_DUPFD_CLOEXEC");
}

static int cmd_eventfd(const char *arg)
{
	return add(eventfd(0, 0), "eventfd");
}

static int cmd_sys_eventfd(const char *arg)
{
	return add(syscall(SYS_eventfd, 0), "SYS_eventfd");
}

static int cmd_epoll(const char *arg)
{
	return add(epoll_create1(0), "epoll_create1");
}

static int cmd_epoll_create(const char *arg)
{
	return add(syscall(SYS_epoll_create, 1), "SYS_epoll_create");
}

static int cmd_signalfd(const char *arg)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	return add(signalfd(-1, &mask, 0), "signalfd");
}

static int cmd_sys_signalfd(const char *arg)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	return add(syscall(SYS_signalfd, -1, &mask, _NSIG / 8), "SYS_signalfd");
}

static int cmd_timerfd(const char *arg)
{
	return add(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd_create");
}

static int cmd_inotify(const char *arg)
{
	return add(inotify_init1(0), "inotify_init1");
}

static int cmd_inotify_init(const char *arg)
{
	return add(syscall(SYS_inotify_init), "SYS_inotify_init");
}

static int cmd_memfd(const char *arg)
{
	return add(memfd_create("fdpaths", 0), "memfd_create");
}

static int cmd_pidfd(const char *arg)
{
	return add(keep_on_exec(syscall(SYS_pidfd_open, getpid(), 0)), "pidfd_open");
}

static int cmd_pidfd_getfd(const char *arg)
{
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0), fd, e;

	if (pidfd < 0)
		return fail("pidfd_open");
	fd = keep_on_exec(syscall(SYS_pidfd_getfd, pidfd, last_made(), 0));
	e = errno;
	close(pidfd); /* the helper pidfd: +1 -1 */
	errno = e;
	return add(fd, "pidfd_getfd");
}

static int cmd_fanotify(const char *arg)
{
	return add(syscall(SYS_fanotify_init, FAN_CLASS_NOTIF, O_RDONLY), "fanotify_init");
}

static int cmd_userfaultfd(const char *arg)
{
	return add(syscall(SYS_userfaultfd, 0), "userfaultfd");
}

static int cmd_perf_event(const char *arg)
{
	struct perf_event_attr pa = {
	    .type = PERF_TYPE_SOFTWARE,
	    .size = sizeof(pa),
	    .config = PERF_COUNT_SW_TASK_CLOCK,
	    .disabled = 1,
	};

	return add(syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0), "perf_event_open");
}

static int cmd_io_uring(const char *arg)
{
	struct io_uring_params p = {0};

	return add(syscall(SYS_io_uring_setup, 4, &p), "io_uring_setup");
}

static int cmd_close(const char *arg)
{
	if (!n_made)
		return fail_with(ENOENT, "no fd to close");
	if (close(made[--n_made]) < 0)
		return fail("close %d", made[n_made]);
	return 0;
}

static int cmd_closeall(const char *arg)
{
	int r = 0, e;

	while (n_made)
		if ((e = cmd_close(NULL)) < 0)
			r = e;
	return r;
}

/* Ten consecutive fds: plain opens when the ten lowest free fds are consecutive (they take the
 * lowest free number each), else dup2() of one open onto a free run. */
static int cmd_close_range(const char *arg)
{
	int base = lowest_free_fd(0), i, fd;

	for (i = 0; i < 10; i++)
		if (fd_is_open(base + i))
			break;
	if (i == 10) {
		for (i = 0; i < 10; i++)
			if ((fd = dev_null()) != base + i)
				return fd < 0 ? fail("open") : fail_with(EBADFD, "not consecutive");
	} else {
		for (base = lowest_free_fd(100);; base = lowest_free_fd(base + 1)) {
			for (i = 0; i < 10 && !fd_is_open(base + i); i++)
				;
			if (i == 10)
				break;
		}
		if ((fd = dev_null()) < 0)
			return fail("open");
		for (i = 0; i < 10; i++)
			if (syscall(SYS_dup2, fd, base + i) < 0)
				return fail("dup2 onto %d", base + i);
		close(fd);
	}
	if (syscall(SYS_close_range, base, base + 9, 0) < 0)
		return fail("close_range %d-%d", base, base + 9);
	return 0;
}

static int cmd_dup2_onto_open(const char *arg)
{
	if (n_made < 2)
		return fail_with(ENOENT, "need two fds made");
	if (syscall(SYS_dup2, made[n_made - 2], made[n_made - 1]) < 0)
		return fail("dup2");
	return 0;
}

/* Encodes the list as runs "a-b,c,..." so 100k fds still fit in one argv string. */
static char *encode_made(void)
{
	size_t len = 0, cap = 64;
	char *s = malloc(cap);

	s[0] = '\0';
	for (size_t i = 0; i < n_made;) {
		size_t j = i;

		while (j + 1 < n_made && made[j + 1] == made[j] + 1)
			j++;
		if (cap - len < 32 && !(s = realloc(s, cap *= 2)))
			abort();
		len += sprintf(s + len, "%s%d", i ? "," : "", made[i]);
		if (j > i)
			len += sprintf(s + len, "-%d", made[j]);
		i = j + 1;
	}
	return s;
}

static void decode_made(const char *s)
{
	while (*s) {
		char *end;
		int a = strtol(s, &end, 10), b = a;

		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (; a <= b; a++)
			if (fd_is_open(a)) /* the O_CLOEXEC ones are gone */
				add(a, "");
		s = *end ? end + 1 : end;
	}
}

static int cmd_cloexec_exec(const char *arg)
{
	char *argv[16], ls[16], timeout[16], kids[MAX_CHILDREN * 24] = "";
	int i, r, k = 0;

	for (i = 0; i < 7; i++)
		if ((r = add(open("/dev/null", O_RDONLY | (i < 5 ? O_CLOEXEC : 0)), "open")) < 0)
			return r;
	snprintf(ls, sizeof(ls), "%d", listener);
	snprintf(timeout, sizeof(timeout), "%u", idle_timeout);
	for (i = 0; i < n_children; i++)
		sprintf(kids + strlen(kids), "%s%d:%d", i ? "," : "", (int)children[i].pid,
			children[i].ctl);
	argv[k++] = "fdpaths";
	argv[k++] = "--idle-timeout";
	argv[k++] = timeout;
	argv[k++] = "--resume";
	argv[k++] = encode_made();
	argv[k++] = ls;
	argv[k++] = kids;
	argv[k] = NULL;
	fflush(stdout);
	execv("/proc/self/exe", argv);
	r = fail("execv /proc/self/exe");
	free(argv[4]);
	return r;
}

static int cmd_scm_rights(const char *arg)
{
	char byte, cbuf[CMSG_SPACE(3 * sizeof(int))] = {0};
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	int sv[2], fds[3], status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail("socketpair");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		int p[2];

		if (pipe(p) < 0)
			_exit(1);
		fds[0] = dev_null();
		fds[1] = p[0];
		fds[2] = p[1];
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		byte = 'f';
		_exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 1);
	}
	close(sv[1]);
	add(sv[0], "socketpair");
	if (recvmsg(sv[0], &mh, 0) < 0)
		return fail("recvmsg");
	waitpid(pid, &status, 0);
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(fds)))
		return fail_with(EPROTO, "no SCM_RIGHTS with 3 fds");
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	for (int i = 0; i < 3; i++)
		add(fds[i], "");
	return 0;
}

static void *thread_open10(void *arg)
{
	intptr_t r = 0;

	for (int i = 0; i < 10 && r == 0; i++)
		r = add(dev_null(), "open in thread");
	return (void *)r;
}

static int cmd_threads(const char *arg)
{
	int n = arg ? atoi(arg) : 0, started, r = 0, e;
	pthread_t *t;
	void *ret;

	if (n <= 0)
		return fail_with(EINVAL, "usage: threads N");
	t = calloc(n, sizeof(*t));
	for (started = 0; started < n; started++)
		if ((e = pthread_create(&t[started], NULL, thread_open10, NULL))) {
			r = fail_with(e, "pthread_create");
			break;
		}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], &ret);
		if (r == 0 && (intptr_t)ret < 0)
			r = (intptr_t)ret; /* errmsg was set by that thread */
	}
	free(t);
	return r;
}

static int cmd_fork(const char *arg)
{
	int ctl[2], ready[2];
	pid_t parent = getpid(), pid;
	char c;

	if (n_children == MAX_CHILDREN)
		return fail_with(EAGAIN, "too many children");
	if (pipe(ctl) < 0)
		return fail("pipe");
	if (pipe(ready) < 0) {
		close(ctl[0]);
		close(ctl[1]);
		return fail("pipe");
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		/* Never outlive the parent, even if it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(ctl[1]);
		close(ready[0]);
		for (int i = 0; i < 5; i++)
			dev_null();
		printf("child %d %d\n", (int)getpid(), count_fds());
		fflush(stdout);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ctl[0]);
	close(ready[1]);
	while (read(ready[0], &c, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	children[n_children].pid = pid;
	children[n_children++].ctl = ctl[1];
	return 0;
}

static int cmd_release(const char *arg)
{
	while (n_children > 0) {
		struct child *ch = &children[--n_children];

		if (write(ch->ctl, "x", 1) != 1)
			kill(ch->pid, SIGKILL);
		close(ch->ctl);
		waitpid(ch->pid, NULL, 0);
	}
	return 0;
}

static int cmd_many(const char *arg)
{
	int n = arg ? atoi(arg) : 0, r = 0;

	if (n <= 0)
		return fail_with(EINVAL, "usage: many N");
	for (int i = 0; i < n && r == 0; i++)
		r = add(dev_null(), "open /dev/null");
	return r;
}

static int set_soft_limit(rlim_t soft)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return fail("getrlimit");
	rl.rlim_cur = soft;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return fail("setrlimit %lu", (unsigned long)soft);
	return 0;
}

static int emfile(bool use_pipe)
{
	int n = count_fds(), r, p[2];

	if (n < 0)
		return fail_with(-n, "count fds");
	if ((r = set_soft_limit(n + 5)) < 0)
		return r;
	for (;;) {
		if (use_pipe)
			r = add_pair(pipe2(p, 0), p, "pipe2");
		else
			r = add(dev_null(), "open /dev/null");
		if (r == -EMFILE)
			return 0; /* the expected end */
		if (r < 0)
			return r;
	}
}

static int cmd_emfile(const char *arg)
{
	return emfile(false);
}

static int cmd_emfile_pipe(const char *arg)
{
	return emfile(true);
}

static int cmd_rlimit(const char *arg)
{
	if (!arg || atol(arg) <= 0)
		return fail_with(EINVAL, "usage: rlimit N");
	return set_soft_limit(atol(arg));
}

static int cmd_count(const char *arg)
{
	return 0;
}

static int cmd_sleep(const char *arg)
{
	double s = arg ? atof(arg) : 0;
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};

	if (s < 0)
		return fail_with(EINVAL, "usage: sleep S");
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(const char *arg);
} commands[] = {
    {"open", cmd_open},
    {"openat", cmd_openat},
    {"openat2", cmd_openat2},
    {"creat", cmd_creat},
    {"open_by_handle", cmd_open_by_handle},
    {"pipe", cmd_pipe},
    {"pipe2", cmd_pipe2},
    {"socket", cmd_socket},
    {"socketpair", cmd_socketpair},
    {"accept4", cmd_accept4},
    {"accept", cmd_accept},
    {"dup", cmd_dup},
    {"dup2", cmd_dup2},
    {"dup3", cmd_dup3},
    {"fcntl_dupfd", cmd_fcntl_dupfd},
    {"eventfd", cmd_eventfd},
    {"sys_eventfd", cmd_sys_eventfd},
    {"epoll", cmd_epoll},
    {"epoll_create", cmd_epoll_create},
    {"signalfd", cmd_signalfd},
    {"sys_signalfd", cmd_sys_signalfd},
    {"timerfd", cmd_timerfd},
    {"inotify", cmd_inotify},
    {"inotify_init", cmd_inotify_init},
    {"memfd", cmd_memfd},
    {"pidfd", cmd_pidfd},
    {"pidfd_getfd", cmd_pidfd_getfd},
    {"fanotify", cmd_fanotify},
    {"userfaultfd", cmd_userfaultfd},
    {"perf_event", cmd_perf_event},
    {"io_uring", cmd_io_uring},
    {"close", cmd_close},
    {"closeall", cmd_closeall},
    {"close_range", cmd_close_range},
    {"dup2_onto_open", cmd_dup2_onto_open},
    {"cloexec_exec", cmd_cloexec_exec},
    {"scm_rights", cmd_scm_rights},
    {"threads", cmd_threads},
    {"fork", cmd_fork},
    {"release", cmd_release},
    {"many", cmd_many},
    {"emfile", cmd_emfile},
    {"emfile_pipe", cmd_emfile_pipe},
    {"rlimit", cmd_rlimit},
    {"count", cmd_count},
    {"sleep", cmd_sleep},
};

static void reply(int r)
{
	int n = r < 0 ? r : count_fds();

	if (n >= 0) {
		printf("ok %d\n", n);
	} else {
		if (r == 0)
			snprintf(errmsg, sizeof(errmsg), "count fds: %s", strerror(-n));
		printf("err %s %s\n", strerrorname_np(-n) ?: "E?", errmsg);
	}
	fflush(stdout);
}

/* Reads one line with read(2), byte by byte: stdio would read ahead, and the bytes it buffered
 * would be lost at cloexec_exec. Returns the length, 0 at EOF, -1 on idle timeout. */
static int read_line(char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR && !idle)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return len ? (int)len : 0;
		if (c == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = c;
	}
	buf[len] = '\0';
	return len ? (int)len : 1; /* an empty line is not EOF */
}

static void on_alarm(int sig)
{
	idle = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: read() must return */
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_DFL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc) {
			idle_timeout = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--resume") && i + 3 < argc) {
			/* The new image after cloexec_exec: rebuild the state and finish the
			 * command. */
			char *kid = argv[i + 3];

			decode_made(argv[i + 1]);
			listener = atoi(argv[i + 2]);
			while (*kid && n_children < MAX_CHILDREN) {
				children[n_children].pid = strtol(kid, &kid, 10);
				children[n_children++].ctl = strtol(kid + 1, &kid, 10);
				if (*kid == ',')
					kid++;
			}
			i += 3;
			reply(0);
		} else {
			fprintf(stderr, "usage: %s [--idle-timeout S]  (commands on stdin)\n",
				argv[0]);
			return 2;
		}
	}

	for (;;) {
		char *cmd, *arg;
		const struct command *c = NULL;
		int r;

		alarm(idle_timeout);
		r = read_line(line, sizeof(line));
		alarm(0);
		if (r < 0) {
			fprintf(stderr, "fdpaths: no input for %u s, exiting\n", idle_timeout);
			break;
		}
		if (r == 0)
			break;
		cmd = strtok(line, " \t\r");
		if (!cmd || cmd[0] == '#')
			continue;
		if (!strcmp(cmd, "exit"))
			break;
		arg = strtok(NULL, " \t\r");
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(cmd, commands[i].name))
				c = &commands[i];
		errmsg[0] = '\0';
		if (!c) {
			snprintf(errmsg, sizeof(errmsg), "unknown command: %s", cmd);
			reply(-EINVAL);
		} else {
			reply(c->run(arg));
		}
	}
	cmd_release(NULL);
	return 0;
}
