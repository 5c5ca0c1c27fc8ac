// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <uthash.h>

#include "proc.h"
#include "syscalls.h"
#include "util.h"
#include "watch.h"

#define CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))

/* A fork not yet looked at: most processes of a fork storm exit before the next tick. */
struct pending {
	pid_t pid;
	uint64_t start_ticks;
	UT_hash_handle hh;
};

struct watch {
	struct proc_table *procs;
	struct alerts *alerts;
	const struct fdw_config *config;
	struct watch_ops ops;
	struct pending *pending;

	uint64_t armed_since_ns; /* 0: not counting */
	uint64_t last_suspect_ns;
	uint64_t next_pass_ns; /* when the next count pass is due */
	size_t n_suspects;
	bool critical; /* a suspect the armed-share bound does not hold back */

	/* Armed time per bucket of armed_window_ns / WATCH_SHARE_BUCKETS. */
	uint64_t share_ns[WATCH_SHARE_BUCKETS];
	uint64_t share_bucket[WATCH_SHARE_BUCKETS]; /* the absolute bucket each slot holds */
	uint64_t share_accounted_ns;		    /* armed time is booked up to here */

	struct watch_stats stats;
};

enum step {
	STEP_POLL,   /* the count only */
	STEP_SWEEP,  /* the rolling sweep: count, limits, identity */
	STEP_COUNTS, /* the probe's counters changed: reconcile and judge */
};

static uint64_t ticks_of_boottime(uint64_t ns)
{
	return ns / (NSEC_PER_SEC / proc_ticks_per_sec());
}

int watch_new(struct proc_table *t, struct alerts *a, const struct fdw_config *c,
	      const struct watch_ops *ops, uint64_t now_ns, struct watch **ret)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->procs = t;
	w->alerts = a;
	w->config = c;
	w->ops = *ops;
	w->share_accounted_ns = now_ns;
	*ret = w;
	return 0;
}

void watch_free(struct watch *w)
{
	struct pending *p, *tmp;

	if (!w)
		return;
	HASH_ITER(hh, w->pending, p, tmp)
	{
		HASH_DEL(w->pending, p);
		free(p);
	}
	free(w);
}

void watch_set_config(struct watch *w, const struct fdw_config *c)
{
	w->config = c;
}

const struct watch_stats *watch_get_stats(const struct watch *w)
{
	return &w->stats;
}

/* --- the armed share --- */

static uint64_t share_bucket_ns(const struct watch *w)
{
	return MAX(w->config->armed_window_ns / WATCH_SHARE_BUCKETS, 1ULL);
}

/* Book armed time [from, to) into the buckets. */
static void share_add(struct watch *w, uint64_t from, uint64_t to)
{
	uint64_t size = share_bucket_ns(w);

	while (from < to) {
		uint64_t b = from / size, end = MIN(to, (b + 1) * size);
		unsigned slot = b % WATCH_SHARE_BUCKETS;

		if (w->share_bucket[slot] != b) {
			w->share_bucket[slot] = b;
			w->share_ns[slot] = 0;
		}
		w->share_ns[slot] += end - from;
		from = end;
	}
}

static void share_account(struct watch *w, uint64_t now_ns)
{
	if (w->armed_since_ns && now_ns > w->share_accounted_ns)
		share_add(w, MAX(w->share_accounted_ns, w->armed_since_ns), now_ns);
	w->share_accounted_ns = MAX(w->share_accounted_ns, now_ns);
}

double watch_armed_share(const struct watch *w, uint64_t now_ns)
{
	uint64_t size = share_bucket_ns(w), now_b = now_ns / size, sum = 0;

	for (unsigned i = 0; i < WATCH_SHARE_BUCKETS; i++)
		if (w->share_ns[i] && w->share_bucket[i] + WATCH_SHARE_BUCKETS > now_b &&
		    w->share_bucket[i] <= now_b)
			sum += w->share_ns[i];
	/* The armed time not booked yet. */
	if (w->armed_since_ns && now_ns > w->share_accounted_ns)
		sum += now_ns - MAX(w->share_accounted_ns, w->armed_since_ns);
	return MIN((double)sum / (double)(size * WATCH_SHARE_BUCKETS), 1.0);
}

void watch_set_armed(struct watch *w, bool armed, uint64_t now_ns)
{
	share_account(w, now_ns);
	if (armed && !w->armed_since_ns) {
		w->armed_since_ns = now_ns;
		w->stats.arms++;
	} else if (!armed) {
		w->armed_since_ns = 0;
	}
}

uint64_t watch_armed_since(const struct watch *w)
{
	return w->armed_since_ns;
}

/* Whether the probe counted without a break since since_ns. */
static bool counted_since(const struct watch *w, uint64_t since_ns)
{
	return w->armed_since_ns && w->armed_since_ns <= since_ns;
}

/* --- one process --- */

static void watch_judge(struct watch *w, struct proc_entry *e, uint64_t now_ns)
{
	char top_target[192] = "", top_site[512] = "";
	const struct alert *a = NULL;
	struct alert_subject subj = {
	    .pid = e->pid,
	    .start_ticks = e->start_ticks,
	    .uid = e->uid,
	    .comm = e->comm,
	    .unit = e->unit,
	    .cmdline = e->cmdline,
	    .fds = e->fds,
	    .soft_limit = e->soft_limit,
	    .hard_limit = e->hard_limit,
	    .exited = e->exited,
	    .fail_syscall = fdw_syscall_name(e->verdict.fail_nr),
	    .ppid = e->ppid,
	    .inherited_fds = e->inherited_fds,
	    .top_target = top_target,
	    .top_site = top_site,
	    .container = e->container,
	};
	const struct proc_entry *parent = proc_table_get(w->procs, e->ppid);
	int r;

	if (parent)
		subj.parent_comm = parent->comm;
	if (w->ops.describe)
		w->ops.describe(w->ops.userdata, e, now_ns, top_target, sizeof(top_target),
				top_site, sizeof(top_site));
	r = alerts_judge(w->alerts, &subj, e->prev_state, &e->verdict, now_realtime_ns(), now_ns,
			 &a);
	if (r > 0 && a && w->ops.alert)
		w->ops.alert(w->ops.userdata, a);
}

/* The process is gone: say so if it mattered, and drop it. */
static void watch_retire(struct watch *w, struct proc_entry *e, uint64_t now_ns)
{
	e->exited = true;
	if (!e->ignored && e->verdict.state >= FDW_STATE_LEAKING)
		watch_judge(w, e, now_ns);
	alerts_forget(w->alerts, e->pid);
	if (e->has_probe && w->ops.forget)
		w->ops.forget(w->ops.userdata, e->pid, e->last_counts.start_boottime);
	proc_table_remove(w->procs, e);
	w->stats.exits++;
}

/* A new entry joins the schedule: its first read after a tick, its sweep spread over RescanSec. */
static void watch_adopt(struct watch *w, struct proc_entry *e, uint64_t now_ns)
{
	const struct fdw_config *c = w->config;

	e->trough_fds = e->peak_fds = e->fds;
	e->peak_ns = now_ns;
	e->poll_interval_ns = c->tick_ns;
	e->next_poll_ns = now_ns + c->tick_ns;
	/* Spread by PID, so a table filled at once is not swept at once. */
	e->next_sweep_ns = now_ns + c->rescan_ns / 997 * (uint64_t)(e->pid % 997) + 1;
}

/* Feed the detector one sample of e and judge the verdict. 0 or -ENOMEM. */
static int watch_assess(struct watch *w, struct proc_entry *e, const struct detect_config *dc,
			uint64_t now_ns)
{
	struct detect_sample s;
	int r;

	if (!e->detector) {
		r = detector_new(&e->detector);
		if (r < 0)
			return r;
	}
	proc_entry_push_history(e, now_ns);
	proc_entry_to_sample(e, now_ns, &s);
	s.counted = counted_since(w, e->last_sample_ns ?: e->first_seen_ns);
	e->last_sample_ns = now_ns;
	e->prev_state = e->verdict.state;
	r = detector_feed(e->detector, dc, &s, &e->verdict);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	if (w->ops.attribute) {
		r = w->ops.attribute(w->ops.userdata, e, now_ns);
		if (r < 0)
			return r;
	}
	if (e->verdict.state != e->prev_state || e->verdict.recovered || e->exited)
		watch_judge(w, e, now_ns);
	return 0;
}

static bool entry_critical(const struct proc_entry *e)
{
	return (e->suspect & (WATCH_SUSPECT_NEAR_LIMIT | WATCH_SUSPECT_TRACED)) ||
	       e->verdict.state >= FDW_STATE_CRITICAL;
}

static bool near_limit(const struct proc_entry *e, const struct detect_config *dc)
{
	return detect_near_limit(dc, e->fds, e->soft_limit);
}

static void watch_suspicion(struct watch *w, struct proc_entry *e, const struct detect_config *dc,
			    uint64_t now_ns)
{
	uint64_t hold = MAX(w->config->arm_cooldown_ns, 2 * w->config->tick_ns);
	unsigned why = 0;

	/* A client's trace names the process explicitly: it holds even against Ignore=. */
	if (e->ignored) {
		e->suspect = e->traced_until_ns > now_ns ? WATCH_SUSPECT_TRACED : 0;
		return;
	}
	e->trough_fds = MIN(e->trough_fds, e->fds);
	if (e->fds > e->peak_fds) {
		e->peak_fds = e->fds;
		e->peak_ns = now_ns;
	}
	if (e->fds >= e->trough_fds + dc->min_growth) {
		if (now_ns - e->peak_ns < hold)
			why |= WATCH_SUSPECT_GROWTH;
		else {
			/* Grown, then flat for a cool-down (a start-up, a pool filled): growth
			 * from here on is what counts. */
			e->trough_fds = e->peak_fds = e->fds;
			e->peak_ns = now_ns;
		}
	}
	if (near_limit(e, dc))
		why |= WATCH_SUSPECT_NEAR_LIMIT;
	if (e->verdict.state > FDW_STATE_OK)
		why |= WATCH_SUSPECT_STATE;
	if (e->traced_until_ns > now_ns)
		why |= WATCH_SUSPECT_TRACED;
	e->suspect = why;
}

/* The longest interval between two reads of a flat count of e. */
static uint64_t watch_quiet_cap(const struct watch *w, const struct proc_entry *e)
{
	const struct fdw_config *c = w->config;
	double room = 1.0, stretch, per_sec;

	/* With half of the limit in use or more, less time between reads, down to a tick. */
	if (fd_limit_is_finite(e->soft_limit))
		room = CLAMP(2.0 * (1.0 - (double)e->fds / (double)e->soft_limit), 0.0, 1.0);
	per_sec = (double)proc_table_size(w->procs) * 1e9 / (double)c->poll_ns;
	stretch = MAX(per_sec / WATCH_POLLS_PER_SEC, 1.0);
	return (uint64_t)((double)c->poll_ns * room * stretch);
}

static void watch_schedule(struct watch *w, struct proc_entry *e, bool moved, uint64_t now_ns)
{
	uint64_t tick = w->config->tick_ns;

	if (moved || e->suspect)
		e->poll_interval_ns = tick;
	else
		e->poll_interval_ns = MIN(2 * e->poll_interval_ns, watch_quiet_cap(w, e));
	e->poll_interval_ns = MAX(e->poll_interval_ns, tick);
	e->next_poll_ns = now_ns + e->poll_interval_ns;
}

/*
 * Read e's count (or reconcile it), judge it if it moved, re-evaluate
 * suspicion, schedule the next read. 0, -ENOENT when e was retired, -ENOMEM.
 */
static int watch_step(struct watch *w, struct proc_entry *e, enum step how, uint64_t now_ns)
{
	const struct fdw_rule *rule;
	struct detect_config dc;
	uint64_t before = e->fds;
	bool counted = counted_since(w, e->reconciled_ns), moved;
	int r;

	if (e->exited)
		goto gone;
	if (e->needs_identity) {
		r = proc_table_refresh_identity(w->procs, e);
		if (r == -ENOMEM)
			return r;
		/* Gone, or its PID taken by another process. */
		if (r == -ENOENT || r == -ESRCH)
			goto gone;
		e->needs_identity = false;
	}
	if (how != STEP_POLL || e->needs_reconcile) {
		r = proc_table_reconcile(w->procs, e, now_ns, counted);
		w->stats.reconciliations++;
		e->next_sweep_ns = now_ns + w->config->rescan_ns;
	} else {
		r = proc_table_poll(w->procs, e, now_ns, counted);
		w->stats.polls++;
	}
	if (r == -ENOENT || r == -ESRCH)
		goto gone;
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	moved = e->fds != before || how == STEP_COUNTS;

	rule = config_match(w->config, e->comm, e->unit, e->uid, &dc);
	e->ignored = rule && rule->ignore;
	/* Judged when it moved, while its state is raised, and when it sits near its limit
	 * (a process first seen there never moves). */
	if (!e->ignored && (moved || e->verdict.state != FDW_STATE_OK || near_limit(e, &dc))) {
		r = watch_assess(w, e, &dc, now_ns);
		if (r < 0)
			return r;
	}
	watch_suspicion(w, e, &dc, now_ns);
	watch_schedule(w, e, moved, now_ns);
	return 0;
gone:
	watch_retire(w, e, now_ns);
	return -ENOENT;
}

/* --- lifecycle --- */

int watch_fork(struct watch *w, pid_t pid, uint64_t start_boottime, uint64_t now_ns)
{
	uint64_t start = ticks_of_boottime(start_boottime);
	struct proc_entry *e = proc_table_get(w->procs, pid);
	struct pending *p = NULL;

	w->stats.forks++;
	/* Its PID is new: whoever had it before is gone, even if its exit record was lost. */
	if (e && e->start_ticks != start)
		watch_retire(w, e, now_ns);
	else if (e)
		return 0;
	HASH_FIND_INT(w->pending, &pid, p);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->pid = pid;
		HASH_ADD_INT(w->pending, pid, p);
	}
	p->start_ticks = start;
	return 0;
}

void watch_exec(struct watch *w, pid_t pid)
{
	struct proc_entry *e = proc_table_get(w->procs, pid);

	if (e) {
		e->needs_reconcile = e->needs_identity = true;
		e->next_poll_ns = 0;
	}
}

void watch_exit(struct watch *w, pid_t pid, uint64_t start_boottime, uint64_t now_ns)
{
	uint64_t start = ticks_of_boottime(start_boottime);
	struct proc_entry *e;
	struct pending *p = NULL;

	HASH_FIND_INT(w->pending, &pid, p);
	if (p && p->start_ticks == start) {
		HASH_DEL(w->pending, p);
		free(p);
		w->stats.forks_short++;
		return;
	}
	e = proc_table_get(w->procs, pid);
	if (e && e->start_ticks == start)
		watch_retire(w, e, now_ns);
}

int watch_counts(struct watch *w, pid_t tgid, const struct fdw_counts *c, bool urgent,
		 uint64_t now_ns)
{
	struct proc_entry *e = proc_table_get(w->procs, tgid);
	int r;

	/* PID reuse: the old process gets its closing words before the new one is counted. */
	if (e && e->start_ticks != ticks_of_boottime(c->start_boottime))
		watch_retire(w, e, now_ns);
	r = proc_table_apply_counts(w->procs, tgid, c, now_ns, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		/* Gone before we could look at it: its counters are of no use. */
		if ((c->flags & FDW_F_EXITED || r == -ENOENT) && w->ops.forget)
			w->ops.forget(w->ops.userdata, tgid, c->start_boottime);
		return 0;
	}
	if (!e->next_sweep_ns)
		watch_adopt(w, e, now_ns);
	if (r > 0 || urgent || e->needs_reconcile || e->exited) {
		r = watch_step(w, e, STEP_COUNTS, now_ns);
		if (r == -ENOMEM)
			return r;
	}
	return 0;
}

void watch_pass_seen(struct watch *w, const struct fdw_task_count *c, uint64_t now_ns)
{
	struct proc_entry *e = proc_table_get(w->procs, (pid_t)c->tgid);

	if (!e || e->exited || !e->next_sweep_ns)
		return;
	if (e->start_ticks != ticks_of_boottime(c->start_boottime)) {
		e->needs_identity = true;
		e->next_poll_ns = 0;
		return;
	}
	/* A process may rename itself (prctl(PR_SET_NAME)) without an exec. */
	memcpy(e->comm, c->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = 0;
	if (c->fds != e->fds || c->rlim_cur != e->soft_limit || c->rlim_max != e->hard_limit) {
		e->soft_limit = c->rlim_cur;
		e->hard_limit = c->rlim_max;
		e->next_poll_ns = 0;
		return;
	}
	w->stats.passes_seen++;
	/* A suspect or a process that moved keeps its per-tick reads. */
	if (e->suspect || e->needs_reconcile || e->needs_identity ||
	    e->poll_interval_ns <= w->config->tick_ns)
		return;
	e->next_sweep_ns = now_ns + w->config->rescan_ns;
	e->next_poll_ns = e->next_sweep_ns;
}

bool watch_pass_due(struct watch *w, uint64_t now_ns)
{
	uint64_t tick = w->config->tick_ns;
	double need = (double)proc_table_size(w->procs) / WATCH_PASS_PROCS_PER_SEC * 1e9;

	/* Half a tick early is on time, as for the reads: ticks do not start to the microsecond. */
	if (now_ns + tick / 2 < w->next_pass_ns)
		return false;
	w->next_pass_ns = now_ns + MAX(tick, (uint64_t)need);
	return true;
}

void watch_pass_stop(struct watch *w)
{
	for (struct proc_entry *e = proc_table_first(w->procs); e; e = proc_table_next(e))
		e->next_poll_ns = 0;
}

int watch_listed(struct watch *w, const pid_t *pids, size_t n, uint64_t now_ns)
{
	pid_t self = getpid();
	struct proc_entry *e;
	struct pending *p;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (pids[i] == self || proc_table_get(w->procs, pids[i]))
			continue;
		HASH_FIND_INT(w->pending, &pids[i], p);
		if (p)
			continue;
		/* Kernel threads come back -EOPNOTSUPP, gone ones -ENOENT: skipped. */
		r = proc_table_add(w->procs, pids[i], now_ns, &e);
		if (r == -ENOMEM)
			return r;
		if (r >= 0)
			watch_adopt(w, e, now_ns);
	}
	return 0;
}

/*
 * Forks that lived until this tick join the table, and are judged at once: one that is at
 * its limit already (a burst at start-up) may be gone by the next tick.
 */
static int watch_take_pending(struct watch *w, uint64_t now_ns)
{
	struct pending *p, *tmp;
	struct proc_entry *e;
	int r;

	HASH_ITER(hh, w->pending, p, tmp)
	{
		r = proc_table_add_started(w->procs, p->pid, p->start_ticks, now_ns, &e);
		if (r == -ENOMEM)
			return r;
		if (r >= 0 && !e->next_sweep_ns) {
			watch_adopt(w, e, now_ns);
			r = watch_step(w, e, STEP_POLL, now_ns);
			if (r == -ENOMEM)
				return r;
		}
		HASH_DEL(w->pending, p);
		free(p);
	}
	return 0;
}

/*
 * A process flat and ok for a whole WindowSec: its detector history (~15 KiB) tells nothing
 * its count does not, so it goes, and a new one starts when the count moves again.
 */
static void watch_drop_quiet_history(const struct watch *w, struct proc_entry *e, uint64_t now_ns)
{
	if (e->detector && !e->suspect && e->verdict.state == FDW_STATE_OK &&
	    now_ns - e->last_sample_ns > w->config->detect.window_sec * NSEC_PER_SEC) {
		detector_free(e->detector);
		e->detector = NULL;
	}
}

int watch_tick(struct watch *w, uint64_t now_ns)
{
	uint64_t half = w->config->tick_ns / 2;
	struct proc_entry *e, *next;
	int r;

	r = watch_take_pending(w, now_ns);
	if (r < 0)
		return r;
	w->n_suspects = 0;
	w->critical = false;
	for (e = proc_table_first(w->procs); e; e = next) {
		next = proc_table_next(e);
		if (!e->next_sweep_ns)
			watch_adopt(w, e, now_ns);
		if (e->exited) {
			watch_retire(w, e, now_ns);
			continue;
		}
		/* Stepped already in this tick (the probe's counters moved). */
		if (e->reconciled_ns < now_ns) {
			if (e->next_sweep_ns <= now_ns + half)
				r = watch_step(w, e, STEP_SWEEP, now_ns);
			else if (e->next_poll_ns <= now_ns + half || e->needs_reconcile ||
				 e->needs_identity)
				r = watch_step(w, e, STEP_POLL, now_ns);
			else
				r = 0;
			if (r == -ENOMEM)
				return r;
			if (r == -ENOENT)
				continue;
		}
		if (e->suspect) {
			w->n_suspects++;
			w->critical = w->critical || entry_critical(e);
		}
		watch_drop_quiet_history(w, e, now_ns);
	}
	if (w->n_suspects)
		w->last_suspect_ns = now_ns;
	share_account(w, now_ns);
	return 0;
}

bool watch_want_armed(struct watch *w, uint64_t now_ns)
{
	const struct fdw_config *c = w->config;
	bool armed = w->armed_since_ns != 0;
	double share;

	if (c->probe_mode == PROBE_MODE_ALWAYS)
		return true;
	if (c->probe_mode == PROBE_MODE_POLL)
		return false;
	if (!w->n_suspects && !(armed && now_ns - w->last_suspect_ns < c->arm_cooldown_ns))
		return false;
	if (w->critical)
		return true;
	/* Chronic slow leakers: evidence in windows, within the bound; once at the bound, rest
	 * until the share fell to half of it. */
	share = watch_armed_share(w, now_ns) * 100;
	return armed ? share < c->max_armed_percent : share < c->max_armed_percent / 2;
}

int watch_trace(struct watch *w, pid_t pid, uint64_t until_ns)
{
	struct proc_entry *e = proc_table_get(w->procs, pid);

	if (!e)
		return -ESRCH;
	e->traced_until_ns = until_ns;
	e->suspect |= WATCH_SUSPECT_TRACED;
	e->next_poll_ns = 0;
	w->n_suspects++;
	w->critical = true;
	return 0;
}

size_t watch_suspects(struct watch *w, pid_t *ret, size_t max)
{
	size_t n = 0;

	for (struct proc_entry *e = proc_table_first(w->procs); e; e = proc_table_next(e))
		if (e->suspect) {
			if (n < max)
				ret[n] = e->pid;
			n++;
		}
	return n;
}
