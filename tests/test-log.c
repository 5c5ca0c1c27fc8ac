// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test-log.c - the daemon's log never waits for its reader: stderr is a
 * stream socket (what journald gives a service) that nobody reads, with a
 * small send buffer; logging must return at once, keep what fits, count what
 * does not, and deliver whole lines in order once the reader is back.
 * Also: the "<N>" prefix is the line's own level.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int saved_stderr = -1;

/*
 * stderr becomes the writing end of a stream socket (what journald gives a service) or, with
 * pipe, of a pipe (`fdwatchd 2>&1 | less`), buffering about bufsize bytes (0: the default);
 * returns the reading end.
 */
static int redirect_stderr_to(bool pipe_, int bufsize)
{
	int sv[2];

	if (pipe_) {
		assert_int_equal(pipe2(sv, O_CLOEXEC), 0);
		/* pipe2() gives [read, write]; the code below wants the writer first. */
		int t = sv[0];
		sv[0] = sv[1];
		sv[1] = t;
		if (bufsize)
			assert_true(fcntl(sv[0], F_SETPIPE_SZ, bufsize) >= bufsize);
	} else {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		if (bufsize)
			assert_int_equal(
			    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize)), 0);
	}
	if (saved_stderr < 0)
		saved_stderr = dup(STDERR_FILENO);
	assert_int_equal(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	close(sv[0]);
	fcntl(sv[1], F_SETFL, O_NONBLOCK); /* the test's reader never waits either */
	return sv[1];
}

static int redirect_stderr(int bufsize)
{
	return redirect_stderr_to(false, bufsize);
}

static int teardown(void **state)
{
	if (saved_stderr >= 0)
		dup2(saved_stderr, STDERR_FILENO);
	return 0;
}

/* Everything the reader end has now (non-blocking). */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void test_prefix_is_the_level(void **state)
{
	static const struct {
		int level;
		const char *text, *want;
	} cases[] = {
	    {LOG_ALERT, "exhausted", "<1>exhausted\n"},
	    {LOG_CRIT, "critical", "<2>critical\n"},
	    {LOG_WARNING, "leaking", "<4>leaking\n"},
	    {LOG_NOTICE, "recovered", "<5>recovered\n"},
	};
	char buf[256];
	int peer = redirect_stderr(0);

	/* stderr is no terminal: lines get their "<N>" prefix. */
	log_set_max_level(LOG_ERR); /* log_line() is for alerts: no max level applies */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_line(cases[i].level, cases[i].text);
		drain(peer, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	log_info("not shown");
	assert_int_equal(drain(peer, buf, sizeof(buf)), 0);
	log_error("shown");
	drain(peer, buf, sizeof(buf));
	assert_string_equal(buf, "<3>shown\n");
	log_set_max_level(LOG_INFO);
	close(peer);
}

static void check_unread_stderr_never_blocks(bool pipe_)
{
	static char got[4 << 20];
	const int lines = 20000;
	uint64_t t0, took, dropped;
	size_t len = 0;
	int peer, next = 0, notes = 0;
	char *p, *nl;

	peer = redirect_stderr_to(pipe_, 4096);
	log_set_max_level(LOG_INFO);
	assert_int_equal(log_open_nonblocking(), 0);
	assert_true(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK);

	/* ~1.2 MB of lines into a socket nobody reads: a blocking write would hang here. */
	dropped = log_get_dropped(); /* counted since start: this test's are the difference */
	t0 = mono_ns();
	for (int i = 0; i < lines; i++)
		log_info(
		    "line %06d of a reader that does not read ................................", i);
	took = mono_ns() - t0;
	dropped = log_get_dropped() - dropped;
	print_message("# %d lines in %.1f ms, %llu dropped\n", lines, (double)took / 1e6,
		      (unsigned long long)dropped);
	assert_true(took < 2000000000ULL);
	assert_true(dropped > 0 && dropped < (uint64_t)lines);
	assert_true(log_flush(0) > 0); /* the pending buffer still holds lines */

	/* The reader is back: what was kept arrives, then a note of what was not. */
	for (int i = 0; i < 1000 && len < sizeof(got) - 1; i++) {
		struct pollfd pfd = {.fd = peer, .events = POLLIN};

		len += drain(peer, got + len, sizeof(got) - len);
		if (log_flush(0) == 0)
			break;
		(void)poll(&pfd, 1, 10);
	}
	assert_int_equal(log_flush(0), 0);
	log_info("after");
	len += drain(peer, got + len, sizeof(got) - len);

	/* Whole lines, in order, numbered without gaps up to the drops, then the note. */
	for (p = got; (nl = strchr(p, '\n')); p = nl + 1) {
		int k;

		*nl = '\0';
		if (sscanf(p, "<6>line %d of", &k) == 1) {
			assert_int_equal(notes, 0);
			assert_int_equal(k, next);
			next++;
		} else if (strstr(p, "log lines dropped")) {
			assert_true(strncmp(p, "<4>", 3) == 0);
			notes++;
		} else {
			assert_string_equal(p, "<6>after");
			assert_int_equal(notes, 1);
		}
	}
	assert_int_equal(*p, '\0');
	assert_int_equal((uint64_t)next + dropped, (uint64_t)lines);
	close(peer);
}

static void test_unread_stderr_socket_never_blocks(void **state)
{
	check_unread_stderr_never_blocks(false);
}

static void test_unread_stderr_pipe_never_blocks(void **state)
{
	int reader, flags;

	check_unread_stderr_never_blocks(true);
	/* A pipe is reopened: O_NONBLOCK is on a file description of the logger's own, so
	 * whoever else writes to the same pipe (a shell) keeps a blocking one. */
	reader = redirect_stderr_to(true, 0);
	flags = fcntl(STDERR_FILENO, F_GETFL);
	assert_false(flags & O_NONBLOCK);
	{
		int other = dup(STDERR_FILENO);

		assert_int_equal(log_open_nonblocking(), 0);
		assert_true(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK);
		assert_false(fcntl(other, F_GETFL) & O_NONBLOCK);
		close(other);
	}
	close(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_prefix_is_the_level, teardown),
	    cmocka_unit_test_teardown(test_unread_stderr_socket_never_blocks, teardown),
	    cmocka_unit_test_teardown(test_unread_stderr_pipe_never_blocks, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
