// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Unit tests of the watch module: the poll schedule, lifecycle records (fork
 * storms, exits, PID reuse), suspicion and the arming decision with its
 * armed-share bound, against fake /proc trees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proc.h"
#include "util.h"
#include "watch.h"
#include "proc-fixture.h"

#define S(x) ((uint64_t)(x)*NSEC_PER_SEC)
/* Fixture times start here, so no time is 0 (0 means "never" in the module). */
#define T0 S(1000)

static uint64_t boot_ns(uint64_t ticks)
{
	return ticks * (NSEC_PER_SEC / proc_ticks_per_sec());
}

struct ctx {
	char *root;
	struct fdw_config config;
	struct proc_table *t;
	struct alerts *alerts;
	struct watch *w;
	struct alert got[16];
	unsigned n_got;
	unsigned forgotten;
};

static void on_alert(void *userdata, const struct alert *a)
{
	struct ctx *c = userdata;

	if (c->n_got < ELEMENTSOF(c->got))
		c->got[c->n_got] = *a;
	c->n_got++;
}

static void on_forget(void *userdata, pid_t pid, uint64_t start_boottime)
{
	struct ctx *c = userdata;

	c->forgotten++;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->root = fixture_new();
	assert_int_equal(config_init(&c->config), 0);
	c->config.detect.min_growth = 8;
	c->config.detect.leak_min_sec = 5;
	c->config.alerts.min_interval_ns = 0;
	assert_int_equal(proc_table_new(c->root, false, &c->t), 0);
	assert_int_equal(alerts_new(&c->config.alerts, &c->alerts), 0);
	assert_int_equal(
	    watch_new(c->t, c->alerts, &c->config,
		      &(struct watch_ops){.userdata = c, .alert = on_alert, .forget = on_forget},
		      T0, &c->w),
	    0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	watch_free(c->w);
	alerts_free(c->alerts);
	proc_table_free(c->t);
	config_done(&c->config);
	fixture_free(c->root);
	free(c);
	return 0;
}

/* Add the fixture processes to the table, as the first /proc listing does. */
static void list(struct ctx *c, const pid_t *pids, size_t n, uint64_t now)
{
	assert_int_equal(watch_listed(c->w, pids, n, now), 0);
}

/* --- the schedule --- */

/*
 * A flat process is read less and less often, down to PollSec at most (less
 * with less headroom); one that moves is read every tick again.
 */
static void test_schedule(void **state)
{
	static const struct {
		int fds;
		const char *soft;
		uint64_t want_cap; /* longest interval, s */
	} cases[] = {
	    {10, "1024", 2},	  /* plenty of headroom: PollSec */
	    {10, "unlimited", 2}, /* no limit: the same */
	    {768, "1024", 1},	  /* a quarter left: half of PollSec, and never under a tick */
	    {1000, "1024", 1},	  /* at the limit: every tick */
	};
	struct ctx *c = *state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		pid_t pid = 100 + (pid_t)i;
		struct proc_entry *e;
		uint64_t now = T0, last_poll = T0, longest = 0, polls;

		print_message("# %d fds, soft limit %s\n", cases[i].fds, cases[i].soft);
		fixture_proc(c->root, pid, "svc", 5000, 0, cases[i].fds);
		fixture_limits(c->root, pid, cases[i].soft, "524288");
		list(c, &pid, 1, now);
		e = proc_table_get(c->t, pid);
		assert_non_null(e);
		for (int s = 1; s <= 30; s++) {
			now = T0 + S(s);
			polls =
			    watch_get_stats(c->w)->polls + watch_get_stats(c->w)->reconciliations;
			assert_int_equal(watch_tick(c->w, now), 0);
			if (watch_get_stats(c->w)->polls + watch_get_stats(c->w)->reconciliations >
			    polls) {
				longest = MAX(longest, now - last_poll);
				last_poll = now;
			}
		}
		assert_int_equal(longest, S(cases[i].want_cap));
		/* It moves: read at the next tick, and every tick after that. */
		fixture_fds(c->root, pid, cases[i].fds + 1);
		assert_int_equal(watch_tick(c->w, now + S(1)), 0);
		assert_int_equal(watch_tick(c->w, now + S(2)), 0);
		assert_int_equal(e->fds, (uint64_t)cases[i].fds + 1);
		assert_int_equal(e->next_poll_ns, now + S(3));
		proc_table_remove(c->t, e);
	}
}

/* --- lifecycle --- */

/* Processes that fork and exit within a tick never cost a /proc read; survivors join. */
static void test_fork_storm(void **state)
{
	struct ctx *c = *state;

	for (pid_t pid = 200; pid < 300; pid++)
		assert_int_equal(watch_fork(c->w, pid, boot_ns(7000 + pid), T0), 0);
	for (pid_t pid = 200; pid < 290; pid++)
		watch_exit(c->w, pid, boot_ns(7000 + pid), T0);
	/* Ten live on; one of them exits before the tick and leaves only its /proc entry. */
	for (pid_t pid = 290; pid < 300; pid++)
		fixture_proc(c->root, pid, "worker", 7000 + pid, 0, 3);
	assert_int_equal(watch_tick(c->w, T0 + S(1)), 0);
	assert_int_equal(proc_table_size(c->t), 10);
	assert_int_equal(watch_get_stats(c->w)->forks, 100);
	assert_int_equal(watch_get_stats(c->w)->forks_short, 90);
	/* Their exits retire them at once: no dead process stays in the table. */
	for (pid_t pid = 290; pid < 300; pid++)
		watch_exit(c->w, pid, boot_ns(7000 + pid), T0 + S(1));
	assert_int_equal(proc_table_size(c->t), 0);
	/* A fork record of a PID now used by another process (its exit record lost): not added. */
	fixture_proc(c->root, 300, "other", 9999, 0, 3);
	assert_int_equal(watch_fork(c->w, 300, boot_ns(8000), T0 + S(1)), 0);
	assert_int_equal(watch_tick(c->w, T0 + S(2)), 0);
	assert_null(proc_table_get(c->t, 300));
}

/* Grow pid by step fds a second until the detector calls it leaking. */
static uint64_t leak_until_alert(struct ctx *c, pid_t pid, int base, int step, uint64_t now)
{
	for (int s = 1; s <= 60 && c->n_got == 0; s++) {
		now += S(1);
		fixture_fds(c->root, pid, base + step * s);
		assert_int_equal(watch_tick(c->w, now), 0);
	}
	assert_int_equal(c->n_got, 1);
	/* Leaking, or critical already (4 fds/s has 4 min left of 1024). */
	assert_true(c->got[0].type == ALERT_LEAK || c->got[0].type == ALERT_CRITICAL);
	return now;
}

/* A fork already at its limit when it joins the table is judged in that tick, not the next. */
static void test_fork_at_limit(void **state)
{
	struct ctx *c = *state;
	struct proc_entry *e;
	pid_t pid = 310;

	assert_int_equal(watch_fork(c->w, pid, boot_ns(7100), T0), 0);
	fixture_proc(c->root, pid, "burst", 7100, 0, 64);
	fixture_limits(c->root, pid, "64", "4096");
	assert_int_equal(watch_tick(c->w, T0 + S(1)), 0);
	e = proc_table_get(c->t, pid);
	assert_non_null(e);
	assert_true(e->verdict.state >= FDW_STATE_LEAKING);
	assert_true(e->suspect & WATCH_SUSPECT_NEAR_LIMIT);
	assert_true(c->n_got >= 1);
	assert_int_equal(c->got[0].pid, pid);
}

/*
 * A leaking process whose PID is reused before the next tick still gets its
 * "exited" alert: by its exit record, by the fork record of the new process
 * when the exit record was lost, or by the probe's counters of the new one.
 */
static void test_pid_reuse_exit_alert(void **state)
{
	struct ctx *c = *state;

	for (int how = 0; how < 3; how++) {
		pid_t pid = 400 + how;
		uint64_t now = T0 + S(1000 * how);
		struct fdw_counts counts = {
		    .start_boottime = boot_ns(6000), .max_fd = -1, .last_fail_nr = -1};

		print_message("# %s\n", how == 0   ? "exit record"
					: how == 1 ? "fork record only"
						   : "counters only");
		c->n_got = 0;
		fixture_proc(c->root, pid, "leaky", 5000, 0, 10);
		list(c, &pid, 1, now);
		now = leak_until_alert(c, pid, 10, 4, now);
		/* It exits; a new process has its PID before the next tick. */
		fixture_proc(c->root, pid, "fresh", 6000, 0, 3);
		if (how == 0)
			watch_exit(c->w, pid, boot_ns(5000), now);
		if (how <= 1)
			assert_int_equal(watch_fork(c->w, pid, boot_ns(6000), now), 0);
		else
			assert_int_equal(watch_counts(c->w, pid, &counts, false, now), 0);
		assert_int_equal(c->n_got, 2);
		assert_int_equal(c->got[1].type, ALERT_RECOVERED);
		assert_true(c->got[1].exited);
		assert_string_equal(c->got[1].comm, "leaky");
		assert_int_equal(c->got[1].start_ticks, 5000);
		/* And the new process is a process of its own. */
		assert_int_equal(watch_tick(c->w, now + S(1)), 0);
		assert_non_null(proc_table_get(c->t, pid));
		assert_int_equal(proc_table_get(c->t, pid)->start_ticks, 6000);
		assert_int_equal(proc_table_get(c->t, pid)->verdict.state, FDW_STATE_OK);
		proc_table_remove(c->t, proc_table_get(c->t, pid));
	}
}

/* --- suspicion and arming --- */

static void test_modes(void **state)
{
	struct ctx *c = *state;

	c->config.probe_mode = PROBE_MODE_ALWAYS;
	assert_true(watch_want_armed(c->w, T0));
	c->config.probe_mode = PROBE_MODE_POLL;
	assert_false(watch_want_armed(c->w, T0));
	c->config.probe_mode = PROBE_MODE_AUTO;
	assert_false(watch_want_armed(c->w, T0)); /* nothing suspect */
}

/*
 * Growth past MinGrowth arms at the tick whose read sees it; a plateau clears
 * the suspicion after the cool-down, and the probe is disarmed a cool-down later.
 */
static void test_arm_on_growth(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 500;
	uint64_t now = T0;
	struct proc_entry *e;

	c->config.arm_cooldown_ns = S(5);
	fixture_proc(c->root, pid, "app", 5000, 0, 10);
	list(c, &pid, 1, now);
	e = proc_table_get(c->t, pid);
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_false(watch_want_armed(c->w, now));
	/* A start-up burst: 40 fds at once, then flat. Armed at the tick of the read that sees
	 * it, within PollSec. */
	fixture_fds(c->root, pid, 50);
	for (int s = 0; s < 2 && e->fds != 50; s++) {
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
		assert_true(!!(e->suspect & WATCH_SUSPECT_GROWTH) == (e->fds == 50));
		assert_true(watch_want_armed(c->w, now) == (e->fds == 50));
	}
	assert_int_equal(e->fds, 50);
	watch_set_armed(c->w, true, now);
	assert_int_equal(watch_armed_since(c->w), now);
	/* Flat: the growth suspicion ends after the cool-down (and so may the detector's). */
	for (int s = 0; s < 60 && e->suspect; s++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_int_equal(e->suspect, 0);
	assert_int_equal(e->trough_fds, 50);
	/* Armed on for the cool-down after the last suspect, then off. */
	assert_true(watch_want_armed(c->w, now));
	assert_int_equal(watch_tick(c->w, now += S(5)), 0);
	assert_false(watch_want_armed(c->w, now));
	watch_set_armed(c->w, false, now);
	assert_int_equal(watch_armed_since(c->w), 0);
	assert_true(watch_armed_share(c->w, now) > 0);
}

/*
 * A chronic slow leaker keeps the probe armed for at most MaxArmedPercent of
 * the window, re-armed once the share fell to half the bound; a client's trace
 * or a process near its limit overrides the bound.
 */
static void test_armed_share_bound(void **state)
{
	struct ctx *c = *state;
	uint64_t now = T0, armed_ns = 0;
	pid_t pid = 600;
	bool armed = false;
	struct proc_entry *e;

	c->config.armed_window_ns = S(600);
	c->config.max_armed_percent = 10;
	c->config.poll_ns = S(1);
	fixture_proc(c->root, pid, "slowleak", 5000, 0, 10);
	list(c, &pid, 1, now);
	e = proc_table_get(c->t, pid);
	for (int s = 1; s <= 1800; s++) {
		bool want;

		now += S(1);
		/* 1 fd every 10 s: past MinGrowth after 80 s, and on and on. */
		fixture_fds(c->root, pid, 10 + s / 10);
		assert_int_equal(watch_tick(c->w, now), 0);
		want = watch_want_armed(c->w, now);
		if (want != armed)
			watch_set_armed(c->w, want, now);
		armed = want;
		if (armed && s > 1200)
			armed_ns += S(1);
		if (s > 1200) /* over the last window: the bound holds */
			assert_true(watch_armed_share(c->w, now) <= 0.11);
	}
	assert_true(e->suspect != 0);
	/* It was armed in windows, not never: between 5 % and 10 % of the last 600 s. */
	assert_true(armed_ns >= S(30) && armed_ns <= S(61));
	/* Near its limit: armed whatever the share. */
	fixture_limits(c->root, pid, "200", "524288");
	fixture_fds(c->root, pid, 195);
	assert_int_equal(watch_tick(c->w, now += S(60)), 0); /* the sweep reads the new limit */
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_true(e->suspect & WATCH_SUSPECT_NEAR_LIMIT);
	assert_true(watch_want_armed(c->w, now));
}

static void test_trace(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 700;
	uint64_t now = T0;

	c->config.max_armed_percent = 0; /* no share at all: only what overrides it */
	fixture_proc(c->root, pid, "quiet", 5000, 0, 10);
	list(c, &pid, 1, now);
	assert_int_equal(watch_trace(c->w, 999, now + S(10)), -ESRCH);
	assert_int_equal(watch_trace(c->w, pid, now + S(10)), 0);
	assert_true(watch_want_armed(c->w, now));
	assert_int_equal(watch_suspects(c->w, &(pid_t){0}, 1), 1);
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_true(watch_want_armed(c->w, now));
	assert_int_equal(watch_tick(c->w, now += S(10)), 0);
	assert_int_equal(watch_suspects(c->w, NULL, 0), 0);
	assert_false(watch_want_armed(c->w, now));
}

/* A count pass's record of a fixture process. */
static struct fdw_task_count pass_record(pid_t pid, uint64_t start_ticks, uint32_t fds,
					 uint64_t soft, const char *comm)
{
	struct fdw_task_count r = {
	    .tgid = (uint32_t)pid,
	    .fds = fds,
	    .start_boottime = boot_ns(start_ticks),
	    .rlim_cur = soft,
	    .rlim_max = 4096,
	};

	snprintf(r.comm, sizeof(r.comm), "%s", comm);
	return r;
}

/*
 * Count passes: a quiet process the passes see unchanged is not read from /proc (nor swept)
 * while they go on; a changed count or limit is read and judged at the next tick; a rename
 * is taken over; when the passes stop, the reads come back.
 */
static void test_count_pass(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 900;
	uint64_t now = T0, polls, sweeps;
	struct fdw_task_count r;
	struct proc_entry *e;

	fixture_proc(c->root, pid, "quiet", 5000, 0, 10);
	fixture_limits(c->root, pid, "1024", "4096");
	list(c, &pid, 1, now);
	e = proc_table_get(c->t, pid);
	assert_non_null(e);
	/* Due every tick for a small table, a little early counting as on time. */
	assert_true(watch_pass_due(c->w, now));
	assert_false(watch_pass_due(c->w, now + c->config.tick_ns / 4));
	assert_true(watch_pass_due(c->w, now + c->config.tick_ns - c->config.tick_ns / 4));
	/* Moving or new: its reads are per tick, whatever the passes say. */
	r = pass_record(pid, 5000, 10, 1024, "quiet");
	watch_pass_seen(c->w, &r, now);
	assert_int_equal(e->next_poll_ns, now + c->config.tick_ns);
	for (int i = 0; i < 4; i++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_true(e->poll_interval_ns > c->config.tick_ns);
	polls = watch_get_stats(c->w)->polls;
	sweeps = watch_get_stats(c->w)->reconciliations;
	for (int i = 0; i < 200; i++) { /* past RescanSec (60 s) and PollSec */
		now += S(1);
		watch_pass_seen(c->w, &r, now);
		assert_int_equal(watch_tick(c->w, now), 0);
	}
	assert_int_equal(watch_get_stats(c->w)->polls, polls);
	assert_int_equal(watch_get_stats(c->w)->reconciliations, sweeps);
	assert_int_equal(watch_get_stats(c->w)->passes_seen, 201);
	/* Renamed without an exec. */
	r = pass_record(pid, 5000, 10, 1024, "quiet-worker");
	watch_pass_seen(c->w, &r, now);
	assert_string_equal(e->comm, "quiet-worker");
	/* Six more fds: read from /proc at the next tick. */
	fixture_fds(c->root, pid, 16);
	r = pass_record(pid, 5000, 16, 1024, "quiet-worker");
	watch_pass_seen(c->w, &r, now += S(1));
	assert_int_equal(watch_tick(c->w, now), 0);
	assert_int_equal(watch_get_stats(c->w)->polls, polls + 1);
	assert_int_equal(e->fds, 16);
	/* Its limit lowered from outside (prlimit): 16 of 17 is near it, a suspect now. */
	r = pass_record(pid, 5000, 16, 17, "quiet-worker");
	watch_pass_seen(c->w, &r, now += S(1));
	assert_int_equal(e->soft_limit, 17);
	assert_int_equal(watch_tick(c->w, now), 0);
	assert_true(e->suspect & WATCH_SUSPECT_NEAR_LIMIT);
	/* Another process under its PID: its identity is checked at the next tick. */
	r = pass_record(pid, 7777, 3, 1024, "other");
	watch_pass_seen(c->w, &r, now += S(1));
	assert_true(e->needs_identity);
	assert_int_equal(e->next_poll_ns, 0);
	/* PIDs the table does not know are left to the lifecycle records. */
	r = pass_record(4242, 5000, 3, 1024, "stranger");
	watch_pass_seen(c->w, &r, now);
	assert_null(proc_table_get(c->t, 4242));
	/* The passes stop: the reads come back at the next tick. */
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	polls = watch_get_stats(c->w)->polls;
	watch_pass_stop(c->w);
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_int_equal(watch_get_stats(c->w)->polls, polls + 1);
}

/* A process flat and ok for WindowSec loses its detector history; moving again, it has one. */
static void test_quiet_history_dropped(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 950;
	uint64_t now = T0;
	struct proc_entry *e;

	c->config.detect.window_sec = 120;
	fixture_proc(c->root, pid, "worker", 5000, 0, 10);
	list(c, &pid, 1, now);
	e = proc_table_get(c->t, pid);
	fixture_fds(c->root, pid, 14); /* start-up: a few fds, then flat */
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_non_null(e->detector);
	for (int i = 0; i < 100; i++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_non_null(e->detector); /* within the window */
	for (int i = 0; i < 30; i++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_null(e->detector);
	assert_int_equal(e->verdict.state, FDW_STATE_OK);
	fixture_fds(c->root, pid, 15);
	for (int i = 0; i < 3; i++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_non_null(e->detector);
	assert_int_equal(e->fds, 15);
}

/*
 * The probe arms for a process the detector calls near its limit, by either of its rules:
 * within NearLimitFds of it (a small margin for a high CriticalPercent) or past the percent.
 */
static void test_near_limit_arms(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 800;
	uint64_t now = T0;

	c->config.detect.critical_percent = 99; /* 990 of 1000 */
	c->config.detect.near_limit_fds = 16;	/* 984 of 1000 */
	/* Flat there from the start: only the near-limit rule makes it a suspect. */
	fixture_proc(c->root, pid, "backend", 5000, 0, 986);
	fixture_limits(c->root, pid, "1000", "4096");
	list(c, &pid, 1, now);
	for (int i = 0; i < 3; i++)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_true(detect_near_limit(&c->config.detect, 986, 1000));
	assert_int_equal(watch_suspects(c->w, NULL, 0), 1);
	assert_true(watch_want_armed(c->w, now));
}

/*
 * What the probe did not count is not booked as unseen: a count that moved
 * while unarmed is just the new count; while armed, a difference from the
 * probe's estimate is what it missed.
 */
static void test_counted(void **state)
{
	struct ctx *c = *state;
	pid_t pid = 800;
	uint64_t now = T0;
	struct proc_entry *e;

	fixture_proc(c->root, pid, "app", 5000, 0, 10);
	list(c, &pid, 1, now);
	e = proc_table_get(c->t, pid);
	fixture_fds(c->root, pid, 14);
	assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_int_equal(e->fds, 14);
	assert_int_equal(e->unseen_opens, 0);
	/* Armed after that read: the next interval is not counted whole, the one after is. */
	watch_set_armed(c->w, true, now + 1);
	fixture_fds(c->root, pid, 16);
	while (e->fds != 16)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_int_equal(e->unseen_opens, 0);
	fixture_fds(c->root, pid, 19);
	while (e->fds != 19)
		assert_int_equal(watch_tick(c->w, now += S(1)), 0);
	assert_int_equal(e->unseen_opens, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_schedule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork_storm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork_at_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pid_reuse_exit_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arm_on_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_armed_share_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_near_limit_arms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_count_pass, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quiet_history_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
