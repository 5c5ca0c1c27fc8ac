// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Unit tests of the process table: baselines, counter diffs, reconciliation, PID reuse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proc-table.h"
#include "proc.h"
#include "util.h"
#include "proc-fixture.h"

/* start_boottime (ns) of a process that /proc says started at `ticks`. */
static uint64_t boot_ns(uint64_t ticks)
{
	return ticks * (NSEC_PER_SEC / proc_ticks_per_sec());
}

static struct fdw_counts counts(uint64_t start_ticks)
{
	struct fdw_counts c = {
	    .start_boottime = boot_ns(start_ticks), .max_fd = -1, .last_fail_nr = -1};
	return c;
}

struct ctx {
	char *root;
	struct proc_table *t;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->root = fixture_new();
	assert_int_equal(proc_table_new(c->root, false, &c->t), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	proc_table_free(c->t);
	fixture_free(c->root);
	free(c);
	return 0;
}

static void test_add_baseline(void **state)
{
	struct ctx *c = *state;
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 100, "nginx", 5000, 33, 12);
	assert_int_equal(proc_table_add(c->t, 100, 1, &e), 0);
	assert_non_null(e);
	assert_int_equal(e->fds, 12);
	assert_string_equal(e->comm, "nginx");
	assert_int_equal(e->uid, 33);
	assert_int_equal(e->start_ticks, 5000);
	assert_int_equal(e->soft_limit, 1024);
	assert_int_equal(e->hard_limit, 524288);
	assert_string_equal(e->unit, "nginx.service");
	assert_null(e->container);
	assert_string_equal(e->cmdline, "/usr/bin/app --serve");
	assert_false(e->has_probe);
	assert_int_equal(proc_table_size(c->t), 1);
	/* Adding again finds the same entry. */
	assert_int_equal(proc_table_add(c->t, 100, 2, &e), 0);
	assert_int_equal(proc_table_size(c->t), 1);
	assert_int_equal(proc_table_add(c->t, 101, 2, &e), -ENOENT);
}

static void test_container_identity(void **state)
{
	static const char cg[] = "0::/system.slice/docker-"
				 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
				 ".scope\n";
	struct ctx *c = *state;
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 200, "redis", 6000, 999, 4);
	fixture_write(c->root, 200, "cgroup", cg, sizeof(cg) - 1);
	assert_int_equal(proc_table_add(c->t, 200, 1, &e), 0);
	assert_non_null(e->container);
	assert_int_equal(e->container->runtime, CGROUP_RUNTIME_DOCKER);
	assert_string_equal(e->container->id,
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(e->unit,
			    "docker-"
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			    ".scope");
	/* It exec'd into a plain service: the container is forgotten. */
	fixture_write(c->root, 200, "cgroup", "0::/system.slice/redis.service\n", 31);
	assert_int_equal(proc_table_refresh_identity(c->t, e), 0);
	assert_null(e->container);
	assert_string_equal(e->unit, "redis.service");
}

static void test_kernel_threads_not_tracked(void **state)
{
	struct ctx *c = *state;
	struct proc_entry *e = NULL;
	char buf[256];
	int n;

	fixture_proc(c->root, 2, "kthreadd", 1, 0, 0);
	fixture_proc(c->root, 77, "kworker/0:1", 1, 0, 0);
	/* kworker's parent is kthreadd. */
	n = snprintf(buf, sizeof(buf),
		     "77 (kworker/0:1) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
		     "5 0 0 0\n");
	fixture_write(c->root, 77, "stat", buf, (size_t)n);
	assert_int_equal(proc_table_add(c->t, 2, 1, &e), -EOPNOTSUPP);
	assert_int_equal(proc_table_add(c->t, 77, 1, &e), -EOPNOTSUPP);
	assert_int_equal(proc_table_size(c->t), 0);
	/* An ordinary process (parent 1) is tracked. */
	fixture_proc(c->root, 78, "app", 1, 0, 3);
	assert_int_equal(proc_table_add(c->t, 78, 1, &e), 0);
	assert_int_equal(proc_table_size(c->t), 1);
}

/* A child seen just after its fork holds its parent's fds; one seen later, or init's, its own. */
static void test_inherited_fds(void **state)
{
	uint64_t tps = proc_ticks_per_sec(), now = 1000 * NSEC_PER_SEC;
	struct ctx *c = *state;
	struct proc_entry *e = NULL;
	char buf[256];
	int n;

	fixture_proc(c->root, 300, "bash", 10 * tps, 0, 154);
	assert_int_equal(proc_table_add(c->t, 300, now, &e), 0);
	assert_int_equal(e->ppid, 1);
	assert_int_equal(e->inherited_fds, 0); /* a child of init */
	for (int pid = 301; pid <= 303; pid++) {
		/* 301: 1 s old with the parent's 154 and 2 of its own; 302: 1 min old; 303: its
		 * parent is not tracked. */
		unsigned long long start = (pid == 302 ? 940 : 999) * tps;

		fixture_proc(c->root, pid, "sleep", start, 0, pid == 301 ? 156 : 150);
		n = snprintf(buf, sizeof(buf),
			     "%d (sleep) S %d 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0 0\n",
			     pid, pid == 303 ? 999 : 300, start);
		fixture_write(c->root, pid, "stat", buf, (size_t)n);
		assert_int_equal(proc_table_add(c->t, pid, now, &e), 0);
		assert_int_equal(e->ppid, pid == 303 ? 999 : 300);
		assert_int_equal(e->inherited_fds, pid == 301 ? 154 : 0);
	}
}

static void test_counts_baseline_then_diff(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(700);
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 200, "leaky", 700, 0, 10);
	/* Counts from before we saw it are in the /proc baseline already. */
	k.created[FDW_KIND_PIPE] = 40;
	k.closed = 30;
	assert_int_equal(proc_table_apply_counts(c->t, 200, &k, 1, &e), 1);
	assert_int_equal(e->fds, 10);
	assert_int_equal(e->created[FDW_KIND_PIPE], 40);
	assert_true(e->has_probe);

	/* Nothing new: not changed. */
	assert_int_equal(proc_table_apply_counts(c->t, 200, &k, 2, &e), 0);

	/* +6 pipe, +2 dup, -3 closed: the estimate moves by +5. */
	k.created[FDW_KIND_PIPE] += 6;
	k.created[FDW_KIND_DUP] += 2;
	k.closed += 3;
	k.last_ns = 99;
	k.rlim_cur = 2048;
	k.rlim_max = 4096;
	assert_int_equal(proc_table_apply_counts(c->t, 200, &k, 3, &e), 1);
	assert_int_equal(e->fds, 15);
	assert_int_equal(e->created[FDW_KIND_PIPE], 46);
	assert_int_equal(e->created[FDW_KIND_DUP], 2);
	assert_int_equal(e->closed, 33);
	assert_int_equal(e->soft_limit, 2048);
	assert_int_equal(e->last_activity_ns, 99);

	/* /proc agrees: nothing unseen. */
	fixture_fds(c->root, 200, 15);
	assert_int_equal(proc_table_reconcile(c->t, e, 4, true), 0);
	assert_int_equal(e->unseen_opens, 0);
	assert_int_equal(e->unseen_closes, 0);
	assert_int_equal(e->last_drift, 0);
}

static void test_reconcile_books_unseen(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(800);
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 300, "x", 800, 0, 20);
	assert_int_equal(proc_table_apply_counts(c->t, 300, &k, 1, &e), 1);
	/* 3 fds arrive by SCM_RIGHTS: the probe saw nothing. */
	fixture_fds(c->root, 300, 23);
	assert_int_equal(proc_table_reconcile(c->t, e, 2, true), 0);
	assert_int_equal(e->fds, 23);
	assert_int_equal(e->unseen_opens, 3);
	assert_int_equal(e->last_drift, -3);
	/* close_range of 10: seen as a flag only. */
	k.unseen = 1;
	assert_int_equal(proc_table_apply_counts(c->t, 300, &k, 3, &e), 1);
	assert_true(e->needs_reconcile);
	fixture_fds(c->root, 300, 13);
	assert_int_equal(proc_table_reconcile(c->t, e, 4, true), 0);
	assert_int_equal(e->fds, 13);
	assert_int_equal(e->unseen_closes, 10);
	assert_int_equal(e->last_drift, 10);
	assert_false(e->needs_reconcile);
	/* The same count again asks for nothing more. */
	assert_int_equal(proc_table_apply_counts(c->t, 300, &k, 5, &e), 0);
	assert_false(e->needs_reconcile);
	/* The limit follows /proc (a prlimit() from outside while quiet). */
	fixture_limits(c->root, 300, "64", "128");
	assert_int_equal(proc_table_reconcile(c->t, e, 5, true), 0);
	assert_int_equal(e->soft_limit, 64);
	assert_int_equal(e->hard_limit, 128);
}

static void test_pid_reuse(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(900);
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 400, "old", 900, 0, 500);
	k.created[FDW_KIND_FILE] = 490;
	assert_int_equal(proc_table_apply_counts(c->t, 400, &k, 1, &e), 1);
	assert_int_equal(e->fds, 500);

	/* The old process exited; a new one got its PID. */
	fixture_proc(c->root, 400, "new", 950, 1000, 4);
	k = counts(950);
	k.created[FDW_KIND_FILE] = 1;
	assert_int_equal(proc_table_apply_counts(c->t, 400, &k, 2, &e), 1);
	assert_string_equal(e->comm, "new");
	assert_int_equal(e->start_ticks, 950);
	assert_int_equal(e->fds, 4);
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->created[FDW_KIND_FILE], 1);
	assert_int_equal(proc_table_size(c->t), 1);

	/* Counters of a process that is already gone again: no entry for them. */
	k = counts(990);
	assert_int_equal(proc_table_apply_counts(c->t, 400, &k, 3, &e), -ESRCH);
	assert_null(proc_table_get(c->t, 400));
	/* Identity refresh notices a reuse too. */
	fixture_proc(c->root, 401, "a", 10, 0, 1);
	assert_int_equal(proc_table_add(c->t, 401, 4, &e), 0);
	fixture_stat(c->root, 401, "b", 11);
	assert_int_equal(proc_table_refresh_identity(c->t, e), -ESRCH);
	/* So does the reconciliation of an entry the probe never counted (its exit went
	 * unseen): the new process's fds are not booked to the old one. */
	fixture_fds(c->root, 401, 7);
	assert_int_equal(proc_table_reconcile(c->t, e, 5, true), -ESRCH);
	assert_int_equal(e->fds, 1);
	fixture_stat(c->root, 401, "a", 10);
	assert_int_equal(proc_table_reconcile(c->t, e, 6, true), 0);
	assert_int_equal(e->fds, 7);
	/* It renamed itself (prctl(PR_SET_NAME), no exec): the next reconciliation has the name. */
	fixture_stat(c->root, 401, "worker-1", 10);
	assert_int_equal(proc_table_reconcile(c->t, e, 7, true), 0);
	assert_string_equal(e->comm, "worker-1");
}

static void test_burst_squares_wrap(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(1200);
	struct proc_entry *e = NULL;
	uint64_t hour_sq = 3600000000ULL * 3600000000ULL;

	fixture_proc(c->root, 700, "cron", 1200, 0, 5);
	k.bursts = 2;
	k.burst_gap_sum_us = 3600000000ULL;
	k.burst_gap_sq_us = hour_sq;
	assert_int_equal(proc_table_apply_counts(c->t, 700, &k, 1, &e), 1);
	/* A second hour-long gap wraps the probe's sum of squares: still +hour_sq here. */
	k.created[FDW_KIND_FILE]++;
	k.bursts = 3;
	k.burst_gap_sum_us += 3600000000ULL;
	k.burst_gap_sq_us += hour_sq;
	assert_true(k.burst_gap_sq_us < hour_sq);
	assert_int_equal(proc_table_apply_counts(c->t, 700, &k, 2, &e), 1);
	assert_true(e->burst_gap_sq_us == hour_sq + hour_sq);
	assert_int_equal(e->bursts, 3);
}

static void test_counter_reset_and_flags(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(1000);
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 500, "x", 1000, 0, 8);
	k.created[FDW_KIND_SOCKET] = 100;
	k.closed = 100;
	assert_int_equal(proc_table_apply_counts(c->t, 500, &k, 1, &e), 1);
	/* The probe's entry was recreated (counters restart lower): take them whole. */
	k.created[FDW_KIND_SOCKET] = 2;
	k.closed = 0;
	assert_int_equal(proc_table_apply_counts(c->t, 500, &k, 2, &e), 1);
	assert_int_equal(e->created[FDW_KIND_SOCKET], 102);
	assert_int_equal(e->fds, 10);
	/* More closes than fds can never make the count negative. */
	k.closed = 50;
	assert_int_equal(proc_table_apply_counts(c->t, 500, &k, 3, &e), 1);
	assert_int_equal(e->fds, 0);
	k.flags = FDW_F_EXITED;
	assert_int_equal(proc_table_apply_counts(c->t, 500, &k, 4, &e), 1);
	assert_true(e->exited);
	proc_table_remove(c->t, e);
	assert_int_equal(proc_table_size(c->t), 0);
}

static void test_history_and_sample(void **state)
{
	struct ctx *c = *state;
	struct fdw_counts k = counts(1100);
	struct detect_sample s;
	struct proc_entry *e = NULL;

	fixture_proc(c->root, 600, "x", 1100, 0, 3);
	k.created[FDW_KIND_PIPE] = 4;
	k.closed = 1;
	k.emfile = 2;
	k.bursts = 5;
	assert_int_equal(proc_table_apply_counts(c->t, 600, &k, 1, &e), 1);
	for (unsigned i = 0; i < PROC_HISTORY + 5; i++) {
		e->fds = i;
		proc_entry_push_history(e, i);
	}
	assert_int_equal(e->history_len, PROC_HISTORY);
	/* The oldest kept point is the 6th pushed. */
	assert_int_equal(e->history[e->history_head].fds, 5);
	assert_int_equal(e->history[(e->history_head + PROC_HISTORY - 1) % PROC_HISTORY].fds,
			 PROC_HISTORY + 4);

	e->unseen_opens = 7;
	e->unseen_closes = 2;
	proc_entry_to_sample(e, 42, &s);
	assert_int_equal(s.t_ns, 42);
	assert_int_equal(s.created[FDW_KIND_PIPE], 4);
	assert_int_equal(s.created[FDW_KIND_OTHER], 7);
	assert_int_equal(s.closed, 3);
	assert_int_equal(s.emfile, 2);
	assert_int_equal(s.bursts, 5);
	assert_int_equal(s.soft_limit, 1024);
}

static void test_iteration(void **state)
{
	struct ctx *c = *state;
	struct proc_entry *e;
	int n = 0;

	for (int pid = 10; pid < 20; pid++) {
		fixture_proc(c->root, pid, "x", 1, 0, 1);
		assert_int_equal(proc_table_add(c->t, pid, 1, NULL), 0);
	}
	for (e = proc_table_first(c->t); e; e = proc_table_next(e))
		n++;
	assert_int_equal(n, 10);
	assert_int_equal(proc_table_size(c->t), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_baseline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_threads_not_tracked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inherited_fds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts_baseline_then_diff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconcile_books_unseen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pid_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counter_reset_and_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_burst_squares_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_history_and_sample, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iteration, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
