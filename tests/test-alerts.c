// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Unit tests of the alerts: transitions, rate limits, history, message and journald fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <syslog.h>

#include "alerts.h"
#include "util.h"
#include "verdict-fixture.h"

#define MIN_NS (60 * NSEC_PER_SEC)
#define NONE   ALERT_TYPE_MAX

static struct alert_subject subject(pid_t pid)
{
	return (struct alert_subject){
	    .pid = pid,
	    .start_ticks = 1000 + pid,
	    .uid = 1000,
	    .comm = "python3",
	    .unit = "backend.service",
	    .fds = 812,
	    .soft_limit = 1024,
	    .hard_limit = 524288,
	};
}

static struct alerts *new_alerts(uint64_t min_interval_ns, uint64_t burst, size_t history)
{
	struct alerts_config cfg = {
	    .min_interval_ns = min_interval_ns, .burst = burst, .history_size = history};
	struct alerts *a;

	assert_int_equal(alerts_new(&cfg, &a), 0);
	return a;
}

/* Judge one verdict of subj; returns the alert type, NONE when none is due. */
static enum alert_type judge(struct alerts *a, const struct alert_subject *subj,
			     enum fdw_state prev, const struct detect_verdict *v, uint64_t t_ns,
			     const struct alert **ret)
{
	const struct alert *al = NULL;
	int r;

	r = alerts_judge(a, subj, prev, v, 1700000000 * NSEC_PER_SEC + t_ns, t_ns, &al);
	assert_true(r == 0 || r == 1);
	if (ret)
		*ret = al;
	if (r == 0) {
		assert_null(al);
		return NONE;
	}
	assert_non_null(al);
	return al->type;
}

static void test_types(void **state)
{
	static const int prio[] = {LOG_WARNING, LOG_CRIT, LOG_ALERT, LOG_NOTICE};

	for (int t = 0; t < ALERT_TYPE_MAX; t++) {
		const char *id = alert_type_message_id(t);
		enum alert_type back = NONE;

		assert_non_null(id);
		assert_int_equal(strlen(id), 32);
		for (const char *c = id; *c; c++)
			assert_true(isdigit(*c) || (*c >= 'a' && *c <= 'f'));
		for (int u = 0; u < t; u++)
			assert_string_not_equal(id, alert_type_message_id(u));
		assert_int_equal(alert_type_priority(t), prio[t]);
		assert_int_equal(alert_type_from_string(alert_type_to_string(t), &back), 0);
		assert_int_equal(back, t);
	}
	assert_string_equal(alert_type_to_string(ALERT_LEAK), "leak");
	assert_string_equal(alert_type_to_string(ALERT_RECOVERED), "recovered");
	assert_null(alert_type_to_string(ALERT_TYPE_MAX));
	assert_null(alert_type_message_id(-1));
	{
		enum alert_type back = ALERT_CRITICAL;

		assert_int_equal(alert_type_from_string("leaking", &back), -EINVAL);
		assert_int_equal(alert_type_from_string(NULL, &back), -EINVAL);
		assert_int_equal(back, ALERT_CRITICAL);
	}
}

/* One process's verdicts, tick by tick, and the alert each must raise. */
struct step {
	enum fdw_state state;
	bool recovered;
	bool exited; /* retired as the daemon does: the last verdict and its prev_state again */
	enum alert_type want;
};

static const struct {
	const char *name;
	struct step steps[8];
	size_t n;
} sequences[] = {
    {"growing is silent", {{FDW_STATE_GROWING, .want = NONE}, {FDW_STATE_OK, .want = NONE}}, 2},
    {"leak, critical, exhausted, recovered",
     {{FDW_STATE_GROWING, .want = NONE},
      {FDW_STATE_LEAKING, .want = ALERT_LEAK},
      {FDW_STATE_CRITICAL, .want = ALERT_CRITICAL},
      {FDW_STATE_EXHAUSTED, .want = ALERT_EXHAUSTED},
      {FDW_STATE_CRITICAL, .want = NONE},
      {FDW_STATE_LEAKING, .want = NONE},
      {FDW_STATE_OK, .recovered = true, .want = ALERT_RECOVERED},
      {FDW_STATE_OK, .want = NONE}},
     8},
    /* Every alerted episode closes once, whatever state it falls back to. */
    {"falls back to growing: closed there",
     {{FDW_STATE_LEAKING, .want = ALERT_LEAK},
      {FDW_STATE_GROWING, .want = ALERT_RECOVERED},
      {FDW_STATE_OK, .want = NONE},
      {FDW_STATE_OK, .exited = true, .want = NONE}},
     4},
    {"straight to critical", {{FDW_STATE_CRITICAL, .want = ALERT_CRITICAL}}, 1},
    {"straight to exhausted", {{FDW_STATE_EXHAUSTED, .want = ALERT_EXHAUSTED}}, 1},
    {"falls within the episode are silent",
     {{FDW_STATE_CRITICAL, .want = ALERT_CRITICAL},
      {FDW_STATE_LEAKING, .want = NONE},
      {FDW_STATE_GROWING, .want = ALERT_RECOVERED}},
     3},
    {"exit while exhausted: one closing line",
     {{FDW_STATE_EXHAUSTED, .want = ALERT_EXHAUSTED},
      {FDW_STATE_EXHAUSTED, .exited = true, .want = ALERT_RECOVERED},
      {FDW_STATE_EXHAUSTED, .exited = true, .want = NONE}},
     3},
    {"exit while leaking",
     {{FDW_STATE_GROWING, .want = NONE},
      {FDW_STATE_LEAKING, .want = ALERT_LEAK},
      {FDW_STATE_LEAKING, .exited = true, .want = ALERT_RECOVERED}},
     3},
    {"exit while ok is silent",
     {{FDW_STATE_OK, .want = NONE}, {FDW_STATE_OK, .exited = true, .want = NONE}},
     2},
    {"recovered once, then the exit is silent",
     {{FDW_STATE_LEAKING, .want = ALERT_LEAK},
      {FDW_STATE_OK, .recovered = true, .want = ALERT_RECOVERED},
      {FDW_STATE_OK, .want = NONE},
      {FDW_STATE_OK, .exited = true, .want = NONE}},
     4},
    {"a new episode alerts again",
     {{FDW_STATE_LEAKING, .want = ALERT_LEAK},
      {FDW_STATE_OK, .recovered = true, .want = ALERT_RECOVERED},
      {FDW_STATE_LEAKING, .want = ALERT_LEAK}},
     3},
    {"exit right after a rise",
     {{FDW_STATE_CRITICAL, .want = ALERT_CRITICAL},
      {FDW_STATE_CRITICAL, .exited = true, .want = ALERT_RECOVERED}},
     2},
};

static void test_transitions(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(sequences); i++) {
		struct alerts *a = new_alerts(0, 0, 16);
		struct alert_subject subj = subject(4242);
		enum fdw_state prev = FDW_STATE_OK, passed = FDW_STATE_OK;
		uint64_t sent = 0;

		for (size_t k = 0; k < sequences[i].n; k++) {
			const struct step *st = &sequences[i].steps[k];
			struct detect_verdict v = verdict(st->state);
			const struct alert *al;
			enum alert_type got;

			v.recovered = st->recovered;
			subj.exited = st->exited;
			/* Retiring, the daemon judges its last verdict again with the same
			 * prev_state. */
			if (!st->exited)
				passed = prev;
			got = judge(a, &subj, passed, &v, k * MIN_NS, &al);
			if (got != st->want)
				fail_msg("%s, step %zu: got %s, want %s", sequences[i].name, k,
					 alert_type_to_string(got) ?: "none",
					 alert_type_to_string(st->want) ?: "none");
			if (al) {
				sent++;
				assert_int_equal(al->priority, alert_type_priority(got));
				assert_int_equal(al->seq, sent);
				assert_int_equal(al->verdict.state, st->state);
				assert_int_equal(al->exited, got == ALERT_RECOVERED && st->exited);
				assert_int_equal(al->end, got != ALERT_RECOVERED ? ALERT_END_NONE
							  : st->exited		 ? ALERT_END_EXITED
								       : ALERT_END_STOPPED);
			}
			prev = st->state;
		}
		assert_int_equal(alerts_sent(a), sent);
		assert_int_equal(alerts_suppressed(a), 0);
		alerts_free(a);
	}
}

static void test_rate_limit(void **state)
{
	struct alerts *a = new_alerts(5 * MIN_NS, 3, 16);
	struct alert_subject subj = subject(7);
	struct detect_verdict leak = verdict(FDW_STATE_LEAKING), ok = verdict(FDW_STATE_OK);
	const struct alert *al;

	ok.recovered = true;
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 0, &al), ALERT_LEAK);
	assert_int_equal(al->suppressed, 0);
	/* A recovery is never held back. */
	assert_int_equal(judge(a, &subj, FDW_STATE_LEAKING, &ok, 1 * MIN_NS, NULL),
			 ALERT_RECOVERED);
	/* A second leak within 5 min is, and so is the recovery nobody heard the leak of. */
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 2 * MIN_NS, NULL), NONE);
	assert_int_equal(alerts_suppressed(a), 1);
	assert_int_equal(judge(a, &subj, FDW_STATE_LEAKING, &ok, 3 * MIN_NS, NULL), NONE);
	assert_int_equal(alerts_suppressed(a), 2);
	/* Other processes are not affected. */
	{
		struct alert_subject other = subject(8);

		assert_int_equal(judge(a, &other, FDW_STATE_OK, &leak, 3 * MIN_NS, &al),
				 ALERT_LEAK);
		assert_int_equal(al->suppressed, 0);
	}
	/* Another story within 5 min is news (a sawtooth's first ramp, then its rising troughs). */
	{
		struct alert_subject other = subject(9);
		struct detect_verdict troughs = leak;

		other.comm = "worker"; /* another group: python3 of backend.service had its 3 */
		troughs.pattern = FDW_PATTERN_RISING_TROUGHS;
		assert_int_equal(judge(a, &other, FDW_STATE_OK, &leak, 3 * MIN_NS, NULL),
				 ALERT_LEAK);
		assert_int_equal(judge(a, &other, FDW_STATE_LEAKING, &ok, 3 * MIN_NS + 1, NULL),
				 ALERT_RECOVERED);
		assert_int_equal(judge(a, &other, FDW_STATE_OK, &troughs, 3 * MIN_NS + 2, NULL),
				 ALERT_LEAK);
		assert_int_equal(judge(a, &other, FDW_STATE_LEAKING, &ok, 3 * MIN_NS + 3, NULL),
				 ALERT_RECOVERED);
	}
	/* After 5 min it goes out again, carrying the count of what was held back. */
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 6 * MIN_NS, &al), ALERT_LEAK);
	assert_int_equal(al->suppressed, 2);
	assert_int_equal(judge(a, &subj, FDW_STATE_LEAKING, &ok, 7 * MIN_NS, &al), ALERT_RECOVERED);
	assert_int_equal(al->suppressed, 0);
	assert_int_equal(alerts_sent(a), 9);
	assert_int_equal(alerts_suppressed(a), 2);
	alerts_free(a);
}

static void test_burst_and_exhausted(void **state)
{
	struct alerts *a = new_alerts(5 * MIN_NS, 1, 16);
	struct alert_subject subj = subject(9);
	struct detect_verdict leak = verdict(FDW_STATE_LEAKING), crit = verdict(FDW_STATE_CRITICAL),
			      ex = verdict(FDW_STATE_EXHAUSTED);
	const struct alert *al;

	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 0, NULL), ALERT_LEAK);
	/* Burst 1: the critical within the window is held back ... */
	assert_int_equal(judge(a, &subj, FDW_STATE_LEAKING, &crit, 10 * NSEC_PER_SEC, NULL), NONE);
	/* ... never the first exhausted, */
	assert_int_equal(judge(a, &subj, FDW_STATE_CRITICAL, &ex, 20 * NSEC_PER_SEC, &al),
			 ALERT_EXHAUSTED);
	assert_int_equal(al->suppressed, 1);
	/* but a second one soon after is. */
	assert_int_equal(judge(a, &subj, FDW_STATE_EXHAUSTED, &crit, 30 * NSEC_PER_SEC, NULL),
			 NONE);
	assert_int_equal(judge(a, &subj, FDW_STATE_CRITICAL, &ex, 40 * NSEC_PER_SEC, NULL), NONE);
	assert_int_equal(alerts_suppressed(a), 2);
	/* A new window: critical goes out. */
	assert_int_equal(judge(a, &subj, FDW_STATE_LEAKING, &crit, 6 * MIN_NS, &al),
			 ALERT_CRITICAL);
	assert_int_equal(al->suppressed, 1);
	alerts_free(a);
}

static void test_pid_reuse_and_forget(void **state)
{
	struct alerts *a = new_alerts(5 * MIN_NS, 3, 16);
	struct alert_subject subj = subject(11);
	struct detect_verdict leak = verdict(FDW_STATE_LEAKING);

	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 0, NULL), ALERT_LEAK);
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, MIN_NS, NULL), NONE);
	/* Same PID, another start time: another process, no limit inherited. */
	subj.start_ticks++;
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 2 * MIN_NS, NULL), ALERT_LEAK);
	/* Forgotten: a fresh start too. */
	alerts_forget(a, 11);
	alerts_forget(a, 12345);
	assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, 3 * MIN_NS, NULL), ALERT_LEAK);
	assert_int_equal(alerts_sent(a), 3);
	alerts_free(a);
	alerts_free(NULL);
}

static void test_history(void **state)
{
	struct alerts *a = new_alerts(0, 0, 4);
	struct detect_verdict leak = verdict(FDW_STATE_LEAKING);
	struct alerts_config cfg = {.history_size = 2};
	const struct alert *v[16];
	size_t n;

	for (pid_t pid = 1; pid <= 10; pid++) {
		struct alert_subject subj = subject(pid);

		assert_int_equal(judge(a, &subj, FDW_STATE_OK, &leak, pid * NSEC_PER_SEC, NULL),
				 ALERT_LEAK);
	}
	/* Only the newest 4, oldest first. */
	n = alerts_history(a, 0, v, ELEMENTSOF(v));
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i]->seq, 7 + i);
		assert_int_equal(v[i]->pid, 7 + i);
	}
	n = alerts_history(a, 8, v, ELEMENTSOF(v));
	assert_int_equal(n, 2);
	assert_int_equal(v[0]->seq, 9);
	assert_int_equal(alerts_history(a, 10, v, ELEMENTSOF(v)), 0);
	/* Fewer asked than kept: the newest (the API asks for its configured HistorySize, which a
	 * failed resize leaves larger than what the ring holds, or smaller). */
	assert_int_equal(alerts_history(a, 0, v, 3), 3);
	assert_int_equal(v[0]->seq, 8);
	assert_int_equal(v[2]->seq, 10);
	assert_int_equal(alerts_history(a, 7, v, 1), 1);
	assert_int_equal(v[0]->seq, 10);

	/* Shrinking keeps the newest; growing keeps them all and the order. */
	alerts_set_config(a, &cfg);
	n = alerts_history(a, 0, v, ELEMENTSOF(v));
	assert_int_equal(n, 2);
	assert_int_equal(v[0]->seq, 9);
	assert_int_equal(v[1]->seq, 10);
	cfg.history_size = 8;
	alerts_set_config(a, &cfg);
	{
		struct alert_subject subj = subject(99);

		judge(a, &subj, FDW_STATE_OK, &leak, 99 * NSEC_PER_SEC, NULL);
	}
	n = alerts_history(a, 0, v, ELEMENTSOF(v));
	assert_int_equal(n, 3);
	assert_int_equal(v[0]->seq, 9);
	assert_int_equal(v[2]->seq, 11);
	assert_int_equal(v[2]->pid, 99);
	alerts_free(a);
}

/* The alert a judge makes of this subject and verdict (no rate limit, no episode before). */
static const struct alert *make_alert(struct alerts *a, const struct alert_subject *subj,
				      enum fdw_state prev, const struct detect_verdict *v)
{
	const struct alert *al;

	alerts_forget(a, subj->pid);
	assert_int_equal(alerts_judge(a, subj, prev, v, 1, 1, &al), 1);
	return al;
}

static void test_messages(void **state)
{
	struct alerts *a = new_alerts(0, 0, 16);
	struct alert_subject subj = subject(4242);
	struct detect_verdict v = verdict(FDW_STATE_CRITICAL);
	const struct alert *al;
	char small[24];

	/* The origin story. */
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message,
			    "python3[4242] leaks pipe fds: 812/1024 open, +20/s, "
			    "EMFILE in ~10 s; retry loop: +2 pipe every 0.10 s, none closed");
	assert_int_equal(alert_format_message(al, small, sizeof(small)), -ENOBUFS);
	assert_string_equal(small, "python3[4242] leaks pip");

	/* It hits the limit: the count at the failure, not the one read after it (the process
	 * may be exiting): all fd numbers below the soft limit, or all but one for pipe2(). */
	subj.fds = 710;
	subj.fail_syscall = "pipe2";
	v = verdict(FDW_STATE_EXHAUSTED);
	v.pattern = FDW_PATTERN_NONE;
	v.fail_nr = 293;
	v.fail_err = EMFILE;
	al = make_alert(a, &subj, FDW_STATE_CRITICAL, &v);
	assert_string_equal(al->message, "python3[4242] hit EMFILE in pipe2: 1023/1024 fds open");
	assert_string_equal(al->syscall, "pipe2");
	assert_int_equal(al->fds, 1023);
	subj.fail_syscall = "openat";
	al = make_alert(a, &subj, FDW_STATE_CRITICAL, &v);
	assert_string_equal(al->message, "python3[4242] hit EMFILE in openat: 1024/1024 fds open");
	subj.fds = 1030; /* the limit was lowered under it */
	al = make_alert(a, &subj, FDW_STATE_CRITICAL, &v);
	assert_int_equal(al->fds, 1030);
	subj.fds = 1024;
	subj.fail_syscall = "pipe2";
	v.pattern = FDW_PATTERN_RETRY_LOOP;
	al = make_alert(a, &subj, FDW_STATE_CRITICAL, &v);
	assert_string_equal(al->message,
			    "python3[4242] hit EMFILE in pipe2: 1024/1024 fds open; "
			    "it leaked pipe fds; retry loop: +2 pipe every 0.10 s, none closed");

	/* ENFILE, syscall unknown. */
	subj.fail_syscall = NULL;
	subj.fds = 40;
	v.pattern = FDW_PATTERN_NONE;
	v.fail_err = ENFILE;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "python3[4242] hit ENFILE: 40/1024 fds open "
					 "(the system-wide file table is full)");
	assert_string_equal(al->syscall, "");

	/* Recovered, and exited (each after a leak alert: a recovery needs an episode heard of). */
	v = verdict(FDW_STATE_LEAKING);
	make_alert(a, &subj, FDW_STATE_OK, &v);
	subj.fds = 30;
	v = verdict(FDW_STATE_OK);
	v.recovered = true;
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_LEAKING, &v, 2, 2, &al), 1);
	assert_string_equal(al->message, "python3[4242] stopped leaking: 30/1024 open");
	v = verdict(FDW_STATE_LEAKING);
	make_alert(a, &subj, FDW_STATE_OK, &v);
	v = verdict(FDW_STATE_OK);
	v.recovered = v.released = true;
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_LEAKING, &v, 2, 2, &al), 1);
	assert_string_equal(al->message, "python3[4242] released its fds: 30/1024 open");
	assert_int_equal(al->end, ALERT_END_RELEASED);
	v = verdict(FDW_STATE_LEAKING);
	make_alert(a, &subj, FDW_STATE_OK, &v);
	subj.exited = true;
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_OK, &v, 3, 3, &al), 1);
	assert_string_equal(al->message, "python3[4242] exited");
	assert_int_equal(al->type, ALERT_RECOVERED);

	/* A slow, steady leak with closes and an unlimited limit; then stepwise with hours left. */
	subj = subject(77);
	subj.comm = "java";
	subj.fds = 100;
	subj.soft_limit = UINT64_MAX;
	v = verdict(FDW_STATE_LEAKING);
	v.pattern = FDW_PATTERN_LINEAR;
	v.kinds = 1U << FDW_KIND_FILE | 1U << FDW_KIND_SOCKET;
	v.main_kind = FDW_KIND_FILE;
	v.rate = 1.0 / 60;
	v.eta_sec = -1;
	v.closed_recent = 12;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message,
			    "java[77] leaks file fds: 100 open, +1/min; steady growth, "
			    "12 closed");
	subj.soft_limit = 4096;
	subj.pid = 78;
	v.pattern = FDW_PATTERN_STEPWISE;
	v.rate = 0.33;
	v.eta_sec = 12000;
	v.closed_recent = 0;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "java[78] leaks file fds: 100/4096 open, +20/min, "
					 "EMFILE in ~3 h; in steps, none closed");

	/* Flat at / near the limit: a warning without rate or ETA, and its close. No kind known:
	 * "fds". */
	subj = subject(9);
	subj.comm = "nginx";
	subj.fds = 1024;
	v = verdict(FDW_STATE_LEAKING);
	v.pattern = FDW_PATTERN_AT_LIMIT;
	v.rate = 0;
	v.eta_sec = -1;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "nginx[9] is at its fd limit: 1024/1024 open");
	subj.pid = 10;
	subj.fds = 990;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "nginx[10] is near its fd limit: 990/1024 open");
	subj.fds = 500;
	v = verdict(FDW_STATE_OK);
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_LEAKING, &v, 2, 2, &al), 1);
	assert_string_equal(al->message, "nginx[10] is no longer near its fd limit: 500/1024 open");
	subj.fds = 1010;

	/* A leak under a GC: the rise of its troughs per cycle. */
	subj.pid = 12;
	v = verdict(FDW_STATE_LEAKING);
	v.pattern = FDW_PATTERN_RISING_TROUGHS;
	v.kinds = 1U << FDW_KIND_FILE;
	v.main_kind = FDW_KIND_FILE;
	v.rate = 20.0 / 6;
	v.eta_sec = 3599.9;
	v.per_attempt = 20;
	v.period_sec = 6;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "nginx[12] leaks file fds: 1010/1024 open, +3.3/s, EMFILE "
					 "in ~60 min; its troughs rise +20 a cycle (every 6.00 s)");
	/* A rate that prints as 1.0/s is "+1/s"; an ETA of 44.9 s is ~44 s, as FDWATCH_ETA_SEC. */
	subj.pid = 13;
	v = verdict(FDW_STATE_LEAKING);
	v.rate = 0.99996;
	v.eta_sec = 44.9;
	v.counted = false; /* closes not counted: not claimed */
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(al->message, "nginx[13] leaks pipe fds: 1010/1024 open, +1/s, EMFILE "
					 "in ~44 s; retry loop: +2 pipe every 0.10 s");
	subj.pid = 11;
	v = verdict(FDW_STATE_LEAKING);
	v.pattern = FDW_PATTERN_LINEAR;
	v.kinds = 0;
	v.rate = 150;
	v.eta_sec = 0.4;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	assert_string_equal(
	    al->message,
	    "nginx[11] leaks fds: 1010/1024 open, +150/s, EMFILE in ~0 s; steady growth, "
	    "none closed");
	assert_int_equal(alert_format_message(NULL, small, sizeof(small)), -EINVAL);
	alerts_free(a);
}

/* The value of key in fields, or NULL. */
static const char *field(char **fields, int n, const char *key)
{
	size_t len = strlen(key);

	for (int i = 0; i < n; i++)
		if (strncmp(fields[i], key, len) == 0 && fields[i][len] == '=')
			return fields[i] + len + 1;
	return NULL;
}

static void test_fields(void **state)
{
	static const char *const want[][2] = {
	    {"MESSAGE", "python3[4242] leaks pipe fds: 812/1024 open, +20/s, EMFILE in ~10 s; "
			"retry loop: +2 pipe every 0.10 s, none closed"},
	    {"MESSAGE_ID", "eae34490cdbe4b8ab8fb1f33501a153f"},
	    {"PRIORITY", "2"},
	    {"SYSLOG_IDENTIFIER", "fdwatchd"},
	    {"OBJECT_PID", "4242"},
	    {"FDWATCH_TYPE", "critical"},
	    {"FDWATCH_STATE", "critical"},
	    {"FDWATCH_FDS", "812"},
	    {"FDWATCH_LIMIT", "1024"},
	    {"FDWATCH_HARD_LIMIT", "524288"},
	    {"FDWATCH_RATE", "20.0"},
	    {"FDWATCH_ETA_SEC", "10"},
	    {"FDWATCH_KIND", "pipe"},
	    {"FDWATCH_KINDS", "pipe"},
	    {"FDWATCH_PATTERN", "retry-loop"},
	    {"FDWATCH_PERIOD_SEC", "0.1"},
	    {"FDWATCH_PER_ATTEMPT", "2"},
	    {"FDWATCH_CONFIDENCE", "0.93"},
	    {"FDWATCH_COMM", "python3"},
	    {"FDWATCH_UNIT", "backend.service"},
	    {"FDWATCH_UID", "1000"},
	    {"FDWATCH_SUPPRESSED", "0"},
	};
	struct alerts *a = new_alerts(0, 0, 16);
	struct alert_subject subj = subject(4242);
	struct detect_verdict v = verdict(FDW_STATE_CRITICAL);
	char *fields[ALERT_FIELDS_MAX];
	const struct alert *al;
	int n;

	al = make_alert(a, &subj, FDW_STATE_LEAKING, &v);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_int_equal(n, ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		const char *got = field(fields, n, want[i][0]);

		if (!got || !streq(got, want[i][1]))
			fail_msg("%s=%s, want %s", want[i][0], got ?: "(none)", want[i][1]);
	}
	/* MESSAGE first: a caller that must cut keeps what matters. */
	assert_true(strncmp(fields[0], "MESSAGE=", 8) == 0);
	alert_fields_free(fields, n);
	/* Too few slots: the first ones. */
	n = alert_to_fields(al, fields, 3);
	assert_int_equal(n, 3);
	assert_non_null(field(fields, n, "PRIORITY"));
	alert_fields_free(fields, n);

	/* Exhausted: the syscall; no ETA, unit, period or kinds when there are none. */
	subj.fail_syscall = "accept4";
	subj.unit = NULL;
	subj.soft_limit = UINT64_MAX;
	v = verdict(FDW_STATE_EXHAUSTED);
	v.pattern = FDW_PATTERN_NONE;
	v.kinds = 0;
	v.eta_sec = -1;
	v.rate = 1.0 / 60;
	v.fail_err = EMFILE;
	v.fails = 3;
	al = make_alert(a, &subj, FDW_STATE_CRITICAL, &v);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_true(n > 0);
	assert_string_equal(field(fields, n, "MESSAGE_ID"), "906349ad43f240c0a2f26458a5af8389");
	assert_string_equal(field(fields, n, "PRIORITY"), "1");
	assert_string_equal(field(fields, n, "FDWATCH_SYSCALL"), "accept4");
	assert_string_equal(field(fields, n, "FDWATCH_ERRNO"), "EMFILE");
	assert_string_equal(field(fields, n, "FDWATCH_FAILS"), "3");
	assert_string_equal(field(fields, n, "FDWATCH_LIMIT"), "infinity");
	assert_string_equal(field(fields, n, "FDWATCH_RATE"), "0.0167");
	assert_string_equal(field(fields, n, "FDWATCH_PATTERN"), "none");
	assert_null(field(fields, n, "FDWATCH_ETA_SEC"));
	assert_null(field(fields, n, "FDWATCH_UNIT"));
	assert_null(field(fields, n, "FDWATCH_KIND"));
	assert_null(field(fields, n, "FDWATCH_PERIOD_SEC"));
	assert_null(field(fields, n, "FDWATCH_PER_ATTEMPT"));
	alert_fields_free(fields, n);

	/* Only exhausted alerts name a syscall. */
	subj = subject(5);
	v = verdict(FDW_STATE_LEAKING);
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_null(field(fields, n, "FDWATCH_SYSCALL"));
	assert_string_equal(field(fields, n, "PRIORITY"), "4");
	assert_string_equal(field(fields, n, "FDWATCH_TYPE"), "leak");
	assert_null(field(fields, n, "FDWATCH_END"));
	alert_fields_free(fields, n);

	/* Closing lines say how the episode ended and the state truthfully: an exit after
	 * EMFILE is "exited", not "exhausted". */
	subj.exited = true;
	v = verdict(FDW_STATE_EXHAUSTED);
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_LEAKING, &v, 9, 9, &al), 1);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_string_equal(field(fields, n, "FDWATCH_TYPE"), "recovered");
	assert_string_equal(field(fields, n, "FDWATCH_STATE"), "exited");
	assert_string_equal(field(fields, n, "FDWATCH_END"), "exited");
	assert_string_equal(field(fields, n, "PRIORITY"), "5");
	alert_fields_free(fields, n);
	subj = subject(6);
	v = verdict(FDW_STATE_LEAKING);
	make_alert(a, &subj, FDW_STATE_OK, &v);
	v = verdict(FDW_STATE_GROWING);
	assert_int_equal(alerts_judge(a, &subj, FDW_STATE_LEAKING, &v, 10, 10, &al), 1);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_string_equal(field(fields, n, "FDWATCH_STATE"), "growing");
	assert_string_equal(field(fields, n, "FDWATCH_END"), "stopped");
	alert_fields_free(fields, n);
	/* The rise of a leak under a GC. */
	subj = subject(7);
	v = verdict(FDW_STATE_LEAKING);
	v.pattern = FDW_PATTERN_RISING_TROUGHS;
	v.per_attempt = 20;
	v.period_sec = 6;
	al = make_alert(a, &subj, FDW_STATE_OK, &v);
	n = alert_to_fields(al, fields, ELEMENTSOF(fields));
	assert_string_equal(field(fields, n, "FDWATCH_PATTERN"), "rising-troughs");
	assert_string_equal(field(fields, n, "FDWATCH_RISE_PER_CYCLE"), "20");
	assert_string_equal(field(fields, n, "FDWATCH_PERIOD_SEC"), "6");
	assert_null(field(fields, n, "FDWATCH_PER_ATTEMPT"));
	alert_fields_free(fields, n);
	alerts_free(a);
}

/*
 * Processes of one unit and comm share a rate limit: 21 database backends flat
 * near their limit get one warning (and one closing line), 12 children of a
 * leaking shell at most Burst alerts; other groups are not affected.
 */
static void test_group_rate_limit(void **state)
{
	struct alerts *a = new_alerts(5 * MIN_NS, 3, 64);
	struct detect_verdict flat = verdict(FDW_STATE_LEAKING), leak = verdict(FDW_STATE_LEAKING),
			      ok = verdict(FDW_STATE_OK);
	unsigned sent = 0, closed = 0;

	flat.pattern = FDW_PATTERN_AT_LIMIT;
	flat.rate = 0;
	flat.eta_sec = -1;
	for (pid_t pid = 100; pid < 121; pid++) {
		struct alert_subject subj = subject(pid);

		subj.comm = "postgres";
		subj.unit = "postgresql.service";
		sent +=
		    judge(a, &subj, FDW_STATE_OK, &flat, pid * NSEC_PER_SEC, NULL) == ALERT_LEAK;
	}
	assert_int_equal(sent, 1);
	for (pid_t pid = 100; pid < 121; pid++) {
		struct alert_subject subj = subject(pid);

		subj.comm = "postgres";
		subj.unit = "postgresql.service";
		closed += judge(a, &subj, FDW_STATE_LEAKING, &ok, MIN_NS + pid * NSEC_PER_SEC,
				NULL) == ALERT_RECOVERED;
	}
	assert_int_equal(closed, 1);
	/* The same comm in another unit is another group. */
	{
		struct alert_subject subj = subject(200);

		subj.comm = "postgres";
		subj.unit = "other.service";
		assert_int_equal(judge(a, &subj, FDW_STATE_OK, &flat, 2 * MIN_NS, NULL),
				 ALERT_LEAK);
	}
	sent = 0;
	for (pid_t pid = 300; pid < 312; pid++) {
		struct alert_subject subj = subject(pid);

		subj.comm = "sh";
		subj.unit = NULL;
		sent += judge(a, &subj, FDW_STATE_OK, &leak, 2 * MIN_NS + pid, NULL) == ALERT_LEAK;
	}
	assert_int_equal(sent, 3);
	/* Children of a shell, each flat near its limit with the shell's fds: one alert, saying
	 * they are inherited; a child whose fds are its own is not one of them. */
	sent = 0;
	for (pid_t pid = 500; pid < 512; pid++) {
		struct alert_subject subj = subject(pid);
		const struct alert *al;
		char *fields[ALERT_FIELDS_MAX];
		int n;

		subj.comm = "sleep";
		subj.unit = NULL;
		subj.fds = 154;
		subj.soft_limit = 160;
		subj.ppid = 499;
		subj.parent_comm = "bash";
		subj.inherited_fds = 150;
		if (judge(a, &subj, FDW_STATE_OK, &flat, 3 * MIN_NS + pid, &al) == NONE)
			continue;
		sent++;
		assert_string_equal(al->message,
				    "sleep[500] is near its fd limit: 154/160 open, 150 "
				    "inherited from bash[499]");
		n = alert_to_fields(al, fields, ELEMENTSOF(fields));
		assert_string_equal(field(fields, n, "FDWATCH_INHERITED_FDS"), "150");
		assert_string_equal(field(fields, n, "FDWATCH_PPID"), "499");
		alert_fields_free(fields, n);
	}
	assert_int_equal(sent, 1);
	{
		struct alert_subject subj = subject(520);
		const struct alert *al;

		subj.comm = "sleep";
		subj.unit = NULL;
		subj.fds = 154;
		subj.soft_limit = 160;
		subj.ppid = 499;
		subj.inherited_fds = 20;
		assert_int_equal(judge(a, &subj, FDW_STATE_OK, &flat, 3 * MIN_NS, &al), ALERT_LEAK);
		assert_string_equal(al->message, "sleep[520] is near its fd limit: 154/160 open");
		assert_int_equal(al->inherited_fds, 0);
	}
	/* After the interval the group may speak again. */
	{
		struct alert_subject subj = subject(400);

		subj.comm = "postgres";
		subj.unit = "postgresql.service";
		assert_int_equal(judge(a, &subj, FDW_STATE_OK, &flat, 7 * MIN_NS, NULL),
				 ALERT_LEAK);
	}
	alerts_free(a);
}

/* Whether key occurs in the catalog entry [entry, next). */
static bool entry_has(const char *entry, const char *next, const char *key)
{
	const char *p = strstr(entry, key);

	return p && (!next || p < next);
}

/* Every MESSAGE_ID has its entry in systemd/fdwatch.catalog, in systemd's catalog format. */
static void test_catalog(void **state)
{
	static const char *const keys[] = {
	    "\nSubject: ",    "\nDefined-By: fdwatch\n",
	    "\nSupport: ",    "\nDocumentation: man:fdwatchd(8)\n",
	    "@FDWATCH_COMM@", "@OBJECT_PID@",
	};
	_cleanup_free_ char *text = NULL;
	const char *slash = strrchr(__FILE__, '/');
	char path[512];

	snprintf(path, sizeof(path), "%.*s../systemd/fdwatch.catalog",
		 slash ? (int)(slash - __FILE__ + 1) : 0, __FILE__);
	if (read_file_full(path, 1 << 20, &text, NULL) < 0)
		fail_msg("cannot read %s", path);
	for (int t = 0; t < ALERT_TYPE_MAX; t++) {
		const char *entry, *next;
		char head[64];

		snprintf(head, sizeof(head), "\n-- %s\n", alert_type_message_id(t));
		entry = strstr(text, head);
		if (!entry)
			fail_msg("no catalog entry for %s", alert_type_to_string(t));
		next = strstr(entry + 1, "\n-- ");
		for (size_t k = 0; k < ELEMENTSOF(keys); k++)
			if (!entry_has(entry, next, keys[k]))
				fail_msg("catalog entry of %s lacks \"%s\"",
					 alert_type_to_string(t), keys[k] + (keys[k][0] == '\n'));
	}
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_transitions),
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_burst_and_exhausted),
	    cmocka_unit_test(test_pid_reuse_and_forget),
	    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_group_rate_limit),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_catalog),
	};

	return cmocka_run_group_tests_name("alerts", tests, NULL, NULL);
}
