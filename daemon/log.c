// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "log.h"

static int max_level = LOG_INFO;
/* Each line gets a "<N>" priority prefix when stderr is not a terminal (a journal stream
 * reads it); -1: not decided yet. */
static int prefix = -1;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool nonblocking;
static char pending[LOG_PENDING_MAX];
static size_t pending_len;
static uint64_t dropped, dropped_reported;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_open_nonblocking(void)
{
	struct stat st;
	int fd, flags;

	if (fstat(STDERR_FILENO, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	if (S_ISSOCK(st.st_mode)) {
		/* A socket cannot be reopened; it is ours (journald's stream for this service). */
		flags = fcntl(STDERR_FILENO, F_GETFL);
		if (flags < 0 || fcntl(STDERR_FILENO, F_SETFL, flags | O_NONBLOCK) < 0)
			return -errno;
	} else {
		/* A pipe's or terminal's description may be shared (a shell): get one of our own.
		 */
		fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (dup2(fd, STDERR_FILENO) < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		close(fd);
	}
	pthread_mutex_lock(&out_lock);
	nonblocking = true;
	pthread_mutex_unlock(&out_lock);
	return 0;
}

/* Write what is pending; lock held. Returns false while stderr takes nothing more now. */
static bool flush_pending(void)
{
	while (pending_len > 0) {
		ssize_t n = write(STDERR_FILENO, pending, pending_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0) {
			/* stderr is gone (EPIPE, EBADF): nothing will ever take these. */
			dropped++;
			pending_len = 0;
			return true;
		}
		memmove(pending, pending + n, pending_len - (size_t)n);
		pending_len -= (size_t)n;
	}
	return true;
}

/* Queue one whole line, or drop it; lock held. */
static void append_line(const char *line, size_t len)
{
	if (pending_len + len > sizeof(pending)) {
		dropped++;
		return;
	}
	memcpy(pending + pending_len, line, len);
	pending_len += len;
}

/* One line (with its "\n") to stderr without waiting; lock held. */
static void emit(const char *line, size_t len)
{
	ssize_t n;

	if (!nonblocking) {
		fwrite(line, 1, len, stderr);
		return;
	}
	/* Behind older lines: keep the order. */
	if (!flush_pending()) {
		append_line(line, len);
		return;
	}
	if (dropped > dropped_reported) {
		char note[128];
		int k =
		    snprintf(note, sizeof(note),
			     "%s%" PRIu64 " log lines dropped: standard error did not take them.\n",
			     prefix ? "<4>" : "", dropped - dropped_reported);

		dropped_reported = dropped;
		append_line(note, (size_t)k);
		if (!flush_pending()) {
			append_line(line, len);
			return;
		}
	}
	do
		n = write(STDERR_FILENO, line, len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN)
		return;
	if (n < 0)
		n = 0;
	/* A partial line must be finished before any other: the rest always fits (pending was
	 * empty). */
	append_line(line + n, len - (size_t)n);
}

size_t log_flush(uint64_t timeout_ns)
{
	uint64_t deadline = now_boottime_ns() + timeout_ns;
	size_t left;

	pthread_mutex_lock(&out_lock);
	for (;;) {
		uint64_t now = now_boottime_ns();
		struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};

		if (!nonblocking || flush_pending() || now >= deadline)
			break;
		pthread_mutex_unlock(&out_lock);
		(void)poll(&p, 1, (int)MAX((deadline - now) / 1000000, 1));
		pthread_mutex_lock(&out_lock);
	}
	left = pending_len;
	pthread_mutex_unlock(&out_lock);
	return left;
}

uint64_t log_get_dropped(void)
{
	uint64_t n;

	pthread_mutex_lock(&out_lock);
	n = dropped;
	pthread_mutex_unlock(&out_lock);
	return n;
}

static void write_line(int level, const char *text)
{
	char line[2100];
	int n;

	if (prefix < 0)
		prefix = !isatty(STDERR_FILENO);
	if (prefix)
		n = snprintf(line, sizeof(line), "<%d>%s\n", level, text);
	else
		n = snprintf(line, sizeof(line), "%s\n", text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&out_lock);
	emit(line, (size_t)n);
	pthread_mutex_unlock(&out_lock);
}

void log_line(int level, const char *text)
{
	write_line(level, text);
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	char buf[2048];
	va_list ap;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;

	/* %m must mean the error passed in, not whatever errno is now. */
	errno = error;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	write_line(level, buf);
	errno = saved;
	return -error;
}
