// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Unit tests of the fd census, on fake /proc trees whose fd links name pipes, sockets, paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>

#include "census.h"
#include "util.h"
#include "proc-fixture.h"

/* ROOT/PID/fd/FD -> target, and ROOT/PID/fdinfo/FD with flags (octal) when flags >= 0. */
static void fd_link(const char *root, int pid, int fd, const char *target, int flags)
{
	char path[512], info[64], rel[32];
	int n;

	snprintf(path, sizeof(path), "%s/%d/fd", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/fd/%d", root, pid, fd);
	unlink(path);
	if (symlink(target, path) < 0)
		abort();
	if (flags < 0)
		return;
	snprintf(path, sizeof(path), "%s/%d/fdinfo", root, pid);
	mkdir(path, 0755);
	snprintf(rel, sizeof(rel), "fdinfo/%d", fd);
	n = snprintf(info, sizeof(info), "pos:\t0\nflags:\t0%o\nmnt_id:\t16\nino:\t1\n", flags);
	fixture_write(root, pid, rel, info, (size_t)n);
}

static struct census *take(const char *root, int pid, const struct fdw_sock *socks, size_t ns,
			   const struct census_fd_time *times, size_t nt)
{
	struct census_input in = {
	    .root = root,
	    .pid = pid,
	    .now_realtime_ns = 1000 * NSEC_PER_SEC,
	    .socks = socks,
	    .n_socks = ns,
	    .times = times,
	    .n_times = nt,
	};
	struct census *c = NULL;

	assert_int_equal(census_take(&in, &c), 0);
	return c;
}

static const struct census_group *find(const struct census *c, enum census_kind k,
				       const char *label)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i].kind == k && streq(c->groups[i].label, label))
			return &c->groups[i];
	fail_msg("no group %s \"%s\"", census_kind_to_string(k), label);
	return NULL;
}

static void test_pipes(void **state)
{
	char *root = fixture_new();
	const struct census_group *g;
	struct census *c;
	char buf[128];

	fixture_proc(root, 100, "app", 1, 1000, 0);
	fixture_proc(root, 200, "sh", 1, 1000, 0);
	/* Two pairs only here, a pair also held by sh[200], a read end alone. */
	fd_link(root, 100, 3, "pipe:[11]", O_RDONLY);
	fd_link(root, 100, 4, "pipe:[11]", O_WRONLY);
	fd_link(root, 100, 5, "pipe:[12]", O_RDONLY);
	fd_link(root, 100, 6, "pipe:[12]", O_WRONLY);
	fd_link(root, 100, 7, "pipe:[13]", O_RDONLY);
	fd_link(root, 100, 8, "pipe:[13]", O_WRONLY);
	fd_link(root, 200, 0, "pipe:[13]", O_RDONLY);
	fd_link(root, 100, 9, "pipe:[14]", O_RDONLY | O_NONBLOCK);
	c = take(root, 100, NULL, 0, NULL, 0);
	assert_int_equal(c->fds, 7);
	assert_int_equal(c->n_groups, 3);
	assert_int_equal(c->scanned, 1);
	g = find(c, CENSUS_PIPE_ORPHANED, "pipe pairs held only by itself");
	assert_int_equal(g->fds, 4);
	assert_int_equal(g->objects, 2);
	assert_int_equal(g->lowest_fd, 3);
	/* The fixture's pipe links dangle: no stat, so no age. */
	assert_int_equal(g->aged, 0);
	assert_int_equal(census_group_describe(g, c->realtime_ns, buf, sizeof(buf)),
			 strlen("2 pipe pairs held only by itself"));
	assert_string_equal(buf, "2 pipe pairs held only by itself");
	g = find(c, CENSUS_PIPE_SHARED, "pipes shared with sh[200]");
	assert_int_equal(g->fds, 2);
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "2 pipe fds shared with sh[200]");
	g = find(c, CENSUS_PIPE_HALF, "pipe read ends, writer closed");
	assert_int_equal(g->fds, 1);
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "1 pipe read end, writer closed");
	assert_int_equal(c->n_open_fds, 7);
	for (size_t i = 0; i < c->n_open_fds; i++)
		assert_int_equal(c->open_fds[i], 3 + (int)i);
	census_free(c);
	fixture_free(root);
}

/* What the probe's in-kernel pass answers: 13 is also held by 200, 12 by a hidden process. */
static int fake_holders(void *userdata, const uint64_t *inos, size_t n, uint32_t *holders)
{
	(*(int *)userdata)++;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(inos[i - 1] < inos[i]);
		holders[i] = inos[i] == 13 ? 200 : inos[i] == 12 ? CENSUS_HOLDER_HIDDEN : 0;
	}
	return 0;
}

static int failing_holders(void *userdata, const uint64_t *inos, size_t n, uint32_t *holders)
{
	return -E2BIG;
}

static void test_pipe_holders_from_caller(void **state)
{
	char *root = fixture_new();
	struct census_input in = {.root = root, .pid = 100, .pipe_holders = fake_holders};
	struct census *c;
	int calls = 0;

	in.userdata = &calls;
	fixture_proc(root, 100, "app", 1, 1000, 0);
	fixture_proc(root, 200, "sh", 1, 1000, 0);
	fd_link(root, 100, 3, "pipe:[11]", O_RDONLY);
	fd_link(root, 100, 4, "pipe:[11]", O_WRONLY);
	fd_link(root, 100, 5, "pipe:[12]", O_RDONLY);
	fd_link(root, 100, 6, "pipe:[12]", O_WRONLY);
	fd_link(root, 100, 7, "pipe:[13]", O_RDWR);
	assert_int_equal(census_take(&in, &c), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(c->scanned, 0); /* nobody's fds read from root */
	assert_int_equal(find(c, CENSUS_PIPE_ORPHANED, "pipe pairs held only by itself")->fds, 2);
	assert_int_equal(find(c, CENSUS_PIPE_SHARED, "pipes shared with another process")->fds, 2);
	assert_int_equal(find(c, CENSUS_PIPE_SHARED, "pipes shared with sh[200]")->fds, 1);
	census_free(c);
	/* When the caller cannot say, the census reads every process under root itself. */
	in.pipe_holders = failing_holders;
	assert_int_equal(census_take(&in, &c), 0);
	assert_int_equal(c->scanned, 1);
	/* Pipe 13's one fd is read-write: both ends here, nobody else's. */
	assert_int_equal(find(c, CENSUS_PIPE_ORPHANED, "pipe pairs held only by itself")->fds, 5);
	assert_int_equal(find(c, CENSUS_PIPE_ORPHANED, "pipe pairs held only by itself")->objects,
			 3);
	census_free(c);
	fixture_free(root);
}

static struct fdw_sock tcp4(uint64_t ino, uint8_t state, const uint8_t d[4], uint16_t dport)
{
	struct fdw_sock s = {.ino = ino, .family = 2, .type = 1, .protocol = 6, .state = state};

	memcpy(s.daddr, d, 4);
	s.dport = dport;
	return s;
}

static void test_sockets_and_ages(void **state)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};
	struct fdw_sock socks[] = {
	    tcp4(501, 7, lo, 5432),
	    tcp4(502, 7, lo, 5432),
	    tcp4(503, 7, lo, 5432),
	    tcp4(504, 1, lo, 80),
	};
	struct census_fd_time times[] = {
	    {10, 900 * NSEC_PER_SEC},
	    {11, 959 * NSEC_PER_SEC},
	    {12, 950 * NSEC_PER_SEC},
	};
	char *root = fixture_new();
	const struct census_group *g;
	struct census *c;
	char buf[128];

	fixture_proc(root, 100, "app", 1, 1000, 0);
	fd_link(root, 100, 10, "socket:[501]", -1);
	fd_link(root, 100, 11, "socket:[502]", -1);
	fd_link(root, 100, 12, "socket:[503]", -1);
	fd_link(root, 100, 13, "socket:[504]", -1);
	fd_link(root, 100, 14, "socket:[777]", -1); /* the iterator did not see it */
	c = take(root, 100, socks, ELEMENTSOF(socks), times, ELEMENTSOF(times));
	assert_int_equal(c->fds, 5);
	assert_int_equal(c->scanned, 0); /* no pipes: nobody else's fds read */
	g = &c->groups[0];
	assert_int_equal(g->kind, CENSUS_SOCKET);
	assert_string_equal(g->label, "TCP CLOSE to 127.0.0.1:5432");
	assert_int_equal(g->fds, 3);
	assert_int_equal(g->objects, 3);
	assert_int_equal(g->aged, 3);
	assert_int_equal(g->oldest_ns, 900 * NSEC_PER_SEC);
	assert_int_equal(g->newest_ns, 959 * NSEC_PER_SEC);
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "3 TCP sockets CLOSE to 127.0.0.1:5432, oldest 100 s");
	g = find(c, CENSUS_SOCKET, "TCP ESTABLISHED to 127.0.0.1:80");
	assert_int_equal(g->fds, 1);
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "1 TCP socket ESTABLISHED to 127.0.0.1:80");
	g = find(c, CENSUS_SOCKET, "socket");
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "1 socket");
	census_free(c);
	fixture_free(root);
}

static void test_paths_and_anon(void **state)
{
	char *root = fixture_new();
	const struct census_group *g;
	struct census *c;
	char buf[128];

	fixture_proc(root, 100, "app", 1, 1000, 0);
	fd_link(root, 100, 0, "/dev/null", -1);
	fd_link(root, 100, 3, "/var/log/app.log", -1);
	fd_link(root, 100, 4, "/var/log/app.log", -1);
	fd_link(root, 100, 5, "/", -1); /* a real directory */
	fd_link(root, 100, 6, "anon_inode:[eventfd]", -1);
	fd_link(root, 100, 7, "anon_inode:[eventfd]", -1);
	fd_link(root, 100, 8, "anon_inode:inotify", -1);
	fd_link(root, 100, 9, "/memfd:jit-cache (deleted)", -1);
	fd_link(root, 100, 10, "net:[4026531840]", -1);
	c = take(root, 100, NULL, 0, NULL, 0);
	assert_int_equal(c->fds, 9);
	g = find(c, CENSUS_FILE, "/var/log/app.log");
	assert_int_equal(g->fds, 2);
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "2 fds of /var/log/app.log");
	find(c, CENSUS_FILE, "/dev/null");
	find(c, CENSUS_DIRECTORY, "/");
	g = find(c, CENSUS_ANON, "eventfd");
	assert_int_equal(g->fds, 2);
	assert_int_equal(g->objects, 2); /* one shared anon inode, two eventfds */
	census_group_describe(g, c->realtime_ns, buf, sizeof(buf));
	assert_string_equal(buf, "2 eventfd fds");
	find(c, CENSUS_ANON, "inotify");
	find(c, CENSUS_ANON, "memfd:jit-cache");
	find(c, CENSUS_OTHER, "net");
	census_free(c);
	fixture_free(root);
}

static void test_many_paths_by_directory(void **state)
{
	char *root = fixture_new();
	const struct census_group *g;
	struct census *c;

	fixture_proc(root, 100, "app", 1, 1000, 0);
	for (int i = 0; i < 20; i++) {
		char t[64];

		snprintf(t, sizeof(t), "/var/spool/app/job-%d.tmp", i);
		fd_link(root, 100, 3 + i, t, -1);
	}
	fd_link(root, 100, 30, "/etc/app.conf", -1);
	c = take(root, 100, NULL, 0, NULL, 0);
	g = find(c, CENSUS_FILE, "files under /var/spool/app/");
	assert_int_equal(g->fds, 20);
	assert_int_equal(g->objects, 20);
	assert_ptr_equal(g, &c->groups[0]);
	find(c, CENSUS_FILE, "files under /etc/");
	census_free(c);
	fixture_free(root);
}

static void test_group_cap(void **state)
{
	char *root = fixture_new();
	struct census *c;

	fixture_proc(root, 100, "app", 1, 1000, 0);
	for (int i = 0; i < CENSUS_MAX_GROUPS + 8; i++) {
		char t[64];

		snprintf(t, sizeof(t), "anon_inode:[type%02d]", i);
		fd_link(root, 100, 3 + i, t, -1);
	}
	c = take(root, 100, NULL, 0, NULL, 0);
	assert_int_equal(c->n_groups, CENSUS_MAX_GROUPS);
	assert_int_equal(c->other_fds, 8);
	assert_int_equal(c->fds, CENSUS_MAX_GROUPS + 8);
	census_free(c);
	fixture_free(root);
}

static void test_missing(void **state)
{
	char *root = fixture_new();
	struct census_input in = {.root = root, .pid = 4242};
	struct census *c = NULL;

	assert_int_equal(census_take(&in, &c), -ENOENT);
	assert_null(c);
	census_free(NULL);
	fixture_free(root);
}

static void test_sock_labels(void **state)
{
	static const uint8_t v6_lo[16] = {[15] = 1};
	static const uint8_t v6_doc[16] = {0x20, 0x01, 0x0d, 0xb8, [7] = 1, [15] = 5};
	static const uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 7};
	static const uint8_t any4[4] = {0};
	struct {
		struct fdw_sock s;
		const char *want;
	} cases[] = {
	    {{.family = 10, .type = 1, .protocol = 6, .state = 2, .dport = 443}, ""},
	    {{.family = 10, .type = 1, .protocol = 6, .state = 10, .sport = 8080},
	     "TCP6 LISTEN on [::]:8080"},
	    {{.family = 2, .type = 1, .protocol = 6, .state = 10, .sport = 22},
	     "TCP LISTEN on 0.0.0.0:22"},
	    {{.family = 2, .type = 1, .protocol = 6, .state = 7}, "TCP CLOSE unbound"},
	    {{.family = 2, .type = 1, .protocol = 6, .state = 7, .daddr = {10, 1, 2, 3}},
	     "TCP CLOSE to 10.1.2.3"},
	    {{.family = 2, .type = 2, .protocol = 17, .state = 7, .sport = 53},
	     "UDP on 0.0.0.0:53"},
	    {{.family = 10, .type = 2, .protocol = 17, .state = 1, .dport = 53}, ""},
	    {{.family = 10, .type = 1, .protocol = 6, .state = 1, .dport = 5432}, ""},
	    {{.family = 1, .type = 1, .path_len = 14, .path = "/run/app.sock"},
	     "UNIX STREAM /run/app.sock"},
	    {{.family = 1, .type = 2, .path_len = 5, .path = "\0bus1"}, "UNIX DGRAM @bus1"},
	    {{.family = 1, .type = 5}, "UNIX SEQPACKET unnamed"},
	    {{.family = 16, .type = 3}, "socket family 16 RAW"},
	};
	char buf[256];

	memcpy(cases[0].s.daddr, v6_lo, 16);
	cases[0].want = "TCP6 SYN-SENT to [::1]:443";
	memcpy(cases[6].s.daddr, v6_doc, 16);
	cases[6].want = "UDP6 to [2001:db8:0:1::5]:53";
	memcpy(cases[7].s.daddr, mapped, 16);
	cases[7].want = "TCP6 ESTABLISHED to [::ffff:10.0.0.7]:5432";
	memcpy(cases[2].s.saddr, any4, 4);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_string_equal(census_sock_label(&cases[i].s, buf, sizeof(buf)),
				    cases[i].want);
}

/* The real kernel: a pipe pair made here is orphaned, and its age is the pipe's. */
static void test_real_self(void **state)
{
	int p[2], q[2];
	struct census_input in = {
	    .root = "/proc", .pid = getpid(), .now_realtime_ns = now_realtime_ns()};
	const struct census_group *g;
	struct census *c;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(census_take(&in, &c), 0);
	g = find(c, CENSUS_PIPE_ORPHANED, "pipe pairs held only by itself");
	assert_int_equal(g->objects, 2);
	assert_int_equal(g->aged, 4);
	/* Coarse inode clock: within a few ticks of now. */
	assert_true(g->oldest_ns <= in.now_realtime_ns + NSEC_PER_SEC / 10);
	assert_true(g->oldest_ns + 5 * NSEC_PER_SEC > in.now_realtime_ns);
	census_free(c);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipes),
	    cmocka_unit_test(test_pipe_holders_from_caller),
	    cmocka_unit_test(test_sockets_and_ages),
	    cmocka_unit_test(test_paths_and_anon),
	    cmocka_unit_test(test_many_paths_by_directory),
	    cmocka_unit_test(test_group_cap),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_sock_labels),
	    cmocka_unit_test(test_real_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
