// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Unit tests of the /proc readers, on fake /proc trees and on the real /proc/self. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>

#include "proc.h"
#include "util.h"
#include "proc-fixture.h"

static void test_stat_comm_with_parens_and_spaces(void **state)
{
	char *root = fixture_new();
	struct proc_stat st;

	fixture_proc(root, 42, "x", 1, 0, 0);
	fixture_stat(root, 42, "we ird) (x", 123456);
	assert_int_equal(proc_read_stat(root, 42, &st), 0);
	assert_string_equal(st.comm, "we ird) (x");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.start_ticks, 123456);
	fixture_free(root);
}

static void test_stat_malformed(void **state)
{
	static const char *const bad[] = {
	    "", "42 comm S 1", "42 (comm S 1 2 3", "42 (comm) S", "42 (comm) S 1 2 3 4 5\n",
	};
	char *root = fixture_new();
	struct proc_stat st;

	fixture_proc(root, 42, "x", 1, 0, 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		fixture_write(root, 42, "stat", bad[i], strlen(bad[i]));
		assert_int_equal(proc_read_stat(root, 42, &st), -EBADMSG);
	}
	fixture_free(root);
}

static void test_missing_process(void **state)
{
	char *root = fixture_new();
	struct proc_stat st;
	uint64_t n, soft, hard;
	uid_t uid;

	assert_int_equal(proc_read_stat(root, 7, &st), -ENOENT);
	assert_int_equal(proc_count_fds(root, 7, false, &n), -ENOENT);
	assert_int_equal(proc_count_fds(root, 7, true, &n), -ENOENT);
	assert_int_equal(proc_read_nofile(root, 7, &soft, &hard), -ENOENT);
	assert_int_equal(proc_read_uid(root, 7, &uid), -ENOENT);
	fixture_free(root);
}

static void test_nofile(void **state)
{
	static const struct {
		const char *soft, *hard;
		uint64_t want_soft, want_hard;
	} cases[] = {
	    {"1024", "524288", 1024, 524288},
	    {"unlimited", "unlimited", FD_LIMIT_INFINITY, FD_LIMIT_INFINITY},
	    {"0", "4096", 0, 4096},
	};
	char *root = fixture_new();
	uint64_t soft, hard;

	fixture_proc(root, 9, "x", 1, 0, 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		fixture_limits(root, 9, cases[i].soft, cases[i].hard);
		assert_int_equal(proc_read_nofile(root, 9, &soft, &hard), 0);
		assert_int_equal(soft, cases[i].want_soft);
		assert_int_equal(hard, cases[i].want_hard);
	}
	fixture_write(root, 9, "limits", "Max processes 1 1\n", 18);
	assert_int_equal(proc_read_nofile(root, 9, &soft, &hard), -EBADMSG);
	fixture_free(root);
}

static void test_uid(void **state)
{
	char *root = fixture_new();
	uid_t uid = 0;

	fixture_proc(root, 5, "x", 1, 1000, 0);
	assert_int_equal(proc_read_uid(root, 5, &uid), 0);
	assert_int_equal(uid, 1000);
	fixture_write(root, 5, "status", "Name:\tx\n", 8);
	assert_int_equal(proc_read_uid(root, 5, &uid), -EBADMSG);
	fixture_free(root);
}

static void test_cmdline(void **state)
{
	char *root = fixture_new();
	char *s = NULL;

	fixture_proc(root, 5, "x", 1, 0, 0);
	assert_int_equal(proc_read_cmdline(root, 5, 100, &s), 0);
	assert_string_equal(s, "/usr/bin/app --serve");
	free(s);
	/* Cut at 4 bytes; never inside a UTF-8 sequence ("ab" + "é" is 4 bytes: 'a' 'b' 0xC3 0xA9).
	 */
	fixture_write(root, 5, "cmdline", "ab\xc3\xa9\0x\0", 7);
	assert_int_equal(proc_read_cmdline(root, 5, 3, &s), 0);
	assert_string_equal(s, "ab");
	free(s);
	assert_int_equal(proc_read_cmdline(root, 5, 4, &s), 0);
	assert_string_equal(s, "ab\xc3\xa9");
	free(s);
	/* Kernel threads have an empty cmdline. */
	fixture_write(root, 5, "cmdline", "", 0);
	assert_int_equal(proc_read_cmdline(root, 5, 100, &s), 0);
	assert_string_equal(s, "");
	free(s);
	fixture_free(root);
}

static void test_cgroup(void **state)
{
	char *root = fixture_new();
	const char hybrid[] =
	    "12:memory:/foo\n1:name=systemd:/system.slice/a.service\n0::/system.slice/a.service\n";
	char *s = NULL;

	fixture_proc(root, 5, "x", 1, 0, 0);
	assert_int_equal(proc_read_cgroup(root, 5, &s), 0);
	assert_string_equal(s, "/system.slice/x.service");
	free(s);
	fixture_write(root, 5, "cgroup", hybrid, sizeof(hybrid) - 1);
	assert_int_equal(proc_read_cgroup(root, 5, &s), 0);
	assert_string_equal(s, "/system.slice/a.service");
	free(s);
	fixture_write(root, 5, "cgroup", "12:memory:/foo\n", 15);
	assert_int_equal(proc_read_cgroup(root, 5, &s), -ENODATA);
	fixture_free(root);
}

static void test_count_fds_fixture(void **state)
{
	char *root = fixture_new();
	uint64_t n = 99;

	fixture_proc(root, 77, "x", 1, 0, 0);
	assert_int_equal(proc_count_fds(root, 77, false, &n), 0);
	assert_int_equal(n, 0);
	fixture_fds(root, 77, 37);
	assert_int_equal(proc_count_fds(root, 77, false, &n), 0);
	assert_int_equal(n, 37);
	fixture_fds(root, 77, 5);
	assert_int_equal(proc_count_fds(root, 77, false, &n), 0);
	assert_int_equal(n, 5);
	fixture_free(root);
}

static void test_count_fds_real(void **state)
{
	uint64_t slow, fast, after;
	int fds[10];

	/* The real kernel: both ways agree, and follow opens. */
	assert_int_equal(proc_count_fds("/proc", getpid(), false, &slow), 0);
	if (proc_fd_size_is_count("/proc")) {
		assert_int_equal(proc_count_fds("/proc", getpid(), true, &fast), 0);
		/* readdir holds one fd of its own while counting. */
		assert_int_equal(fast + 1, slow);
	}
	for (int i = 0; i < 10; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(proc_count_fds("/proc", getpid(), false, &after), 0);
	assert_int_equal(after, slow + 10);
	for (int i = 0; i < 10; i++)
		close(fds[i]);
}

static void test_list_pids(void **state)
{
	char *root = fixture_new();
	char path[600];
	pid_t *pids = NULL;
	size_t n = 0;
	int seen = 0;

	fixture_proc(root, 1, "init", 1, 0, 0);
	fixture_proc(root, 300, "a", 1, 0, 0);
	snprintf(path, sizeof(path), "%s/self", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/12ab", root);
	mkdir(path, 0755);
	assert_int_equal(proc_list_pids(root, &pids, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		seen |= pids[i] == 1 ? 1 : pids[i] == 300 ? 2 : 4;
	assert_int_equal(seen, 3);
	free(pids);
	fixture_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stat_comm_with_parens_and_spaces),
	    cmocka_unit_test(test_stat_malformed),
	    cmocka_unit_test(test_missing_process),
	    cmocka_unit_test(test_nofile),
	    cmocka_unit_test(test_uid),
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_cgroup),
	    cmocka_unit_test(test_count_fds_fixture),
	    cmocka_unit_test(test_count_fds_real),
	    cmocka_unit_test(test_list_pids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
